#include "exec.h"

#include <string.h>

#include "pcoll_internal.h"
#include "reduce.h"

void pc_hdr_merge(pc_hdr_t *a, const pc_hdr_t *b)
{
	a->contributions += b->contributions;
	a->flushed += b->flushed;
	if (b->staleness > a->staleness)
		a->staleness = b->staleness;
}

void pc_exec_start(pc_exec_t *x, const pc_sched_t *s, uint64_t round, const pc_hdr_t *mine)
{
	x->s = s;
	x->pc = 0;
	x->round = round;
	x->nsent = 0;
	x->acc = *mine;
	x->acc.round = round;
	x->mine = x->acc;
	x->split = NULL;
}

static char *bufp(const pc_exec_env_t *env, int b, size_t elem_off, size_t ds)
{
	return (char *)env->buf[b] + elem_off * ds;
}

static void reduce(const pc_exec_t *x, const pc_op_t *op, const pc_exec_env_t *env)
{
	size_t ds = x->s->dtsize;
	const char *msg = (const char *)env->buf[PC_BUF_RX] + op->rx_off;
	pc_reduce_sum(env->dt, bufp(env, op->dst_buf, op->off, ds),
		      bufp(env, op->src_buf, op->a_off, ds), msg + PC_HDR_BYTES, op->cnt);
}

void pc_exec_reduce_split(pc_exec_t *x, const pc_exec_env_t *env)
{
	if (x->split)
		reduce(x, x->split, env);
	x->split = NULL;
}

int pc_exec_run(pc_exec_t *x, const pc_exec_env_t *env)
{
	const pc_sched_t *s = x->s;
	size_t ds = s->dtsize;
	pc_exec_reduce_split(x, env); /* normally done by the caller already */
	while (x->pc < s->nops) {
		const pc_op_t *op = &s->ops[x->pc];
		switch (op->kind) {
		case PC_OP_SEND: {
			struct iovec iov[2];
			int n = 0;
			if (op->hdr) {
				pc_hdr_t *h = &env->hdr_tx[x->nsent];
				*h = x->acc;
				iov[n].iov_base = h;
				iov[n++].iov_len = PC_HDR_BYTES;
			}
			iov[n].iov_base = bufp(env, op->src_buf, op->off, ds);
			iov[n++].iov_len = op->cnt * ds;
			int rc = env->send(env->arg, op, iov, n, x->round);
			if (rc < 0)
				return rc;
			x->nsent++;
			break;
		}
		case PC_OP_WAIT:
			if (!env->flag_ready(env->arg, op->flag, x->round))
				return 0;
			break;
		case PC_OP_TXWAIT:
			if (env->tx_done(env->arg) < op->cnt)
				return 0;
			break;
		case PC_OP_REDUCE: {
			const char *msg = (const char *)env->buf[PC_BUF_RX] + op->rx_off;
			const pc_hdr_t *h = (const pc_hdr_t *)msg;
			if (h->round != x->round)
				return pc_error(PCOLL_ERR_INTERNAL,
						"round %llu: message for round %llu in slot at %zu",
						(unsigned long long)x->round,
						(unsigned long long)h->round, op->rx_off);
			if (op->hdr == PC_HDR_FORWARD)
				x->acc = x->mine;
			if (op->hdr)
				pc_hdr_merge(&x->acc, h);
			if (env->split_bytes && op->cnt * ds >= env->split_bytes) {
				x->split = op;
				x->pc++;
				return PC_EXEC_REDUCE;
			}
			reduce(x, op, env);
			break;
		}
		case PC_OP_COPY:
			memcpy(bufp(env, op->dst_buf, op->off, ds),
			       bufp(env, op->src_buf, op->a_off, ds), op->cnt * ds);
			break;
		case PC_OP_SETHDR:
			*env->res_hdr = x->acc;
			break;
		default:
			return pc_error(PCOLL_ERR_INTERNAL, "bad schedule op %d", op->kind);
		}
		x->pc++;
	}
	return 1;
}
