/*
 * check_sched.c -- unit tests of the allreduce schedules (lib/sched*.c), the
 * executor that runs them (lib/exec.c) and the activation trees
 * (lib/activation.c).
 *
 * The schedules are run by the real executor, one per simulated rank, over an
 * in-memory transport: every rank has WORK, WORK2, RES (with its round
 * header in front), the receive areas (one per round parity, or one shared
 * by every round when the schedule says so), the header snapshots and the
 * flag slots. A send lands in the peer's memory either at
 * once (eager) or later, when the simulator completes it (lazy): the data is
 * then read from the sender's buffers only at completion time, so a schedule
 * that reuses a buffer before its send completed delivers corrupted data.
 * Lazy completion is either in order per sender (FIFO) or in any order.
 * As lib/engine.c does, a rank starts its next round only once every send of
 * the previous one has completed. Four rounds run on the same memory, so the
 * receive areas are reused: a message that lands before the previous round's
 * was read shows as a wrong sum or a round mismatch in the executor.
 *
 * The expected values share no code with the library: sums are formed from
 * the inputs in int64 or double, and the communication pattern is checked
 * against the peers' own WAIT ops.
 */
#include <check.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "exec.h"
#include "pcoll.h"
#include "schedule.h"

#define MAXP	 64
#define NROUNDS	 4
#define CANARY	 64
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Assertions for hot loops: ck_assert_* records every passing check (a write
 * to the runner's pipe), which would dominate the running time here. */
#define REQUIRE(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)
#define REQUIRE_TRUE(cond) REQUIRE(cond, "assertion '%s' failed", #cond)
#define REQUIRE_EQ(a, b)                                                                           \
	REQUIRE((a) == (b), "assertion '%s == %s' failed: %lld != %lld", #a, #b, (long long)(a),   \
		(long long)(b))

/* ------------------------------------------------------------- utilities */

static uint64_t mix(uint64_t z)
{
	/* splitmix64 finalizer */
	z += UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rng(uint64_t *state)
{
	*state += 1;
	return mix(*state * UINT64_C(0x2545f4914f6cdd1d));
}

static uint64_t hash4(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return mix(a ^ mix(b ^ mix(c ^ mix(d))));
}

/* Smallest n with 2^n >= P. */
static int ceil_log2(long long P)
{
	int n = 0;
	while ((1LL << n) < P)
		n++;
	return n;
}

/* PIPE with 16-byte segments: the small counts of these tests get several
 * (up to PC_SEG_MAX), so the segment bookkeeping is what is tested. */
#define TEST_SEG_BYTES 16
static int build(pc_sched_t *s, int P, int rank, size_t count, size_t ds, int algo)
{
	return pc_sched_build(s, P, rank, count, ds, algo, TEST_SEG_BYTES);
}

static int pow2_floor(int P)
{
	int p = 1;
	while (p <= P / 2)
		p *= 2;
	return p;
}

/* ------------------------------------------------------------- simulator */

enum deliver_mode { DELIVER_EAGER, DELIVER_LAZY_FIFO, DELIVER_LAZY_RANDOM };
enum data_kind { DATA_INT64, DATA_F32_INT, DATA_F32_RANDOM };

typedef struct send_rec {
	uint64_t round;
	int from, to, region; /* region: PC_BUF_RX or PC_BUF_RES */
	uint32_t slot;
	size_t lo, hi; /* bytes in the region; RES counts from its header */
	size_t data_bytes;
} send_rec_t;

typedef struct pend {
	int from, to;
	const pc_op_t *op;
	struct iovec iov[2];
	int iovcnt;
	uint64_t round;
	uint64_t seq;
} pend_t;

struct sim;

typedef struct sim_rank {
	struct sim *sim;
	int rank;
	pc_sched_t s;
	pc_exec_t x;
	pc_exec_env_t env;
	char *src, *work, *work2, *res, *rx[2]; /* res: header first; src: the input */
	size_t rx_bytes;
	pc_hdr_t *hdr_tx;
	uint64_t *flags; /* [2][nslots] */
	uint64_t txdone; /* sends of the current round completed */
	uint64_t round;	 /* current round, 0 before the first */
	int draining;	 /* round done, its sends not all complete yet */
	int finished;
	int split; /* a reduction handed back (PC_EXEC_REDUCE), not yet run */
} sim_rank_t;

typedef struct sim {
	int P;
	size_t count, ds, data_bytes, res_bytes;
	pcoll_datatype_t dt;
	int kind, deliver, algo;
	int split; /* every reduction is handed back and run later */
	uint64_t seed, rng;
	sim_rank_t *rk;
	pend_t *pend;
	size_t npend, pcap;
	uint64_t seq;
	send_rec_t *log;
	size_t nlog, lcap;
	/* Expected per round: sums (int64 or double), sum of |x|, headers. */
	int64_t *exp_i[NROUNDS + 1];
	double *exp_d[NROUNDS + 1], *exp_abs[NROUNDS + 1];
	pc_hdr_t exp_hdr[NROUNDS + 1];
	char *ref[NROUNDS + 1]; /* first finisher's result, for bit identity */
	char label[160];
} sim_t;

static pcoll_datatype_t kind_dt(int kind)
{
	return kind == DATA_INT64 ? PCOLL_INT64 : PCOLL_FLOAT32;
}

/* Input element j of rank i in round r. */
static void input_elem(const sim_t *sim, uint64_t r, int i, size_t j, void *out, int64_t *iv,
		       double *dv)
{
	uint64_t h = hash4(sim->seed, r, (uint64_t)i, j);
	switch (sim->kind) {
	case DATA_INT64: {
		int64_t v = (int64_t)(h >> 23) - ((int64_t)1 << 40); /* |v| <= 2^40 */
		memcpy(out, &v, 8);
		*iv = v;
		*dv = (double)v;
		break;
	}
	case DATA_F32_INT: {
		float f = (float)((int)(h % 2001) - 1000);
		memcpy(out, &f, 4);
		*iv = (int64_t)f;
		*dv = f;
		break;
	}
	default: {
		/* A non-integer value with a random sign and a binary exponent in [-8, 8]. */
		double m = (double)(h >> 40) / (double)(1ULL << 24); /* [0, 1) */
		int e = (int)((h >> 8) % 17) - 8;
		float f = (float)ldexp((h & 1) ? -(1.0 + m) : 1.0 + m, e);
		memcpy(out, &f, 4);
		*iv = 0;
		*dv = f;
		break;
	}
	}
}

static pc_hdr_t input_hdr(const sim_t *sim, uint64_t r, int i)
{
	uint64_t h = hash4(sim->seed ^ 0x4844524ULL, r, (uint64_t)i, 7);
	pc_hdr_t m;
	memset(&m, 0, sizeof(m));
	m.round = r;
	m.contributions = h % 5;
	m.staleness = (int64_t)((h >> 8) % 9) - 1; /* [-1, 7] */
	m.flushed = (h >> 16) & 1;
	return m;
}

static void *xcalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* A buffer followed by CANARY bytes of 0xa5, so overruns are seen. */
static char *canary_alloc(size_t n)
{
	char *p = xcalloc(n + CANARY);
	memset(p + n, 0xa5, CANARY);
	return p;
}

static void canary_check(const sim_t *sim, const char *p, size_t n, const char *what, int rank)
{
	for (size_t i = 0; i < CANARY; i++)
		REQUIRE((unsigned char)p[n + i] == 0xa5, "%s: rank %d: %s overrun at +%zu",
			sim->label, rank, what, i);
}

static void deliver(sim_t *sim, int from, int to, const pc_op_t *op, const struct iovec *iov,
		    int iovcnt, uint64_t round)
{
	sim_rank_t *p = &sim->rk[to];
	char *dst =
	    op->dst_buf == PC_BUF_RX ? p->rx[round & 1] + op->dst_off : p->res + op->dst_off;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
	p->flags[(round & 1) * p->s.nslots + op->flag]++;
	sim_rank_t *f = &sim->rk[from];
	REQUIRE(f->round == round,
		"%s: send of rank %d for round %" PRIu64 " completes while it runs round %" PRIu64,
		sim->label, from, round, f->round);
	f->txdone++;
}

static int sim_send(void *arg, const pc_op_t *op, const struct iovec *iov, int iovcnt,
		    uint64_t round)
{
	sim_rank_t *me = arg;
	sim_t *sim = me->sim;
	REQUIRE_EQ(round, me->round);
	REQUIRE(op->peer >= 0 && op->peer < sim->P && op->peer != me->rank,
		"%s: rank %d sends to %d", sim->label, me->rank, op->peer);
	REQUIRE(op->dst_buf == PC_BUF_RX || op->dst_buf == PC_BUF_RES,
		"%s: rank %d sends to region %d", sim->label, me->rank, op->dst_buf);
	sim_rank_t *peer = &sim->rk[op->peer];
	REQUIRE(op->flag < peer->s.nslots, "%s: rank %d bumps slot %u of %u at %d", sim->label,
		me->rank, op->flag, peer->s.nslots, op->peer);
	REQUIRE_EQ(iovcnt, op->hdr ? 2 : 1);
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (op->hdr)
		REQUIRE_EQ(iov[0].iov_len, PC_HDR_BYTES);
	size_t data = iov[iovcnt - 1].iov_len;
	REQUIRE_EQ(data, op->cnt * sim->ds);
	size_t limit = op->dst_buf == PC_BUF_RX ? peer->rx_bytes : sim->res_bytes;
	REQUIRE(op->dst_off <= limit && total <= limit - op->dst_off,
		"%s: rank %d -> %d region %d: [%zu, +%zu) outside %zu bytes", sim->label, me->rank,
		op->peer, op->dst_buf, op->dst_off, total, limit);
	if (sim->nlog == sim->lcap) {
		sim->lcap = sim->lcap ? 2 * sim->lcap : 256;
		sim->log = realloc(sim->log, sim->lcap * sizeof(*sim->log));
		ck_assert_ptr_nonnull(sim->log);
	}
	sim->log[sim->nlog++] = (send_rec_t){.round = round,
					     .from = me->rank,
					     .to = op->peer,
					     .region = op->dst_buf,
					     .slot = op->flag,
					     .lo = op->dst_off,
					     .hi = op->dst_off + total,
					     .data_bytes = data};
	if (sim->deliver == DELIVER_EAGER) {
		deliver(sim, me->rank, op->peer, op, iov, iovcnt, round);
		return 0;
	}
	if (sim->npend == sim->pcap) {
		sim->pcap = sim->pcap ? 2 * sim->pcap : 64;
		sim->pend = realloc(sim->pend, sim->pcap * sizeof(*sim->pend));
		ck_assert_ptr_nonnull(sim->pend);
	}
	pend_t *q = &sim->pend[sim->npend++];
	q->from = me->rank;
	q->to = op->peer;
	q->op = op;
	q->iovcnt = iovcnt;
	for (int i = 0; i < iovcnt; i++)
		q->iov[i] = iov[i]; /* the data is read at completion, not now */
	q->round = round;
	q->seq = sim->seq++;
	return 0;
}

static int sim_flag_ready(void *arg, uint32_t slot, uint64_t round)
{
	sim_rank_t *me = arg;
	REQUIRE_EQ(round, me->round);
	REQUIRE(slot < me->s.nslots, "%s: rank %d waits on slot %u of %u", me->sim->label, me->rank,
		slot, me->s.nslots);
	return me->flags[(round & 1) * me->s.nslots + slot] >= (round + 1) / 2;
}

static uint64_t sim_tx_done(void *arg)
{
	sim_rank_t *me = arg;
	return me->txdone;
}

/* Complete one pending send: any of them, or the oldest of a random sender. */
static void complete_one(sim_t *sim)
{
	size_t k = (size_t)(rng(&sim->rng) % sim->npend);
	if (sim->deliver == DELIVER_LAZY_FIFO) {
		int from = sim->pend[k].from;
		for (size_t i = 0; i < sim->npend; i++)
			if (sim->pend[i].from == from && sim->pend[i].seq < sim->pend[k].seq)
				k = i;
	}
	pend_t q = sim->pend[k];
	sim->pend[k] = sim->pend[--sim->npend];
	deliver(sim, q.from, q.to, q.op, q.iov, q.iovcnt, q.round);
}

static void start_round(sim_t *sim, sim_rank_t *p, uint64_t r)
{
	p->round = r;
	p->txdone = 0;
	for (size_t j = 0; j < sim->count; j++) {
		int64_t iv;
		double dv;
		input_elem(sim, r, p->rank, j, p->src + j * sim->ds, &iv, &dv);
	}
	/* Garbage in the scratch buffers: a schedule must not read them unwritten. */
	memset(p->work, 0x5a, sim->data_bytes);
	memset(p->work2, 0x5a, sim->data_bytes);
	/* RES too: the others reduce into it (peers may already have written
	 * their allgather blocks there, so only before the first round). */
	if (r == 1)
		memset(p->res + PC_HDR_BYTES, 0x5a, sim->data_bytes);
	p->env.buf[PC_BUF_RX] = p->rx[r & 1];
	pc_hdr_t mine = input_hdr(sim, r, p->rank);
	pc_exec_start(&p->x, &p->s, r, &mine);
}

static void compute_expected(sim_t *sim)
{
	char tmp[8];
	for (uint64_t r = 1; r <= NROUNDS; r++) {
		sim->exp_i[r] = xcalloc(sim->count * sizeof(int64_t));
		sim->exp_d[r] = xcalloc(sim->count * sizeof(double));
		sim->exp_abs[r] = xcalloc(sim->count * sizeof(double));
		pc_hdr_t *e = &sim->exp_hdr[r];
		memset(e, 0, sizeof(*e));
		e->round = r;
		e->staleness = INT64_MIN;
		for (int i = 0; i < sim->P; i++) {
			pc_hdr_t h = input_hdr(sim, r, i);
			e->contributions += h.contributions;
			e->flushed += h.flushed;
			if (h.staleness > e->staleness)
				e->staleness = h.staleness;
			for (size_t j = 0; j < sim->count; j++) {
				int64_t iv;
				double dv;
				input_elem(sim, r, i, j, tmp, &iv, &dv);
				sim->exp_i[r][j] += iv;
				sim->exp_d[r][j] += dv;
				sim->exp_abs[r][j] += fabs(dv);
			}
		}
	}
}

static void check_result(sim_t *sim, sim_rank_t *p)
{
	uint64_t r = p->round;
	const pc_hdr_t *h = (const pc_hdr_t *)p->res, *e = &sim->exp_hdr[r];
	REQUIRE(p->x.pc == p->s.nops, "%s: rank %d done at op %zu of %zu", sim->label, p->rank,
		p->x.pc, p->s.nops);
	REQUIRE(h->round == r, "%s: rank %d round %" PRIu64 ": header round %" PRIu64, sim->label,
		p->rank, r, h->round);
	/* The contribution is read-only: it may be the caller's own buffer. */
	for (size_t j = 0; j < sim->count; j++) {
		char in[8];
		int64_t iv;
		double dv;
		input_elem(sim, r, p->rank, j, in, &iv, &dv);
		REQUIRE(!memcmp(in, p->src + j * sim->ds, sim->ds),
			"%s: rank %d round %" PRIu64 ": the contribution was modified at %zu",
			sim->label, p->rank, r, j);
	}
	REQUIRE(h->contributions == e->contributions,
		"%s: rank %d round %" PRIu64 ": contributions %" PRIu64 ", expected %" PRIu64,
		sim->label, p->rank, r, h->contributions, e->contributions);
	REQUIRE(h->flushed == e->flushed,
		"%s: rank %d round %" PRIu64 ": flushed %" PRIu64 ", expected %" PRIu64, sim->label,
		p->rank, r, h->flushed, e->flushed);
	REQUIRE(h->staleness == e->staleness,
		"%s: rank %d round %" PRIu64 ": staleness %" PRId64 ", expected %" PRId64,
		sim->label, p->rank, r, h->staleness, e->staleness);
	const char *d = p->res + PC_HDR_BYTES;
	for (size_t j = 0; j < sim->count; j++) {
		if (sim->kind == DATA_INT64) {
			int64_t v;
			memcpy(&v, d + 8 * j, 8);
			REQUIRE(v == sim->exp_i[r][j],
				"%s: rank %d round %" PRIu64 " elem %zu: %" PRId64
				", expected %" PRId64,
				sim->label, p->rank, r, j, v, sim->exp_i[r][j]);
		} else {
			float f;
			memcpy(&f, d + 4 * j, 4);
			double want = sim->exp_d[r][j];
			double tol = sim->kind == DATA_F32_INT
					 ? 0.0
					 : 2.0 * sim->P * FLT_EPSILON * sim->exp_abs[r][j];
			REQUIRE(fabs((double)f - want) <= tol,
				"%s: rank %d round %" PRIu64 " elem %zu: %.9g, expected %.9g",
				sim->label, p->rank, r, j, (double)f, want);
		}
	}
	if (!sim->ref[r]) {
		sim->ref[r] = xcalloc(sim->data_bytes);
		memcpy(sim->ref[r], d, sim->data_bytes);
	} else {
		for (size_t j = 0; j < sim->data_bytes; j++)
			REQUIRE(sim->ref[r][j] == d[j],
				"%s: round %" PRIu64 ": rank %d differs from the first "
				"finisher at byte %zu",
				sim->label, r, p->rank, j);
	}
}

/* Static checks of one rank's schedule: every range stays inside its buffer. */
static void check_sched_static(const sim_t *sim, const pc_sched_t *s)
{
	size_t sends = 0, n = sim->count;
	unsigned char *waited = xcalloc(s->nslots ? s->nslots : 1);
	for (size_t i = 0; i < s->nops; i++) {
		const pc_op_t *op = &s->ops[i];
		switch (op->kind) {
		case PC_OP_SEND:
			sends++;
			REQUIRE_TRUE(op->src_buf == PC_BUF_SRC || op->src_buf == PC_BUF_WORK ||
				     op->src_buf == PC_BUF_WORK2 || op->src_buf == PC_BUF_RES);
			REQUIRE(op->off <= n && op->cnt <= n - op->off,
				"%s: rank %d op %zu: send range", sim->label, s->rank, i);
			break;
		case PC_OP_WAIT:
			REQUIRE_TRUE(op->flag < s->nslots);
			REQUIRE(!waited[op->flag], "%s: rank %d waits twice on slot %u", sim->label,
				s->rank, op->flag);
			waited[op->flag] = 1;
			break;
		case PC_OP_REDUCE:
			REQUIRE(op->rx_off <= s->rx_bytes &&
				    PC_HDR_BYTES + op->cnt * s->dtsize <= s->rx_bytes - op->rx_off,
				"%s: rank %d op %zu: reduce reads past RX", sim->label, s->rank, i);
			/* fall through */
		case PC_OP_COPY:
			REQUIRE_TRUE(op->src_buf == PC_BUF_SRC || op->src_buf == PC_BUF_WORK ||
				     op->src_buf == PC_BUF_WORK2 || op->src_buf == PC_BUF_RES);
			/* The contribution may be the caller's buffer: never written. */
			REQUIRE(op->dst_buf == PC_BUF_WORK || op->dst_buf == PC_BUF_WORK2 ||
				    op->dst_buf == PC_BUF_RES,
				"%s: rank %d op %zu writes buffer %d", sim->label, s->rank, i,
				op->dst_buf);
			REQUIRE(op->off <= n && op->cnt <= n - op->off && op->a_off <= n &&
				    op->cnt <= n - op->a_off,
				"%s: rank %d op %zu: range", sim->label, s->rank, i);
			break;
		case PC_OP_TXWAIT:
			REQUIRE(op->cnt <= sends, "%s: rank %d op %zu waits for %zu of %zu sends",
				sim->label, s->rank, i, op->cnt, sends);
			break;
		case PC_OP_SETHDR:
			break;
		default:
			ck_abort_msg("%s: rank %d op %zu: kind %d", sim->label, s->rank, i,
				     op->kind);
		}
	}
	REQUIRE_EQ(sends, s->nsends);
	free(waited);
}

static int cmp_rec(const void *a, const void *b)
{
	const send_rec_t *x = a, *y = b;
	if (x->round != y->round)
		return x->round < y->round ? -1 : 1;
	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	if (x->region != y->region)
		return x->region < y->region ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

/* Every process sends and receives exactly what the peers expect. */
static void check_traffic(sim_t *sim)
{
	int P = sim->P;
	uint32_t maxslots = 0;
	for (int i = 0; i < P; i++)
		if (sim->rk[i].s.nslots > maxslots)
			maxslots = sim->rk[i].s.nslots;
	unsigned *waits = xcalloc((size_t)P * (maxslots + 1) * sizeof(unsigned));
	for (int i = 0; i < P; i++) {
		const pc_sched_t *s = &sim->rk[i].s;
		for (size_t k = 0; k < s->nops; k++)
			if (s->ops[k].kind == PC_OP_WAIT)
				waits[(size_t)i * maxslots + s->ops[k].flag]++;
	}
	unsigned *cnt = xcalloc((size_t)P * (maxslots + 1) * sizeof(unsigned));
	size_t *nsent = xcalloc((size_t)P * sizeof(size_t));
	size_t *data_sent = xcalloc((size_t)P * sizeof(size_t));
	if (sim->nlog)
		qsort(sim->log, sim->nlog, sizeof(*sim->log), cmp_rec);
	size_t a = 0;
	for (uint64_t r = 1; r <= NROUNDS; r++) {
		memset(cnt, 0, (size_t)P * (maxslots + 1) * sizeof(unsigned));
		memset(nsent, 0, (size_t)P * sizeof(size_t));
		memset(data_sent, 0, (size_t)P * sizeof(size_t));
		size_t b = a, maxhi = 0;
		while (b < sim->nlog && sim->log[b].round == r) {
			const send_rec_t *e = &sim->log[b];
			cnt[(size_t)e->to * maxslots + e->slot]++;
			nsent[e->from]++;
			data_sent[e->from] += e->data_bytes;
			if (b == a || sim->log[b - 1].to != e->to ||
			    sim->log[b - 1].region != e->region)
				maxhi = 0;
			else
				REQUIRE(maxhi <= e->lo,
					"%s: round %" PRIu64 ": sends of ranks %d and %d overlap "
					"at rank %d region %d: [%zu,%zu) and [%zu,%zu)",
					sim->label, r, sim->log[b - 1].from, e->from, e->to,
					e->region, sim->log[b - 1].lo, sim->log[b - 1].hi, e->lo,
					e->hi);
			if (e->hi > maxhi)
				maxhi = e->hi;
			b++;
		}
		for (int i = 0; i < P; i++) {
			REQUIRE(nsent[i] == sim->rk[i].s.nsends,
				"%s: round %" PRIu64 ": rank %d sent %zu of %zu", sim->label, r, i,
				nsent[i], sim->rk[i].s.nsends);
			for (uint32_t k = 0; k < maxslots; k++) {
				unsigned want = waits[(size_t)i * maxslots + k] ? 1 : 0;
				unsigned got = cnt[(size_t)i * maxslots + k];
				REQUIRE(got == want,
					"%s: round %" PRIu64 " (parity %d): rank %d slot %u "
					"written %u times, waited for %u times",
					sim->label, r, (int)(r & 1), i, k, got,
					waits[(size_t)i * maxslots + k]);
			}
			/* Reduce-scatter + allgather moves about 2N per rank (N - own
			 * block, then at most pof2 - 1 blocks of ceil(N/pof2)), plus N
			 * for the result handed back to a folded-away partner. RD
			 * would send log2(pof2) N. */
			if (sim->rk[i].s.algo == PC_ALGO_RSAG ||
			    sim->rk[i].s.algo == PC_ALGO_PIPE) {
				int rem = P - pow2_floor(P);
				size_t pof2 = (size_t)pow2_floor(P);
				size_t lim = 2 * sim->data_bytes + pof2 * sim->ds;
				if (i < 2 * rem)
					lim = (i & 1) ? lim + sim->data_bytes : sim->data_bytes;
				REQUIRE(data_sent[i] <= lim,
					"%s: rank %d sends %zu data bytes with RSAG (limit %zu)",
					sim->label, i, data_sent[i], lim);
			}
			/* The ring: 2(P-1) chunks of at most ceil(N/P). */
			if (sim->rk[i].s.algo == PC_ALGO_RING) {
				size_t chunk = (sim->count + (size_t)P - 1) / (size_t)P * sim->ds;
				size_t lim = 2 * (size_t)(P - 1) * chunk;
				REQUIRE(
				    data_sent[i] <= lim,
				    "%s: rank %d sends %zu data bytes with the ring (limit %zu)",
				    sim->label, i, data_sent[i], lim);
			}
		}
		a = b;
	}
	REQUIRE_EQ(a, sim->nlog);
	free(waits);
	free(cnt);
	free(nsent);
	free(data_sent);
}

static int expected_algo(int P, size_t count, size_t ds, int algo)
{
	int pof2 = pow2_floor(P);
	if (algo == PC_ALGO_AUTO)
		algo = count * ds <= PC_RD_MAX_BYTES ? PC_ALGO_RD
		       : pof2 == P		     ? PC_ALGO_RSAG
						     : PC_ALGO_RING;
	if ((algo == PC_ALGO_RSAG || algo == PC_ALGO_PIPE) && (pof2 == 1 || count < (size_t)pof2))
		algo = PC_ALGO_RD;
	if (algo == PC_ALGO_RING && (P == 1 || count < (size_t)P))
		algo = PC_ALGO_RD;
	return algo;
}

static void deadlock_report(sim_t *sim)
{
	char msg[2048];
	int n = snprintf(msg, sizeof(msg), "%s: deadlock:", sim->label);
	for (int i = 0; i < sim->P && n < (int)sizeof(msg) - 80; i++) {
		sim_rank_t *p = &sim->rk[i];
		if (p->finished)
			continue;
		const pc_op_t *op = p->x.pc < p->s.nops ? &p->s.ops[p->x.pc] : NULL;
		n += snprintf(msg + n, sizeof(msg) - (size_t)n,
			      " [rank %d round %" PRIu64 " op %zu kind %d flag %u cnt %zu]", i,
			      p->round, p->x.pc, op ? op->kind : -1, op ? op->flag : 0,
			      op ? op->cnt : 0);
	}
	ck_abort_msg("%s", msg);
}

/* Run NROUNDS rounds of an allreduce of P ranks and check everything. */
/* Set by the split tests: reductions run as the engine runs them outside its
 * lock, the rank's schedule paused while the others go on. */
static int g_split;

static void run_sim(int P, size_t count, int algo, int kind, int deliver_mode, uint64_t seed)
{
	sim_t sim;
	memset(&sim, 0, sizeof(sim));
	sim.P = P;
	sim.count = count;
	sim.kind = kind;
	sim.dt = kind_dt(kind);
	sim.ds = kind == DATA_INT64 ? 8 : 4;
	sim.data_bytes = count * sim.ds;
	sim.res_bytes = PC_HDR_BYTES + sim.data_bytes;
	sim.deliver = deliver_mode;
	sim.split = g_split;
	sim.algo = algo;
	sim.seed = seed;
	sim.rng = seed ^ 0xabcdefULL;
	snprintf(sim.label, sizeof(sim.label), "P=%d count=%zu algo=%s data=%d deliver=%d", P,
		 count, pc_sched_algo_name(algo), kind, deliver_mode);
	sim.rk = xcalloc((size_t)P * sizeof(*sim.rk));
	int want_algo = expected_algo(P, count, sim.ds, algo);
	for (int i = 0; i < P; i++) {
		sim_rank_t *p = &sim.rk[i];
		p->sim = &sim;
		p->rank = i;
		int rc = build(&p->s, P, i, count, sim.ds, algo);
		REQUIRE(rc == 0, "%s: build rank %d: %d", sim.label, i, rc);
		REQUIRE_EQ(p->s.P, P);
		REQUIRE_EQ(p->s.rank, i);
		REQUIRE(p->s.algo == want_algo, "%s: rank %d resolved algo %d, expected %d",
			sim.label, i, p->s.algo, want_algo);
		if (i > 0) {
			REQUIRE_EQ(p->s.rx_bytes, sim.rk[0].s.rx_bytes);
			REQUIRE_EQ(p->s.nslots, sim.rk[0].s.nslots);
		}
		check_sched_static(&sim, &p->s);
		p->rx_bytes = p->s.rx_bytes;
		p->src = canary_alloc(sim.data_bytes);
		p->work = canary_alloc(sim.data_bytes);
		p->work2 = canary_alloc(sim.data_bytes);
		p->res = canary_alloc(sim.res_bytes);
		REQUIRE(p->s.rx_areas == 1 || p->s.rx_areas == 2, "%s: rank %d: %d rx areas",
			sim.label, i, p->s.rx_areas);
		REQUIRE_EQ(p->s.rx_areas, p->s.algo == PC_ALGO_RD ? 2 : 1);
		p->rx[0] = canary_alloc(p->rx_bytes);
		p->rx[1] = p->s.rx_areas == 2 ? canary_alloc(p->rx_bytes) : p->rx[0];
		p->hdr_tx = xcalloc((p->s.nsends ? p->s.nsends : 1) * sizeof(pc_hdr_t));
		p->flags = xcalloc(2 * (p->s.nslots ? p->s.nslots : 1) * sizeof(uint64_t));
		p->env.buf[PC_BUF_SRC] = p->src;
		p->env.buf[PC_BUF_WORK] = p->work;
		p->env.buf[PC_BUF_WORK2] = p->work2;
		p->env.buf[PC_BUF_RES] = p->res + PC_HDR_BYTES;
		p->env.res_hdr = (pc_hdr_t *)p->res;
		p->env.hdr_tx = p->hdr_tx;
		p->env.dt = sim.dt;
		p->env.send = sim_send;
		p->env.flag_ready = sim_flag_ready;
		p->env.tx_done = sim_tx_done;
		p->env.arg = p;
		p->env.split_bytes = sim.split ? 1 : 0;
	}
	compute_expected(&sim);
	for (int i = 0; i < P; i++)
		start_round(&sim, &sim.rk[i], 1);

	int nfinished = 0;
	int *order = xcalloc((size_t)P * sizeof(int));
	/* One straggler, run one pass in four, lets the others run rounds ahead
	 * of it: what a receive area shared by the rounds must survive. */
	int slow = (int)(rng(&sim.rng) % (uint64_t)P), idle = 0;
	for (uint64_t pass = 0; nfinished < P; pass++) {
		int progress = 0;
		for (int i = 0; i < P; i++)
			order[i] = i;
		for (int i = P - 1; i > 0; i--) {
			int j = (int)(rng(&sim.rng) % (uint64_t)(i + 1)), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (int k = 0; k < P; k++) {
			sim_rank_t *p = &sim.rk[order[k]];
			if (p->finished || (p->rank == slow && pass % 4 && !idle))
				continue;
			if (p->draining) {
				/* Like the engine: a round's sends all complete before the
				 * next round reuses the buffers they read. */
				if (p->txdone < p->s.nsends)
					continue;
				REQUIRE_EQ(p->txdone, p->s.nsends);
				p->draining = 0;
				progress = 1;
				if (p->round == NROUNDS) {
					p->finished = 1;
					nfinished++;
				} else {
					start_round(&sim, p, p->round + 1);
				}
				continue;
			}
			if (p->split) {
				/* Reducing outside the lock: it takes a while, and
				 * the others run meanwhile. */
				progress = 1;
				if (rng(&sim.rng) % 3 == 0) {
					pc_exec_reduce_split(&p->x, &p->env);
					p->split = 0;
				}
				continue;
			}
			size_t pc0 = p->x.pc;
			int rc = pc_exec_run(&p->x, &p->env);
			REQUIRE(rc >= 0, "%s: rank %d round %" PRIu64 ": exec error %d: %s",
				sim.label, p->rank, p->round, rc, pcoll_last_error());
			REQUIRE(rc != PC_EXEC_REDUCE || sim.split,
				"%s: rank %d: a reduction handed back with split_bytes 0",
				sim.label, p->rank);
			if (rc == PC_EXEC_REDUCE) {
				p->split = 1;
				progress = 1;
				continue;
			}
			if (p->x.pc != pc0)
				progress = 1;
			if (rc == 1) {
				progress = 1;
				check_result(&sim, p);
				p->draining = 1;
			}
		}
		if (sim.npend) {
			/* Complete a few: a quarter at most, so many orders occur. */
			size_t n = 1 + (size_t)(rng(&sim.rng) % (sim.npend / 4 + 1));
			while (n-- && sim.npend)
				complete_one(&sim);
			progress = 1;
		}
		if (!progress && idle)
			deadlock_report(&sim);
		idle = !progress; /* run the straggler too before calling it a deadlock */
	}
	REQUIRE_EQ(sim.npend, 0);
	check_traffic(&sim);
	for (int i = 0; i < P; i++) {
		sim_rank_t *p = &sim.rk[i];
		canary_check(&sim, p->src, sim.data_bytes, "SRC", i);
		canary_check(&sim, p->work, sim.data_bytes, "WORK", i);
		canary_check(&sim, p->work2, sim.data_bytes, "WORK2", i);
		canary_check(&sim, p->res, sim.res_bytes, "RES", i);
		canary_check(&sim, p->rx[0], p->rx_bytes, "RX0", i);
		canary_check(&sim, p->rx[1], p->rx_bytes, "RX1", i);
		if (p->rx[1] != p->rx[0])
			free(p->rx[1]);
		free(p->src);
		free(p->work);
		free(p->work2);
		free(p->res);
		free(p->rx[0]);
		free(p->hdr_tx);
		free(p->flags);
		pc_sched_free(&p->s);
	}
	for (int r = 1; r <= NROUNDS; r++) {
		free(sim.exp_i[r]);
		free(sim.exp_d[r]);
		free(sim.exp_abs[r]);
		free(sim.ref[r]);
	}
	free(order);
	free(sim.rk);
	free(sim.pend);
	free(sim.log);
}

/* Element counts for P: tiny, around P, below the power-of-two part (RSAG
 * falls back to RD), odd, and large enough that AUTO picks RSAG. */
static size_t counts_for(int P, size_t ds, size_t *c)
{
	size_t cand[] = {1,
			 2,
			 3,
			 7,
			 (size_t)P - 1,
			 (size_t)P,
			 (size_t)P + 1,
			 (size_t)pow2_floor(P) - 1,
			 (size_t)pow2_floor(P) + 3,
			 1000,
			 1001,
			 PC_RD_MAX_BYTES / ds + 5};
	size_t n = 0;
	for (size_t i = 0; i < NELEM(cand); i++) {
		if (cand[i] == 0)
			continue;
		int dup = 0;
		for (size_t j = 0; j < n; j++)
			dup |= c[j] == cand[i];
		if (!dup)
			c[n++] = cand[i];
	}
	return n;
}

static const int algos[] = {PC_ALGO_RD, PC_ALGO_RSAG, PC_ALGO_RING, PC_ALGO_PIPE, PC_ALGO_AUTO};

static void run_matrix(int P, int kind, int deliver_mode)
{
	size_t c[16];
	size_t nc = counts_for(P, kind == DATA_INT64 ? 8 : 4, c);
	for (size_t a = 0; a < NELEM(algos); a++)
		for (size_t i = 0; i < nc; i++)
			run_sim(P, c[i], algos[a], kind, deliver_mode,
				hash4((uint64_t)P, c[i], (uint64_t)algos[a], (uint64_t)kind));
}

/* --------------------------------------------------------- allreduce tests */

START_TEST(test_allreduce_int64_eager)
{
	run_matrix(_i, DATA_INT64, DELIVER_EAGER);
}
END_TEST

START_TEST(test_allreduce_int64_lazy)
{
	run_matrix(_i, DATA_INT64, DELIVER_LAZY_FIFO);
}
END_TEST

START_TEST(test_allreduce_f32_int_eager)
{
	run_matrix(_i, DATA_F32_INT, DELIVER_EAGER);
}
END_TEST

START_TEST(test_allreduce_f32_int_lazy)
{
	run_matrix(_i, DATA_F32_INT, DELIVER_LAZY_FIFO);
}
END_TEST

START_TEST(test_allreduce_f32_random_identical)
{
	run_matrix(_i, DATA_F32_RANDOM, DELIVER_LAZY_FIFO);
}
END_TEST

/* Completions in any order (libfabric does not order completions of writes
 * to different peers): TXWAIT must still protect every source buffer. */
START_TEST(test_allreduce_completion_any_order)
{
	run_matrix(_i, DATA_INT64, DELIVER_LAZY_RANDOM);
}
END_TEST

/* Reductions handed back and run later, as the engine runs large ones
 * outside its lock: the peers go on meanwhile (they may write the next
 * messages), and the results must not change. */
START_TEST(test_allreduce_split_reduce)
{
	if (_i > 17 && _i % 8) /* every P to 17, then every eighth */
		return;
	g_split = 1;
	run_matrix(_i, DATA_INT64, DELIVER_LAZY_RANDOM);
	g_split = 0;
}
END_TEST

/* The same configuration under several completion orders. */
START_TEST(test_allreduce_many_orders)
{
	int P = _i;
	for (uint64_t seed = 0; seed < 8; seed++) {
		run_sim(P, (size_t)P + 1, PC_ALGO_RD, DATA_INT64, DELIVER_LAZY_FIFO, seed);
		run_sim(P, (size_t)2 * P + 3, PC_ALGO_RSAG, DATA_INT64, DELIVER_LAZY_FIFO, seed);
		run_sim(P, (size_t)40 * P + 3, PC_ALGO_PIPE, DATA_INT64, DELIVER_LAZY_RANDOM, seed);
	}
}
END_TEST

/* PIPE's point: the partner's sum of one segment is sent back before the
 * next segment is reduced, so transfer and reduction overlap. Segments
 * follow the size (PC_SEG_BYTES by default, at most PC_SEG_MAX). */
START_TEST(test_pipe_segments)
{
	int P = _i, pof2 = pow2_floor(P);
	if (pof2 == 1)
		return;
	for (int i = 0; i < P; i++) {
		pc_sched_t s;
		/* 8 segments of 64 KiB in the last step's block of 512 KiB */
		size_t count = (size_t)pof2 * 512 * 1024 / 4;
		REQUIRE_EQ(pc_sched_build(&s, P, i, count, 4, PC_ALGO_PIPE, 0), 0);
		REQUIRE_EQ(s.algo, PC_ALGO_PIPE);
		REQUIRE(s.nseg == 8, "P=%d rank %d: %u segments", P, i, s.nseg);
		if (pc_sched_newrank(i, P - pof2) >= 0) {
			size_t reduces = 0, sends_between = 0, seen = 0;
			for (size_t k = 0; k < s.nops; k++)
				reduces += s.ops[k].kind == PC_OP_REDUCE;
			for (size_t k = 0; k < s.nops; k++) {
				const pc_op_t *op = &s.ops[k];
				seen += op->kind == PC_OP_REDUCE;
				if (op->kind == PC_OP_SEND && op->dst_buf == PC_BUF_RES &&
				    seen < reduces)
					sends_between++;
			}
			REQUIRE(sends_between >= 7,
				"P=%d rank %d: %zu allgather sends before the last reduction", P, i,
				sends_between);
		}
		pc_sched_free(&s);
		REQUIRE_EQ(pc_sched_build(&s, P, i, count, 4, PC_ALGO_PIPE, 1024), 0);
		REQUIRE_EQ(s.nseg, PC_SEG_MAX);
		pc_sched_free(&s);
		REQUIRE_EQ(pc_sched_build(&s, P, i, count, 4, PC_ALGO_RSAG, 1024), 0);
		REQUIRE_EQ(s.nseg, 1);
		pc_sched_free(&s);
	}
}
END_TEST

/* --------------------------------------------------------- build and select */

START_TEST(test_build_rejects)
{
	pc_sched_t s;
	const struct {
		int P, rank;
		size_t count, ds;
	} bad[] = {{0, 0, 10, 4}, {-1, 0, 10, 4}, {INT_MIN, 0, 10, 4}, {4, -1, 10, 4},
		   {4, 4, 10, 4}, {4, 5, 10, 4},  {1, 1, 10, 4},       {4, 0, 0, 4},
		   {1, 0, 0, 8},  {4, 0, 10, 0},  {3, INT_MIN, 1, 4}};
	for (size_t i = 0; i < NELEM(bad); i++)
		for (size_t a = 0; a < NELEM(algos); a++) {
			memset(&s, 0x7f, sizeof(s));
			int rc =
			    build(&s, bad[i].P, bad[i].rank, bad[i].count, bad[i].ds, algos[a]);
			REQUIRE(rc == PCOLL_ERR_INVAL, "case %zu algo %d: rc %d", i, algos[a], rc);
			ck_assert_ptr_null(s.ops);
			REQUIRE_EQ(s.nops, 0);
			pc_sched_free(&s); /* harmless after a failed build */
		}
	/* And the edge cases that are valid. */
	REQUIRE_EQ(build(&s, 1, 0, 1, 1, PC_ALGO_AUTO), 0);
	ck_assert_ptr_nonnull(s.ops);
	pc_sched_free(&s);
	ck_assert_ptr_null(s.ops);
	REQUIRE_EQ(s.nops, 0);
	pc_sched_free(&s);
	REQUIRE_EQ(build(&s, 3, 2, 1, 8, PC_ALGO_RSAG), 0);
	REQUIRE_EQ(s.algo, PC_ALGO_RD);
	pc_sched_free(&s);
}
END_TEST

/* Blocks partition [0, count) in order, sizes differing by at most one. */
START_TEST(test_blocks_and_fold)
{
	for (size_t count = 0; count <= 300; count++)
		for (int nb = 1; nb <= 70; nb++) {
			size_t next = 0, minl = SIZE_MAX, maxl = 0;
			for (int b = 0; b < nb; b++) {
				size_t st, len;
				pc_sched_block(count, nb, b, &st, &len);
				REQUIRE(st == next,
					"count %zu nb %d block %d starts at %zu, not %zu", count,
					nb, b, st, next);
				next = st + len;
				minl = len < minl ? len : minl;
				maxl = len > maxl ? len : maxl;
			}
			REQUIRE(next == count && maxl - minl <= 1,
				"count %zu nb %d: blocks end at %zu, sizes %zu..%zu", count, nb,
				next, minl, maxl);
		}
	for (int P = 1; P <= 200; P++) {
		int pof2, rem;
		pc_sched_fold_geometry(P, &pof2, &rem);
		REQUIRE(pof2 == pow2_floor(P) && rem == P - pof2, "P=%d: pof2 %d rem %d", P, pof2,
			rem);
		/* newrank is a bijection from the surviving ranks onto [0, pof2). */
		int seen[256] = {0}, survivors = 0;
		for (int r = 0; r < P; r++) {
			int nr = pc_sched_newrank(r, rem);
			if (nr < 0) {
				REQUIRE(r < 2 * rem && r % 2 == 0, "P=%d: rank %d folded away", P,
					r);
				continue;
			}
			REQUIRE(nr < pof2 && !seen[nr], "P=%d: rank %d -> newrank %d", P, r, nr);
			seen[nr] = 1;
			survivors++;
			REQUIRE(pc_sched_real_rank(nr, rem) == r, "P=%d: real_rank(%d) != %d", P,
				nr, r);
		}
		REQUIRE(survivors == pof2, "P=%d: %d survivors", P, survivors);
	}
}
END_TEST

/* The executor reads the header in front of a received message as a pc_hdr_t
 * and hands the data behind it to the reduction kernels, which need it
 * aligned for the element type: every message must start at a multiple of
 * the header's alignment inside the (64-byte aligned) receive area. */
START_TEST(test_rx_alignment)
{
	int P = _i;
	size_t dss[] = {2, 4, 8};
	size_t cnts[] = {1, 2, 3, 5, 7, (size_t)P + 1, 1001, 8191};
	int bad = 0;
	char first[200] = "";
	for (size_t d = 0; d < NELEM(dss); d++)
		for (size_t c = 0; c < NELEM(cnts); c++)
			for (size_t a = 0; a < 3; a++)
				for (int i = 0; i < P; i++) {
					pc_sched_t s;
					REQUIRE_EQ(build(&s, P, i, cnts[c], dss[d], algos[a]), 0);
					for (size_t k = 0; k < s.nops; k++) {
						const pc_op_t *op = &s.ops[k];
						size_t at = (size_t)-1;
						if (op->kind == PC_OP_REDUCE)
							at = op->rx_off;
						else if (op->kind == PC_OP_SEND && op->hdr)
							at = op->dst_off;
						if (at == (size_t)-1)
							continue;
						int ok = at % _Alignof(pc_hdr_t) == 0 &&
							 (at + PC_HDR_BYTES) % dss[d] == 0;
						if (!ok && !bad++)
							snprintf(first, sizeof(first),
								 "P=%d count=%zu ds=%zu %s rank %d "
								 "op %zu "
								 "(kind %d): message at byte %zu",
								 P, cnts[c], dss[d],
								 pc_sched_algo_name(s.algo), i, k,
								 op->kind, at);
					}
					pc_sched_free(&s);
				}
	REQUIRE(bad == 0, "%d misaligned messages, first: %s", bad, first);
}
END_TEST

/* What lib/coll.c's memory layout relies on: header snapshots are sized by
 * flag slots, and only RD has scratch buffers (WORK, WORK2): the others
 * reduce into RES, so a collective's memory stays under (S+4) buffers. */
START_TEST(test_layout_assumptions)
{
	int P = _i;
	size_t cnts[] = {1, 3, (size_t)P, (size_t)P + 1, 1000, 5000};
	for (size_t c = 0; c < NELEM(cnts); c++)
		for (size_t a = 0; a < NELEM(algos); a++)
			for (int i = 0; i < P; i++) {
				pc_sched_t s;
				REQUIRE_EQ(build(&s, P, i, cnts[c], 4, algos[a]), 0);
				REQUIRE(s.nsends <= s.nslots,
					"P=%d count=%zu rank %d: %zu sends, %u slots", P, cnts[c],
					i, s.nsends, s.nslots);
				if (s.algo != PC_ALGO_RD)
					for (size_t k = 0; k < s.nops; k++) {
						const pc_op_t *op = &s.ops[k];
						int local = op->kind == PC_OP_REDUCE ||
							    op->kind == PC_OP_COPY;
						int scratch =
						    op->src_buf == PC_BUF_WORK ||
						    op->src_buf == PC_BUF_WORK2 ||
						    (local && (op->dst_buf == PC_BUF_WORK ||
							       op->dst_buf == PC_BUF_WORK2));
						REQUIRE(!(op->kind == PC_OP_SEND || local) ||
							    !scratch,
							"P=%d rank %d: %s op %zu uses scratch", P,
							i, pc_sched_algo_name(s.algo), k);
					}
				/* Receiving costs less than one buffer per round, shared by
				 * all rounds, except with RD (small buffers) or a fold. */
				int pof2 = pow2_floor(P);
				if (s.algo == PC_ALGO_RING ||
				    ((s.algo == PC_ALGO_RSAG || s.algo == PC_ALGO_PIPE) &&
				     pof2 == P))
					REQUIRE(s.rx_areas == 1 &&
						    s.rx_bytes <= (size_t)(P - 1 + s.nseg - 1) *
									  (PC_HDR_BYTES + 64) +
								      cnts[c] * 4,
						"P=%d count=%zu %s: %d areas of %zu bytes", P,
						cnts[c], pc_sched_algo_name(s.algo), s.rx_areas,
						s.rx_bytes);
				pc_sched_free(&s);
			}
}
END_TEST

/* AUTO's choice, fallbacks and agreement across ranks over many sizes. */
START_TEST(test_algo_selection)
{
	int P = _i, pof2 = pow2_floor(P);
	size_t dss[] = {1, 2, 4, 8};
	size_t cnts[] = {1,
			 2,
			 (size_t)pof2 - 1,
			 (size_t)pof2,
			 (size_t)pof2 + 1,
			 100,
			 PC_RD_MAX_BYTES / 8,
			 PC_RD_MAX_BYTES / 8 + 1,
			 PC_RD_MAX_BYTES / 4,
			 PC_RD_MAX_BYTES / 4 + 1,
			 PC_RD_MAX_BYTES / 2 + 1,
			 PC_RD_MAX_BYTES,
			 PC_RD_MAX_BYTES + 1};
	for (size_t d = 0; d < NELEM(dss); d++)
		for (size_t c = 0; c < NELEM(cnts); c++) {
			if (cnts[c] == 0)
				continue;
			for (size_t a = 0; a < NELEM(algos); a++) {
				int want = expected_algo(P, cnts[c], dss[d], algos[a]);
				pc_sched_t s0;
				REQUIRE_EQ(build(&s0, P, 0, cnts[c], dss[d], algos[a]), 0);
				for (int i = 0; i < P; i++) {
					pc_sched_t s;
					REQUIRE_EQ(build(&s, P, i, cnts[c], dss[d], algos[a]), 0);
					REQUIRE(s.algo == want,
						"P=%d count=%zu ds=%zu algo %d: got %d, "
						"expected %d",
						P, cnts[c], dss[d], algos[a], s.algo, want);
					REQUIRE_EQ(s.rx_bytes, s0.rx_bytes);
					REQUIRE_EQ(s.nslots, s0.nslots);
					REQUIRE_EQ(s.count, cnts[c]);
					REQUIRE_EQ(s.dtsize, dss[d]);
					size_t sends = 0;
					for (size_t k = 0; k < s.nops; k++)
						sends += s.ops[k].kind == PC_OP_SEND;
					REQUIRE_EQ(sends, s.nsends);
					pc_sched_free(&s);
				}
				pc_sched_free(&s0);
			}
		}
	ck_assert_str_eq(pc_sched_algo_name(PC_ALGO_RD), "recursive-doubling");
	ck_assert_str_eq(pc_sched_algo_name(PC_ALGO_RSAG), "reduce-scatter-allgather");
	ck_assert_str_eq(pc_sched_algo_name(PC_ALGO_RING), "ring");
	ck_assert_str_eq(pc_sched_algo_name(PC_ALGO_PIPE), "pipelined-reduce-scatter-allgather");
	ck_assert_str_eq(pc_sched_algo_name(PC_ALGO_AUTO), "auto");
}
END_TEST

/* ---------------------------------------------------------- executor bits */

START_TEST(test_hdr_merge)
{
	pc_hdr_t a = {.round = 9, .contributions = 3, .staleness = -1, .flushed = 1};
	pc_hdr_t b = {.round = 9, .contributions = 4, .staleness = 2, .flushed = 0};
	pc_hdr_merge(&a, &b);
	REQUIRE_EQ(a.round, 9);
	REQUIRE_EQ(a.contributions, 7);
	REQUIRE_EQ(a.staleness, 2);
	REQUIRE_EQ(a.flushed, 1);
	pc_hdr_t c = {.round = 9, .contributions = 0, .staleness = -1, .flushed = 2};
	pc_hdr_merge(&a, &c);
	REQUIRE_EQ(a.contributions, 7);
	REQUIRE_EQ(a.staleness, 2);
	REQUIRE_EQ(a.flushed, 3);
	REQUIRE_EQ(sizeof(pc_hdr_t), PC_HDR_BYTES);
}
END_TEST

/* A message of another round in the slot is an error, not a silent sum. */
START_TEST(test_exec_wrong_round)
{
	sim_t sim;
	memset(&sim, 0, sizeof(sim));
	snprintf(sim.label, sizeof(sim.label), "wrong-round");
	sim.P = 2;
	sim.ds = 8;
	sim.count = 4;
	sim.data_bytes = 32;
	sim.res_bytes = PC_HDR_BYTES + 32;
	sim.deliver = DELIVER_LAZY_FIFO; /* nothing lands by itself */
	sim_rank_t rk[2];
	memset(rk, 0, sizeof(rk));
	sim.rk = rk;
	for (int i = 0; i < 2; i++) {
		rk[i].sim = &sim;
		rk[i].rank = i;
		rk[i].round = 3;
		REQUIRE_EQ(build(&rk[i].s, 2, i, 4, 8, PC_ALGO_RD), 0);
		rk[i].rx_bytes = rk[i].s.rx_bytes;
	}
	sim_rank_t *me = &rk[0];
	int64_t src[4] = {1, 2, 3, 4}, work[4], work2[4], res[8 + 4];
	char *rx = xcalloc(me->s.rx_bytes);
	uint64_t flags[64] = {0};
	pc_hdr_t hdr_tx[4];
	me->flags = flags;
	pc_exec_env_t env = {.buf = {src, work, work2, (char *)res + PC_HDR_BYTES, rx},
			     .res_hdr = (pc_hdr_t *)res,
			     .hdr_tx = hdr_tx,
			     .dt = PCOLL_INT64,
			     .send = sim_send,
			     .flag_ready = sim_flag_ready,
			     .tx_done = sim_tx_done,
			     .arg = me};
	pc_exec_t x;
	pc_hdr_t mine = {.round = 3, .contributions = 1, .staleness = 0};
	pc_exec_start(&x, &me->s, 3, &mine);
	REQUIRE_EQ(pc_exec_run(&x, &env), 0); /* blocked on the peer's data */
	REQUIRE_EQ(sim.npend, 1);
	/* Every flag shows round 3 (parity 1), but the message says round 1. */
	for (uint32_t k = 0; k < me->s.nslots; k++)
		flags[1 * me->s.nslots + k] = 2;
	int nred = 0;
	for (size_t k = 0; k < me->s.nops; k++)
		if (me->s.ops[k].kind == PC_OP_REDUCE) {
			pc_hdr_t old = {.round = 1, .contributions = 5};
			memcpy(rx + me->s.ops[k].rx_off, &old, sizeof(old));
			nred++;
		}
	REQUIRE_TRUE(nred > 0);
	int rc = pc_exec_run(&x, &env);
	REQUIRE_EQ(rc, PCOLL_ERR_INTERNAL);
	free(rx);
	free(sim.pend);
	free(sim.log);
	pc_sched_free(&rk[0].s);
	pc_sched_free(&rk[1].s);
}
END_TEST

/* ------------------------------------------------------------- activation */

START_TEST(test_act_nslots)
{
	for (long long P = 1; P <= 5000; P++)
		REQUIRE_EQ(pc_act_nslots((int)P), ceil_log2(P));
	for (int k = 1; k <= 30; k++) {
		long long p = 1LL << k;
		REQUIRE_EQ(pc_act_nslots((int)(p - 1)), ceil_log2(p - 1));
		REQUIRE_EQ(pc_act_nslots((int)p), k);
		REQUIRE_EQ(pc_act_nslots((int)(p + 1)), k + 1);
	}
	REQUIRE_EQ(pc_act_nslots(INT_MAX), 31);
}
END_TEST

START_TEST(test_act_tree)
{
	int P = _i, L = ceil_log2(P);
	int parent[MAXP], depth[MAXP], queue[MAXP];
	for (int init = 0; init < P; init++) {
		for (int i = 0; i < P; i++)
			parent[i] = -1;
		parent[init] = init;
		depth[init] = 0;
		int qh = 0, qt = 0, reached = 1, edges = 0;
		queue[qt++] = init;
		while (qh < qt) {
			int r = queue[qh++];
			int peers[32], slots[32];
			int n = pc_act_children(P, r, init, peers, slots);
			REQUIRE(n >= 0 && n <= L, "P=%d init=%d rank %d: %d children", P, init, r,
				n);
			for (int i = 0; i < n; i++) {
				int c = peers[i], m = slots[i];
				REQUIRE(c >= 0 && c < P && c != r, "P=%d init=%d: %d -> %d", P,
					init, r, c);
				REQUIRE(parent[c] == -1,
					"P=%d init=%d: %d reached again (from %d, before "
					"from %d)",
					P, init, c, r, parent[c]);
				REQUIRE(m >= 0 && m < L, "P=%d: slot %d", P, m);
				REQUIRE((((c - (1 << m)) % P) + P) % P == r,
					"P=%d init=%d: child %d in slot %d from %d", P, init, c, m,
					r);
				parent[c] = r;
				depth[c] = depth[r] + 1;
				REQUIRE(depth[c] <= L, "P=%d init=%d: %d at depth %d", P, init, c,
					depth[c]);
				queue[qt++] = c;
				reached++;
				edges++;
			}
		}
		REQUIRE(reached == P, "P=%d init=%d: %d reached", P, init, reached);
		REQUIRE_EQ(edges, P - 1);
	}
	/* The root of a binomial tree has a child at every distance 2^m < P. */
	if (P > 1) {
		int peers[32], slots[32];
		REQUIRE_EQ(pc_act_children(P, 0, 0, peers, slots), L);
	}
}
END_TEST

/* --------------------------------------------------------------- initiator */

START_TEST(test_initiator_range_deterministic)
{
	const uint64_t seeds[] = {0, 1, 42, UINT64_C(0xdeadbeefcafef00d), UINT64_MAX};
	for (size_t s = 0; s < NELEM(seeds); s++)
		for (int P = 1; P <= 100; P++)
			for (uint64_t r = 1; r <= 300; r++) {
				int a = pc_initiator(seeds[s], r, P);
				REQUIRE(a >= 0 && a < P, "seed %zu P=%d r=%" PRIu64 ": %d", s, P, r,
					a);
				REQUIRE_EQ(a, pc_initiator(seeds[s], r, P));
			}
	for (uint64_t r = 0; r < 100; r++)
		REQUIRE_EQ(pc_initiator(r * 977, r, 1), 0);
	int big[] = {INT_MAX, 1 << 30, 1000003};
	for (size_t b = 0; b < NELEM(big); b++)
		for (uint64_t r = 1; r < 1000; r++) {
			int a = pc_initiator(7, r, big[b]);
			REQUIRE_TRUE(a >= 0 && a < big[b]);
		}
}
END_TEST

START_TEST(test_initiator_seeds_differ)
{
	/* Neighbouring and distant seeds give different sequences of 64 rounds. */
	int same_pairs = 0;
	for (uint64_t s = 0; s < 200; s++) {
		uint64_t t[] = {s + 1, s ^ (1ULL << 63), s * 0x100000001ULL + 12345};
		for (size_t k = 0; k < NELEM(t); k++) {
			if (t[k] == s)
				continue;
			int diff2 = 0, diff5 = 0;
			for (uint64_t r = 1; r <= 64; r++) {
				diff2 |= pc_initiator(s, r, 2) != pc_initiator(t[k], r, 2);
				diff5 |= pc_initiator(s, r, 5) != pc_initiator(t[k], r, 5);
			}
			REQUIRE(diff2 && diff5, "seeds %" PRIu64 " and %" PRIu64 " agree", s, t[k]);
		}
		/* Per round, two seeds agree about 1/P of the time, not always. */
		int agree = 0;
		for (uint64_t r = 1; r <= 1000; r++)
			agree += pc_initiator(s, r, 8) == pc_initiator(s + 1, r, 8);
		same_pairs += agree > 250;
	}
	REQUIRE_EQ(same_pairs, 0);
}
END_TEST

static double chi2(const long *obs, int n, double expect)
{
	double x = 0;
	for (int i = 0; i < n; i++)
		x += (obs[i] - expect) * (obs[i] - expect) / expect;
	return x;
}

START_TEST(test_initiator_uniform)
{
	/* Over rounds, P=5, 100k rounds: chi-square with 4 degrees of freedom. A
	 * bound of 40 has a false-alarm probability below 1e-7 for a uniform
	 * source, and the inputs are fixed, so the test is deterministic. */
	long obs[64];
	const uint64_t seeds[] = {0, 3, UINT64_C(0x123456789)};
	for (size_t s = 0; s < NELEM(seeds); s++) {
		memset(obs, 0, sizeof(obs));
		for (uint64_t r = 1; r <= 100000; r++)
			obs[pc_initiator(seeds[s], r, 5)]++;
		double x = chi2(obs, 5, 20000.0);
		REQUIRE(x < 40.0, "seed %zu: chi2 %.1f over rounds", s, x);
	}
	/* Over seeds at a fixed round. */
	memset(obs, 0, sizeof(obs));
	for (uint64_t s = 0; s < 100000; s++)
		obs[pc_initiator(s, 1, 5)]++;
	REQUIRE(chi2(obs, 5, 20000.0) < 40.0, "chi2 over seeds");
	/* Consecutive rounds independent: pairs over 25 cells (24 dof). */
	memset(obs, 0, sizeof(obs));
	int prev = pc_initiator(11, 1, 5);
	for (uint64_t r = 2; r <= 100001; r++) {
		int a = pc_initiator(11, r, 5);
		obs[prev * 5 + a]++;
		prev = a;
	}
	REQUIRE(chi2(obs, 25, 4000.0) < 90.0, "chi2 of pairs");
	/* Other P, looser: dof + 10 sqrt(2 dof) + 20. */
	int Ps[] = {2, 3, 7, 64};
	for (size_t k = 0; k < NELEM(Ps); k++) {
		memset(obs, 0, sizeof(obs));
		long n = 2000L * Ps[k];
		for (long r = 1; r <= n; r++)
			obs[pc_initiator(99, (uint64_t)r, Ps[k])]++;
		double dof = Ps[k] - 1;
		REQUIRE(chi2(obs, Ps[k], 2000.0) < dof + 10 * sqrt(2 * dof) + 20, "P=%d chi2",
			Ps[k]);
	}
}
END_TEST

/* ------------------------------------------------------------------ suite */

static Suite *sched_suite(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = tcase_create("build");
	tcase_add_test(tc, test_build_rejects);
	tcase_add_test(tc, test_blocks_and_fold);
	tcase_add_loop_test(tc, test_algo_selection, 1, MAXP + 1);
	tcase_add_loop_test(tc, test_rx_alignment, 1, MAXP + 1);
	tcase_add_loop_test(tc, test_layout_assumptions, 1, MAXP + 1);
	tcase_add_test(tc, test_hdr_merge);
	tcase_add_test(tc, test_exec_wrong_round);
	suite_add_tcase(s, tc);

	tc = tcase_create("allreduce");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_allreduce_int64_eager, 1, MAXP + 1);
	tcase_add_loop_test(tc, test_allreduce_int64_lazy, 1, MAXP + 1);
	tcase_add_loop_test(tc, test_allreduce_f32_int_eager, 1, MAXP + 1);
	tcase_add_loop_test(tc, test_allreduce_f32_int_lazy, 1, MAXP + 1);
	tcase_add_loop_test(tc, test_allreduce_f32_random_identical, 1, MAXP + 1);
	tcase_add_loop_test(tc, test_allreduce_many_orders, 1, MAXP + 1);
	tcase_add_loop_test(tc, test_pipe_segments, 1, MAXP + 1);
	tcase_add_loop_test(tc, test_allreduce_completion_any_order, 1, MAXP + 1);
	tcase_add_loop_test(tc, test_allreduce_split_reduce, 1, MAXP + 1);
	suite_add_tcase(s, tc);

	tc = tcase_create("activation");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_act_nslots);
	tcase_add_loop_test(tc, test_act_tree, 1, MAXP + 1);
	tcase_add_test(tc, test_initiator_range_deterministic);
	tcase_add_test(tc, test_initiator_seeds_differ);
	tcase_add_test(tc, test_initiator_uniform);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sched_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
