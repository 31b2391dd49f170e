/* Schedule construction common to every algorithm, and the selection. */
#include "schedule.h"

#include <stdlib.h>
#include <string.h>

#include "pcoll.h"

pc_op_t *pc_sched_push(pc_sched_builder_t *b, int kind)
{
	pc_sched_t *s = b->s;
	if (b->err)
		return NULL;
	if (s->nops == b->cap) {
		size_t ncap = b->cap ? 2 * b->cap : 16;
		pc_op_t *n = realloc(s->ops, ncap * sizeof(*n));
		if (!n) {
			b->err = PCOLL_ERR_NOMEM;
			return NULL;
		}
		s->ops = n;
		b->cap = ncap;
	}
	pc_op_t *op = &s->ops[s->nops++];
	memset(op, 0, sizeof(*op));
	op->kind = (uint8_t)kind;
	if (kind == PC_OP_SEND)
		s->nsends++;
	return op;
}

void pc_sched_fold_geometry(int P, int *pof2, int *rem)
{
	int p = 1;
	while (p * 2 <= P)
		p *= 2;
	*pof2 = p;
	*rem = P - p;
}

/* Ranks below 2*rem pair up: the even one folds its data into the odd one,
 * which takes part as newrank rank/2; the rest shift down by rem. */
int pc_sched_newrank(int rank, int rem)
{
	if (rank < 2 * rem)
		return (rank % 2) ? rank / 2 : -1;
	return rank - rem;
}

int pc_sched_real_rank(int newrank, int rem)
{
	return newrank < rem ? newrank * 2 + 1 : newrank + rem;
}

void pc_sched_send_wait(pc_sched_builder_t *b, const pc_op_t *send, uint32_t flag, int from)
{
	pc_op_t *op = pc_sched_push(b, PC_OP_SEND);
	if (op)
		*op = *send;
	op = pc_sched_push(b, PC_OP_WAIT);
	if (op) {
		op->flag = flag;
		op->peer = from; /* who writes it: named when a wait times out */
	}
}

/* Folding for non-power-of-two P, shared by every schedule: the even rank
 * of each of the first rem pairs hands its whole contribution to the odd one
 * (receive slot 0, at the start of the receive area) and later receives the
 * whole result, header included, in slot res_slot. */
int pc_sched_fold_out(pc_sched_builder_t *b, uint32_t res_slot)
{
	pc_sched_t *s = b->s;
	pc_sched_send_wait(b,
			   &(pc_op_t){.kind = PC_OP_SEND,
				      .hdr = 1,
				      .src_buf = PC_BUF_SRC,
				      .dst_buf = PC_BUF_RX,
				      .peer = s->rank + 1,
				      .flag = 0,
				      .cnt = s->count,
				      .dst_off = 0},
			   res_slot, s->rank + 1);
	s->res_hdr_from_peer = 1;
	return 0;
}

/* The odd rank of a pair adds its partner's contribution into dst_buf. */
void pc_sched_fold_in(pc_sched_builder_t *b, int dst_buf)
{
	pc_op_t *op = pc_sched_push(b, PC_OP_WAIT);
	if (op) {
		op->flag = 0;
		op->peer = b->s->rank - 1;
	}
	op = pc_sched_push(b, PC_OP_REDUCE);
	if (op)
		*op = (pc_op_t){.kind = PC_OP_REDUCE,
				.hdr = 1,
				.src_buf = PC_BUF_SRC,
				.dst_buf = (uint8_t)dst_buf,
				.cnt = b->s->count,
				.rx_off = 0};
}

/* ... and hands the result back, header first, into its partner's result. */
void pc_sched_fold_result(pc_sched_builder_t *b, uint32_t res_slot)
{
	pc_op_t *op = pc_sched_push(b, PC_OP_SEND);
	if (op)
		*op = (pc_op_t){.kind = PC_OP_SEND,
				.hdr = 1,
				.src_buf = PC_BUF_RES,
				.dst_buf = PC_BUF_RES,
				.peer = b->s->rank - 1,
				.flag = res_slot,
				.cnt = b->s->count,
				.dst_off = 0};
}

void pc_sched_block(size_t count, int nblocks, int b, size_t *start, size_t *len)
{
	size_t base = count / (size_t)nblocks, extra = count % (size_t)nblocks;
	size_t ub = (size_t)b;
	*start = ub * base + (ub < extra ? ub : extra);
	*len = base + (ub < extra ? 1 : 0);
}

int pc_sched_build(pc_sched_t *s, int P, int rank, size_t count, size_t dtsize, int algo,
		   size_t seg_bytes)
{
	memset(s, 0, sizeof(*s));
	if (P < 1 || rank < 0 || rank >= P || count == 0 || dtsize == 0)
		return PCOLL_ERR_INVAL;
	s->P = P;
	s->rank = rank;
	s->count = count;
	s->dtsize = dtsize;
	int pof2, rem;
	pc_sched_fold_geometry(P, &pof2, &rem);
	if (algo == PC_ALGO_AUTO)
		algo = count * dtsize <= PC_RD_MAX_BYTES ? PC_ALGO_RD
		       : pof2 == P			 ? PC_ALGO_RSAG
							 : PC_ALGO_RING;
	if ((algo == PC_ALGO_RSAG || algo == PC_ALGO_PIPE) && (count < (size_t)pof2 || pof2 == 1))
		algo = PC_ALGO_RD;
	if (algo == PC_ALGO_RING && (count < (size_t)P || P == 1))
		algo = PC_ALGO_RD;
	s->algo = algo;
	s->nseg = 1;
	pc_sched_builder_t b = {.s = s, .cap = 0, .err = 0};
	int rc = algo == PC_ALGO_RD				? pc_sched_build_rd(&b)
		 : algo == PC_ALGO_RSAG || algo == PC_ALGO_PIPE ? pc_sched_build_rsag(&b, seg_bytes)
								: pc_sched_build_ring(&b);
	if (rc == 0 && b.err)
		rc = b.err;
	if (rc)
		pc_sched_free(s);
	return rc;
}

void pc_sched_free(pc_sched_t *s)
{
	free(s->ops);
	s->ops = NULL;
	s->nops = 0;
}

const char *pc_sched_algo_name(int algo)
{
	switch (algo) {
	case PC_ALGO_RD:
		return "recursive-doubling";
	case PC_ALGO_RSAG:
		return "reduce-scatter-allgather";
	case PC_ALGO_RING:
		return "ring";
	case PC_ALGO_PIPE:
		return "pipelined-reduce-scatter-allgather";
	default:
		return "auto";
	}
}
