/*
 * Reduce-scatter by recursive halving, then allgather by recursive doubling
 * (Rabenseifner), for large buffers: each rank sends and receives about 2N
 * bytes in all instead of N log P. Each block is reduced by exactly one owner
 * and then copied, so results are bit-identical everywhere. The reductions
 * go straight into the round's result buffer (a step's send range and keep
 * range are disjoint, and a peer's allgather write to a range comes only
 * after our send from it was received), and the allgather writes straight
 * into the peers' result buffers: no scratch buffer. Non-power-of-two P folds
 * as in recursive doubling (AUTO takes the ring there instead). The round
 * header rides the reduce-scatter messages, whose pattern is a hypercube, so
 * every owner ends with the full header.
 *
 * One receive area serves every round: the partner of step j sends round
 * r+1's message only after it has our round-r allgather message, which we
 * send after reading its round-r message.
 *
 * Flag slots: 0 fold, 1..L reduce-scatter, L+1..2L allgather, 2L+1 fold result.
 * Receive area: [fold msg, only when P is not a power of two][rs step 0]...
 * [rs step L-1], each hdr + data.
 */
#include "schedule.h"

static size_t range_start(size_t count, int nblocks, int b)
{
	size_t st, len;
	pc_sched_block(count, nblocks, b, &st, &len);
	return st;
}

/* Elements in blocks [lo, hi). */
static void block_range(size_t count, int nblocks, int lo, int hi, size_t *st, size_t *len)
{
	*st = range_start(count, nblocks, lo);
	size_t end = hi >= nblocks ? count : range_start(count, nblocks, hi);
	*len = end - *st;
}

int pc_sched_build_rsag(pc_sched_builder_t *b)
{
	pc_sched_t *s = b->s;
	int P = s->P, rank = s->rank, pof2, rem, L = 0;
	pc_sched_fold_geometry(P, &pof2, &rem);
	while ((1 << L) < pof2)
		L++;
	size_t n = s->count, ds = s->dtsize;
	size_t maxblock = (n + (size_t)pof2 - 1) / (size_t)pof2;
	size_t rs_off[64];
	/* The fold message comes first (only folding ranks receive one). */
	size_t off = rem ? PC_HDR_BYTES + PC_ALIGN64(n * ds) : 0;
	for (int j = 0; j < L; j++) {
		rs_off[j] = off;
		off += PC_HDR_BYTES + PC_ALIGN64((size_t)(pof2 >> (j + 1)) * maxblock * ds);
	}
	s->rx_bytes = off;
	s->rx_areas = 1;
	s->nslots = 2 * (uint32_t)L + 2;
	uint32_t fold_res_slot = 2 * (uint32_t)L + 1;
	pc_op_t *op;

	int newrank = pc_sched_newrank(rank, rem);
	if (newrank < 0)
		return pc_sched_fold_out(b, fold_res_slot);
	/* The contribution (SRC) is only read: the first reduction writes RES,
	 * which the later steps reduce in place (send and keep ranges are disjoint). */
	int src = PC_BUF_SRC;
	if (rank < 2 * rem) {
		pc_sched_fold_in(b, PC_BUF_RES);
		src = PC_BUF_RES;
	}
	/* Reduce-scatter: halve the block interval each step, highest bit first. */
	int lo = 0, hi = pof2;
	for (int j = 0; j < L; j++) {
		int d = pof2 >> (j + 1);
		int peer = pc_sched_real_rank(newrank ^ d, rem);
		int mid = lo + (hi - lo) / 2;
		int klo = lo, khi = mid, slo = mid, shi = hi;
		if (newrank & d) {
			klo = mid;
			khi = hi;
			slo = lo;
			shi = mid;
		}
		size_t kst, klen, sst, slen;
		block_range(n, pof2, klo, khi, &kst, &klen);
		block_range(n, pof2, slo, shi, &sst, &slen);
		/* The peer keeps what we send: its receive slot for step j. */
		pc_sched_send_wait(b,
				   &(pc_op_t){.kind = PC_OP_SEND,
					      .hdr = 1,
					      .src_buf = (uint8_t)src,
					      .dst_buf = PC_BUF_RX,
					      .peer = peer,
					      .flag = (uint32_t)j + 1,
					      .off = sst,
					      .cnt = slen,
					      .dst_off = rs_off[j]},
				   (uint32_t)j + 1, peer);
		op = pc_sched_push(b, PC_OP_REDUCE);
		if (op)
			*op = (pc_op_t){.kind = PC_OP_REDUCE,
					.hdr = 1,
					.src_buf = (uint8_t)src,
					.dst_buf = PC_BUF_RES,
					.off = kst,
					.a_off = kst,
					.cnt = klen,
					.rx_off = rs_off[j]};
		src = PC_BUF_RES;
		lo = klo;
		hi = khi;
	}
	pc_sched_push(b, PC_OP_SETHDR);
	/* Allgather: double the held interval each step, lowest bit first. */
	for (int j = 0; j < L; j++) {
		int d = 1 << j;
		int base = newrank & ~(d - 1);
		int peer = pc_sched_real_rank(newrank ^ d, rem);
		size_t st, len;
		block_range(n, pof2, base, base + d, &st, &len);
		pc_sched_send_wait(b,
				   &(pc_op_t){.kind = PC_OP_SEND,
					      .hdr = 0,
					      .src_buf = PC_BUF_RES,
					      .dst_buf = PC_BUF_RES,
					      .peer = peer,
					      .flag = (uint32_t)(L + 1 + j),
					      .off = st,
					      .cnt = len,
					      .dst_off = PC_HDR_BYTES + st * ds},
				   (uint32_t)(L + 1 + j), peer);
	}
	if (rank < 2 * rem)
		pc_sched_fold_result(b, fold_res_slot);
	return 0;
}
