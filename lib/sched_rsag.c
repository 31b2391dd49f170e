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
 * Pipelined (PC_ALGO_PIPE): the last reduce-scatter step and the first
 * allgather step, which go to the same partner, are cut into nseg segments.
 * All the step's segments are posted at once; each received segment is
 * reduced as soon as it is there, while it is still in cache, and its sum is
 * sent back at once, so the transfer of one segment overlaps the reduction
 * of the one before (Gloo's and Open MPI's pipelined rings do the same). A
 * segment's message carries a header too (the round check), merged only
 * from segment 0. The argument for one receive area still holds: the
 * partner finishes round r only with our last allgather segment, which we
 * send after reading its last segment.
 *
 * Flag slots: 0 fold, 1..L reduce-scatter, L+1..2L allgather, 2L+1 fold
 * result, then PIPE's segments 1..nseg-1 of the last reduce-scatter step and
 * of the first allgather step (segment 0 keeps the step's own slot).
 * Receive area: [fold msg, only when P is not a power of two][rs step 0]...
 * [rs step L-1], each hdr + data; PIPE's last step: nseg of them.
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

/* Segment 0 keeps the step's slot; segments 1.. take slots from more. */
static uint32_t seg_slot(uint32_t first, uint32_t more, uint32_t k)
{
	return k == 0 ? first : more + k - 1;
}

/* The last reduce-scatter step and the first allgather step, segmented:
 * send [sst, +slen) to peer in nseg messages, reduce [kst, +klen) as its
 * segments arrive and send each sum straight back into peer's result. */
static void pipelined_step(pc_sched_builder_t *b, int src, int peer, size_t sst, size_t slen,
			   size_t kst, size_t klen, size_t rx_off, size_t segmsg, uint32_t rs_slot,
			   uint32_t ag_slot, uint32_t extra_slot)
{
	pc_sched_t *s = b->s;
	uint32_t nseg = s->nseg;
	size_t ds = s->dtsize;
	uint32_t rs_more = extra_slot, ag_more = extra_slot + nseg - 1;
	pc_op_t *op;
	for (uint32_t k = 0; k < nseg; k++) {
		size_t st, len;
		pc_sched_block(slen, (int)nseg, (int)k, &st, &len);
		op = pc_sched_push(b, PC_OP_SEND);
		if (op)
			*op = (pc_op_t){.kind = PC_OP_SEND,
					.hdr = 1,
					.src_buf = (uint8_t)src,
					.dst_buf = PC_BUF_RX,
					.peer = peer,
					.flag = seg_slot(rs_slot, rs_more, k),
					.off = sst + st,
					.cnt = len,
					.dst_off = rx_off + k * segmsg};
	}
	for (uint32_t k = 0; k < nseg; k++) {
		size_t st, len;
		pc_sched_block(klen, (int)nseg, (int)k, &st, &len);
		op = pc_sched_push(b, PC_OP_WAIT);
		if (op) {
			op->flag = seg_slot(rs_slot, rs_more, k);
			op->peer = peer;
		}
		op = pc_sched_push(b, PC_OP_REDUCE);
		if (op)
			*op = (pc_op_t){.kind = PC_OP_REDUCE,
					.hdr = k == 0 ? PC_HDR_MERGE : PC_HDR_NONE,
					.src_buf = (uint8_t)src,
					.dst_buf = PC_BUF_RES,
					.off = kst + st,
					.a_off = kst + st,
					.cnt = len,
					.rx_off = rx_off + k * segmsg};
		if (k == 0) /* every header has been merged: the partner's came in segment 0 */
			pc_sched_push(b, PC_OP_SETHDR);
		op = pc_sched_push(b, PC_OP_SEND);
		if (op)
			*op = (pc_op_t){.kind = PC_OP_SEND,
					.hdr = 0,
					.src_buf = PC_BUF_RES,
					.dst_buf = PC_BUF_RES,
					.peer = peer,
					.flag = seg_slot(ag_slot, ag_more, k),
					.off = kst + st,
					.cnt = len,
					.dst_off = PC_HDR_BYTES + (kst + st) * ds};
	}
	for (uint32_t k = 0; k < nseg; k++) {
		op = pc_sched_push(b, PC_OP_WAIT);
		if (op) {
			op->flag = seg_slot(ag_slot, ag_more, k);
			op->peer = peer;
		}
	}
}

int pc_sched_build_rsag(pc_sched_builder_t *b, size_t seg_bytes)
{
	pc_sched_t *s = b->s;
	int P = s->P, rank = s->rank, pof2, rem, L = 0;
	pc_sched_fold_geometry(P, &pof2, &rem);
	while ((1 << L) < pof2)
		L++;
	size_t n = s->count, ds = s->dtsize;
	size_t maxblock = (n + (size_t)pof2 - 1) / (size_t)pof2;
	size_t rs_off[64];
	/* Segments depend only on n, P and seg_bytes: the same on every rank. */
	uint32_t nseg = 1;
	if (s->algo == PC_ALGO_PIPE) {
		size_t seg = seg_bytes ? seg_bytes : PC_SEG_BYTES;
		size_t want = (maxblock * ds + seg - 1) / seg; /* >= 1: maxblock >= 1 */
		nseg = (uint32_t)(want > PC_SEG_MAX ? PC_SEG_MAX : want);
		if (nseg > maxblock / 2) /* keep every segment of both blocks non-empty */
			nseg = maxblock / 2 ? (uint32_t)(maxblock / 2) : 1;
	}
	s->nseg = nseg;
	size_t segmsg = PC_HDR_BYTES + PC_ALIGN64((maxblock + nseg - 1) / nseg * ds);
	/* The fold message comes first (only folding ranks receive one). */
	size_t off = rem ? PC_HDR_BYTES + PC_ALIGN64(n * ds) : 0;
	for (int j = 0; j < L; j++) {
		rs_off[j] = off;
		if (j == L - 1 && nseg > 1)
			off += nseg * segmsg;
		else
			off += PC_HDR_BYTES + PC_ALIGN64((size_t)(pof2 >> (j + 1)) * maxblock * ds);
	}
	s->rx_bytes = off;
	s->rx_areas = 1;
	s->nslots = 2 * (uint32_t)L + 2 + 2 * (nseg - 1);
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
		if (j == L - 1 && nseg > 1) {
			pipelined_step(b, src, peer, sst, slen, kst, klen, rs_off[j], segmsg,
				       (uint32_t)j + 1, (uint32_t)L + 1, 2 * (uint32_t)L + 2);
			break;
		}
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
	if (nseg == 1)
		pc_sched_push(b, PC_OP_SETHDR);
	/* Allgather: double the held interval each step, lowest bit first
	 * (PIPE did the first step already). */
	for (int j = nseg > 1 ? 1 : 0; j < L; j++) {
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
