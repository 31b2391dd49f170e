/*
 * Ring reduce-scatter, then ring allgather (as in Gloo's and NCCL's rings),
 * for large buffers when P is not a power of two: P-1 steps each way, every
 * rank sends and receives 2N(P-1)/P bytes, with no fold (a fold costs the
 * folding pairs an extra N each way and a receive area of N).
 *
 * The buffer is cut into P chunks. In reduce-scatter step j rank r sends
 * chunk r-j to its right neighbour and reduces chunk r-j-1 from its left one:
 * RES[chunk] = SRC[chunk] + received, so every chunk's partial sums are formed
 * in ring order and its final sum by exactly one owner (rank c-1 owns chunk c),
 * which the allgather then copies into every rank's result buffer: results
 * are bit-identical everywhere. The reductions go straight into RES (each
 * step touches a chunk no earlier step touched) and the allgather writes
 * straight into the right neighbour's RES: no scratch buffer.
 *
 * The round header: the message of step j carries the header of the chunk's
 * partial sum (ranks r, r-1, ..., r-j), so a reduction makes the accumulated
 * header this rank's own plus the received one (PC_HDR_FORWARD); after the
 * last step it covers every rank.
 *
 * One receive area serves every round: the left neighbour finishes round r
 * only once the chunk this rank owns has come round to it, which this rank
 * reduces after reading every message of round r.
 *
 * Flag slots: 0..P-2 reduce-scatter, P-1..2P-3 allgather.
 * Receive area: [rs step 0]...[rs step P-2], each hdr + one chunk.
 */
#include "schedule.h"

static int mod(int a, int P)
{
	return ((a % P) + P) % P;
}

int pc_sched_build_ring(pc_sched_builder_t *b)
{
	pc_sched_t *s = b->s;
	int P = s->P, r = s->rank;
	int right = (r + 1) % P, left = mod(r - 1, P);
	size_t n = s->count, ds = s->dtsize;
	size_t maxchunk = (n + (size_t)P - 1) / (size_t)P;
	size_t msg = PC_HDR_BYTES + PC_ALIGN64(maxchunk * ds);
	s->rx_bytes = (size_t)(P - 1) * msg;
	s->rx_areas = 1;
	s->nslots = 2 * (uint32_t)(P - 1);
	pc_op_t *op;

	for (int j = 0; j < P - 1; j++) {
		size_t sst, slen, kst, klen;
		pc_sched_block(n, P, mod(r - j, P), &sst, &slen);
		pc_sched_block(n, P, mod(r - j - 1, P), &kst, &klen);
		pc_sched_send_wait(
		    b,
		    &(pc_op_t){.kind = PC_OP_SEND,
			       .hdr = 1,
			       /* Step 0 sends our own chunk; later steps the
				* partial sum reduced in the step before. */
			       .src_buf = (uint8_t)(j == 0 ? PC_BUF_SRC : PC_BUF_RES),
			       .dst_buf = PC_BUF_RX,
			       .peer = right,
			       .flag = (uint32_t)j,
			       .off = sst,
			       .cnt = slen,
			       .dst_off = (size_t)j * msg},
		    (uint32_t)j, left);
		op = pc_sched_push(b, PC_OP_REDUCE);
		if (op)
			*op = (pc_op_t){.kind = PC_OP_REDUCE,
					.hdr = PC_HDR_FORWARD,
					.src_buf = PC_BUF_SRC,
					.dst_buf = PC_BUF_RES,
					.off = kst,
					.a_off = kst,
					.cnt = klen,
					.rx_off = (size_t)j * msg};
	}
	pc_sched_push(b, PC_OP_SETHDR);
	/* Allgather: forward the chunk we own, then each chunk as it arrives. */
	for (int j = 0; j < P - 1; j++) {
		size_t st, len;
		pc_sched_block(n, P, mod(r + 1 - j, P), &st, &len);
		pc_sched_send_wait(b,
				   &(pc_op_t){.kind = PC_OP_SEND,
					      .hdr = 0,
					      .src_buf = PC_BUF_RES,
					      .dst_buf = PC_BUF_RES,
					      .peer = right,
					      .flag = (uint32_t)(P - 1 + j),
					      .off = st,
					      .cnt = len,
					      .dst_off = PC_HDR_BYTES + st * ds},
				   (uint32_t)(P - 1 + j), left);
	}
	return 0;
}
