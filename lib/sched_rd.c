/*
 * Recursive doubling allreduce, for small buffers: log2(P') phases in which
 * partners exchange their whole partial sums. Non-power-of-two P folds the
 * first 2*rem ranks in pairs first and hands the result back at the end.
 * Every addition is a+b on one side and b+a on the other, so all ranks end
 * with bit-identical results.
 *
 * Flag slots: 0 fold, 1..L phases, L+1 fold result.
 * Receive area: [fold msg][phase 0 msg]...[phase L-1 msg], each hdr + buffer.
 */
#include "schedule.h"

int pc_sched_build_rd(pc_sched_builder_t *b)
{
	pc_sched_t *s = b->s;
	int P = s->P, rank = s->rank, pof2, rem, L = 0;
	pc_sched_fold_geometry(P, &pof2, &rem);
	while ((1 << L) < pof2)
		L++;
	/* Messages start 64-byte aligned: the header is read as a struct and the
	 * reduction streams faster from aligned data. */
	size_t n = s->count, msg = PC_HDR_BYTES + PC_ALIGN64(n * s->dtsize);
	s->nslots = (uint32_t)L + 2;
	s->rx_bytes = (size_t)(L + 1) * msg;
	s->rx_areas = 2; /* a partner may run a round ahead of our last reads */
	pc_op_t *op;

	if (P == 1) { /* nothing to receive: a copy */
		s->rx_bytes = 0;
		op = pc_sched_push(b, PC_OP_COPY);
		if (op) {
			op->dst_buf = PC_BUF_RES;
			op->src_buf = PC_BUF_SRC;
			op->cnt = n;
		}
		pc_sched_push(b, PC_OP_SETHDR);
		return 0;
	}
	int newrank = pc_sched_newrank(rank, rem);
	if (newrank < 0) /* folded away: give everything, get the result */
		return pc_sched_fold_out(b, (uint32_t)L + 1);
	/* The contribution (SRC) is only read: the first reduction writes WORK,
	 * then WORK and WORK2 alternate. */
	int cur = PC_BUF_SRC, other = PC_BUF_WORK, spare = PC_BUF_WORK2;
	int sent_from[PC_BUF_COUNT] = {0};
	if (rank < 2 * rem) {
		pc_sched_fold_in(b, PC_BUF_WORK);
		cur = PC_BUF_WORK;
		other = PC_BUF_WORK2;
		spare = PC_BUF_WORK;
	}
	for (int k = 0; k < L; k++) {
		int peer = pc_sched_real_rank(newrank ^ (1 << k), rem);
		size_t rx_off = (size_t)(k + 1) * msg;
		pc_sched_send_wait(b,
				   &(pc_op_t){.kind = PC_OP_SEND,
					      .hdr = 1,
					      .src_buf = (uint8_t)cur,
					      .dst_buf = PC_BUF_RX,
					      .peer = peer,
					      .flag = (uint32_t)k + 1,
					      .cnt = n,
					      .dst_off = rx_off},
				   (uint32_t)k + 1, peer);
		int dst = k == L - 1 ? PC_BUF_RES : other;
		if (dst == other && dst != PC_BUF_RES && sent_from[dst]) {
			/* `other` was the source of an earlier send. Sends complete in
			 * any order, so wait for all of them so far. */
			op = pc_sched_push(b, PC_OP_TXWAIT);
			if (op)
				op->cnt = s->nsends;
		}
		sent_from[cur] = 1;
		op = pc_sched_push(b, PC_OP_REDUCE);
		if (op)
			*op = (pc_op_t){.kind = PC_OP_REDUCE,
					.hdr = 1,
					.src_buf = (uint8_t)cur,
					.dst_buf = (uint8_t)dst,
					.cnt = n,
					.rx_off = rx_off};
		/* Never write SRC: after it, alternate WORK and WORK2. */
		other = cur == PC_BUF_SRC ? spare : cur;
		cur = dst;
	}
	pc_sched_push(b, PC_OP_SETHDR);
	if (rank < 2 * rem)
		pc_sched_fold_result(b, (uint32_t)L + 1);
	return 0;
}
