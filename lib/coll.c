/* The collective's public API: create, step, next_round, flush, destroy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "activation.h"
#include "pcoll_internal.h"
#include "reduce.h"
#include "trace.h"

size_t pcoll_datatype_size(pcoll_datatype_t dt)
{
	return pc_dt_size(dt);
}

const char *pcoll_datatype_name(pcoll_datatype_t dt)
{
	static const char *n[] = {"float32", "float64", "float16", "bfloat16", "int32", "int64"};
	return (unsigned)dt < PCOLL_DATATYPE_COUNT ? n[dt] : "invalid";
}

const char *pcoll_mode_name(pcoll_mode_t m)
{
	static const char *n[] = {"sync", "solo", "majority", "quorum"};
	return (unsigned)m < PCOLL_MODE_COUNT ? n[m] : "invalid";
}

void pcoll_attr_init(pcoll_attr_t *attr)
{
	if (!attr)
		return;
	memset(attr, 0, sizeof(*attr));
	attr->size = sizeof(*attr);
	attr->mode = PCOLL_SYNC;
	attr->quorum = 0;
	attr->staleness = 2;
	attr->seed = 0x5eed;
}

/* What every process publishes at create: its parameters and its region. */
typedef struct {
	uint64_t count, seed;
	int32_t dt, mode, quorum, staleness;
	int32_t algo;	/* the schedule chosen: PCOLL_ALGORITHM may differ by process */
	uint32_t nseg;	/* and its segments (PCOLL_SEGMENT_BYTES likewise) */
	int32_t err;	/* nonzero: this process rejected its own arguments */
	uint32_t id;	/* its id of the collective: the CQ data of writes to it */
	uint32_t bells; /* it wants its doorbell rung (engine.c, PC_BELLS) */
	pc_tp_rkey_t rkey, vkey;
} create_blob_t;

/* The smallest reduction run outside the engine lock by default: 64 KiB is
 * a few microseconds of summing, against some 50 ns for the unlock and
 * relock. */
#define UNLOCKED_REDUCE_BYTES (64 << 10)

static int check_args(pcoll_ctx_t *ctx, size_t count, pcoll_datatype_t dt, const pcoll_attr_t *a)
{
	int P = a->team ? a->team->size : ctx->size; /* the team's ctx is checked by create */
	if (count == 0)
		return pc_error(PCOLL_ERR_INVAL, "rank %d: count is 0", ctx->rank);
	if ((unsigned)dt >= PCOLL_DATATYPE_COUNT)
		return pc_error(PCOLL_ERR_INVAL, "rank %d: invalid datatype %d", ctx->rank,
				(int)dt);
	if ((unsigned)a->mode >= PCOLL_MODE_COUNT)
		return pc_error(PCOLL_ERR_INVAL, "rank %d: invalid mode %d", ctx->rank,
				(int)a->mode);
	if (a->staleness < 0 || a->staleness > PCOLL_STALENESS_MAX)
		return pc_error(PCOLL_ERR_INVAL, "rank %d: staleness %d outside [0, %d]", ctx->rank,
				a->staleness, PCOLL_STALENESS_MAX);
	if (a->mode == PCOLL_QUORUM && (a->quorum < 1 || a->quorum > P))
		return pc_error(PCOLL_ERR_INVAL, "rank %d: quorum %d outside [1, %d]", ctx->rank,
				a->quorum, P);
	if (count > ((size_t)1 << 40) / pc_dt_size(dt))
		return pc_error(PCOLL_ERR_INVAL, "rank %d: count %zu too large", ctx->rank, count);
	return 0;
}

#define HUGE_BYTES (2u << 20)

static int layout(pcoll_coll_t *c)
{
	int P = c->P, L = pc_act_nslots(P);
	size_t off = 0;
	c->flags_off = off;
	off = PC_ALIGN64(off + 2 * (size_t)c->sched.nslots * 8);
	c->hdrtx_off = off;
	/* Sized by slots, not by this rank's sends: the layout must be the same on
	 * every rank, since peers compute offsets into it. */
	off = PC_ALIGN64(off + (size_t)c->sched.nslots * PC_HDR_BYTES);
	c->rx_off[0] = off;
	off = PC_ALIGN64(off + c->sched.rx_bytes);
	c->rx_off[1] = c->rx_off[0]; /* rounds share one area unless the schedule says */
	if (c->sched.rx_areas == 2) {
		c->rx_off[1] = off;
		off = PC_ALIGN64(off + c->sched.rx_bytes);
	}
	c->res_stride = PC_ALIGN64(PC_HDR_BYTES + c->nbytes);
	c->res_off = off;
	off += c->res_stride * c->nslots_res;
	for (int p = 0; p < 2; p++) {
		c->pend_off[p] = off;
		off = PC_ALIGN64(off + c->nbytes);
	}
	/* Only recursive doubling needs scratch: the others reduce into RES. */
	size_t scratch = c->sched.algo == PC_ALGO_RD && c->P > 1 ? c->nbytes : 0;
	c->work_off = off;
	off = PC_ALIGN64(off + scratch);
	c->work2_off = off;
	off = PC_ALIGN64(off + scratch);
	c->memlen = (off + 4095) & ~(size_t)4095;
	/* Transparent huge pages for a region of 2 MiB or more (where the
	 * kernel's policy is "madvise"): fewer pages for the CPU to translate
	 * and for shm's single-copy path to pin, in every round. A hint: where
	 * the kernel refuses it the region stays on small pages. Only whole
	 * huge pages inside the region are advised, so that none reaches past
	 * its end: resident memory stays within memlen. */
	int huge = c->ctx->hugepages && c->memlen >= HUGE_BYTES;
	if (posix_memalign((void **)&c->mem, huge ? HUGE_BYTES : 4096, c->memlen))
		return pc_error(PCOLL_ERR_NOMEM, "collective of %zu bytes: out of memory",
				c->memlen);
	if (huge)
		(void)madvise(c->mem, c->memlen & ~(size_t)(HUGE_BYTES - 1), MADV_HUGEPAGE);
	memset(c->mem, 0, c->memlen);
	c->flags = (volatile uint64_t *)(c->mem + c->flags_off);
	/* The value slots (activations, quorum arrivals, flush epochs) are written
	 * by peers with injected writes nobody waits for: they live in their own
	 * small region, which outlives the collective until pcoll_finalize, so a
	 * late write never meets a deregistered key. */
	size_t voff = 0;
	c->act_off = voff; /* L tree slots + 1 fold poke slot, 16 bytes each */
	voff = PC_ALIGN64(voff + (size_t)(L + 1) * 16);
	c->arrival_off = voff;
	voff = PC_ALIGN64(voff + (size_t)P * 8);
	c->flushslot_off = voff;
	voff = PC_ALIGN64(voff + (size_t)P * 8);
	c->vmemlen = (voff + 4095) & ~(size_t)4095;
	if (posix_memalign((void **)&c->vmem, 4096, c->vmemlen))
		return pc_error(PCOLL_ERR_NOMEM, "out of memory");
	memset(c->vmem, 0, c->vmemlen);
	c->act = (volatile uint64_t *)(c->vmem + c->act_off);
	c->arrival = (volatile uint64_t *)(c->vmem + c->arrival_off);
	c->flushslot = (volatile uint64_t *)(c->vmem + c->flushslot_off);
	c->act_seen = calloc((size_t)L + 1, sizeof(uint64_t));
	return c->act_seen ? 0 : pc_error(PCOLL_ERR_NOMEM, "out of memory");
}

static int send_cb(void *arg, const pc_op_t *op, const struct iovec *iov, int n, uint64_t round);
static int flag_cb(void *arg, uint32_t slot, uint64_t round);
static uint64_t txdone_cb(void *arg);

static int ctx_table_add(pcoll_ctx_t *ctx, pcoll_coll_t *c)
{
	uint32_t id = 0;
	while (id < ctx->ncolls_cap && ctx->colls[id])
		id++;
	if (id == ctx->ncolls_cap) {
		uint32_t ncap = ctx->ncolls_cap ? 2 * ctx->ncolls_cap : 8;
		pcoll_coll_t **n = realloc(ctx->colls, ncap * sizeof(*n));
		if (!n)
			return pc_error(PCOLL_ERR_NOMEM, "out of memory");
		memset(n + ctx->ncolls_cap, 0, (ncap - ctx->ncolls_cap) * sizeof(*n));
		ctx->colls = n;
		ctx->ncolls_cap = ncap;
	}
	if (id >= PC_TEAM_ID_BIT)
		return pc_error(PCOLL_ERR_NOMEM, "more than 2^23 live collectives");
	c->id = id;
	ctx->colls[id] = c;
	return 0;
}

void pc_coll_release_fabric(pcoll_coll_t *c)
{
	if (c->mr) {
		pc_tp_mr_dereg(c->mr);
		c->mr = NULL;
	}
	if (c->vmr) {
		pc_tp_mr_dereg(c->vmr);
		c->vmr = NULL;
	}
}

/* Keep a destroyed collective's value region registered until the team's
 * next exchange (pc_team_reap): peers may still inject into it. */
static void retire_values(pcoll_coll_t *c)
{
	pc_retired_t *t = malloc(sizeof(*t));
	if (!t)
		return; /* then it is simply deregistered now */
	t->mr = c->vmr;
	t->mem = c->vmem;
	t->next = c->team->retired;
	c->team->retired = t;
	c->vmr = NULL;
	c->vmem = NULL;
}

void pc_coll_free(pcoll_coll_t *c)
{
	pc_coll_release_fabric(c);
	while (c->spill_head) {
		pc_spill_t *n = c->spill_head->next;
		free(c->spill_head);
		c->spill_head = n;
	}
	free(c->given_spill);
	pc_sched_free(&c->sched);
	free(c->rkeys);
	free(c->vkeys);
	free(c->peer_ids);
	free(c->peer_bells);
	free(c->act_seen);
	free(c->mem);
	free(c->vmem);
	free(c);
}

static const char *describe(const create_blob_t *b, char *buf, size_t len)
{
	snprintf(buf, len,
		 "count=%llu datatype=%s mode=%s quorum=%d staleness=%d seed=%llu algorithm=%s "
		 "segments=%u",
		 (unsigned long long)b->count, pcoll_datatype_name(b->dt), pcoll_mode_name(b->mode),
		 b->quorum, b->staleness, (unsigned long long)b->seed, pc_sched_algo_name(b->algo),
		 b->nseg);
	return buf;
}

int pcoll_allreduce_create(pcoll_ctx_t *ctx, size_t count, pcoll_datatype_t dt,
			   const pcoll_attr_t *attr_in, pcoll_coll_t **out)
{
	pc_error_clear();
	if (!ctx || !out)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_allreduce_create: %s is NULL",
				ctx ? "coll pointer" : "ctx");
	*out = NULL;
	if (ctx->finalized)
		return pc_error(PCOLL_ERR_FINALIZED, "pcoll_allreduce_create: context finalized");
	/* A caller built against an older header passes a shorter struct: the
	 * fields it did not know keep their defaults. */
	pcoll_attr_t attr;
	pcoll_attr_init(&attr);
	int bad_size = 0;
	if (attr_in && (attr_in->size < PC_ATTR_SIZE_MIN || attr_in->size > sizeof(attr)))
		bad_size = pc_error(PCOLL_ERR_INVAL,
				    "pcoll_allreduce_create: attr.size is %zu: fill the "
				    "attributes with pcoll_attr_init() first",
				    attr_in->size);
	else if (attr_in)
		memcpy(&attr, attr_in, attr_in->size);
	if (attr.mode == PCOLL_SYNC)
		attr.staleness = 0;
	if (attr.mode != PCOLL_QUORUM)
		attr.quorum = 0;

	/* The team decides who takes part in the exchange: without a valid one
	 * there is nobody to tell, so that error is local. */
	if (!bad_size && attr.team && attr.team->ctx != ctx)
		return pc_error(PCOLL_ERR_INVAL,
				"pcoll_allreduce_create: attr.team belongs to another context");
	pcoll_team_t *team = bad_size || !attr.team ? ctx->world : attr.team;
	pthread_mutex_lock(&ctx->lock);
	const char *fmsg;
	int failed = pc_team_failed(team, &fmsg);
	int rc = failed ? pc_error(failed, "pcoll_allreduce_create: %s", fmsg) : 0;
	pthread_mutex_unlock(&ctx->lock);
	if (rc)
		return rc;
	/* Bad arguments still take part in the exchange, so that every process
	 * learns of them instead of waiting for this one. */
	int local = bad_size ? bad_size : check_args(ctx, count, dt, &attr);
	char why[256] = "";
	pcoll_coll_t *c = NULL;
	create_blob_t mine = {.count = count,
			      .seed = attr.seed,
			      .dt = (int32_t)dt,
			      .mode = (int32_t)attr.mode,
			      .quorum = attr.quorum,
			      .staleness = attr.staleness};
	pthread_mutex_lock(&ctx->lock);
	if (!local) {
		c = calloc(1, sizeof(*c));
		if (!c)
			local = pc_error(PCOLL_ERR_NOMEM, "out of memory");
	}
	if (!local) {
		c->ctx = ctx;
		c->count = count;
		c->dt = dt;
		c->dtsize = pc_dt_size(dt);
		c->nbytes = count * c->dtsize;
		c->attr = attr;
		c->team = team;
		c->P = team->size;
		c->rank = team->rank;
		c->nslots_res = (uint32_t)attr.staleness + 1;
		int algo = PC_ALGO_AUTO;
		const char *a = getenv("PCOLL_ALGORITHM");
		if (a && !strcmp(a, "rd"))
			algo = PC_ALGO_RD;
		else if (a && !strcmp(a, "rsag"))
			algo = PC_ALGO_RSAG;
		else if (a && !strcmp(a, "ring"))
			algo = PC_ALGO_RING;
		else if (a && !strcmp(a, "pipe"))
			algo = PC_ALGO_PIPE;
		else if (a && *a && strcmp(a, "auto"))
			/* Taken part in the exchange like a bad argument: with the
			 * same environment every process fails with this. */
			local = pc_error(
			    PCOLL_ERR_INVAL,
			    "PCOLL_ALGORITHM=%s: expected rd, rsag, ring, pipe or auto", a);
		int seg = 0;
		if (!local && pc_env_int("PCOLL_SEGMENT_BYTES", 64, 1L << 30, &seg) < 0)
			local = pc_env_error("PCOLL_SEGMENT_BYTES", "bytes, 64 to 2^30");
		/* Reductions this large run outside the engine lock (engine.c),
		 * where another thread may want it: the progress thread, or the
		 * caller's others. A local choice: processes may differ. */
		int split = UNLOCKED_REDUCE_BYTES;
		if (!local && pc_env_int("PCOLL_UNLOCKED_REDUCE_BYTES", 0, 1L << 30, &split) < 0)
			local =
			    pc_env_error("PCOLL_UNLOCKED_REDUCE_BYTES", "bytes, 0 (never) to 2^30");
		if (!ctx->thread_started && ctx->cfg.thread_level != PCOLL_THREAD_MULTIPLE)
			split = 0;
		c->env.split_bytes = (size_t)split;
		/* Doorbells (counter path, every mode but sync): an idle collective
		 * leaves the active queue, and the peers ring it awake, at one more
		 * small write per round it learns of without an activation. Off, it
		 * stays in the queue while it waits (a visit per progress pass). A
		 * local choice: each process tells the others at this exchange. */
		int bells = 1;
		if (!local && pc_env_int("PCOLL_DOORBELLS", 0, 1, &bells) < 0)
			local = pc_env_error("PCOLL_DOORBELLS", "0 or 1");
		c->bells = bells && ctx->notify_cntr && attr.mode != PCOLL_SYNC;
		mine.bells = (uint32_t)c->bells;
		/* Test hook: a reduction outside the lock takes this much longer,
		 * so that tests meet the windows it opens. */
		if (!local &&
		    pc_env_int("PCOLL_FAULT_REDUCE_DELAY_US", 0, 1000000, &c->fault_delay_us) < 0)
			local =
			    pc_env_error("PCOLL_FAULT_REDUCE_DELAY_US", "microseconds, 0 to 10^6");
		if (!local)
			local = pc_sched_build(&c->sched, c->P, c->rank, count, c->dtsize, algo,
					       (size_t)seg);
		if (!local) {
			mine.algo = c->sched.algo;
			mine.nseg = c->sched.nseg;
			local = layout(c);
		}
		if (!local)
			local = pc_tp_mr_reg(ctx->tp, c->mem, c->memlen, ++ctx->next_mr_key, &c->mr,
					     &mine.rkey);
		if (!local)
			local = pc_tp_mr_reg(ctx->tp, c->vmem, c->vmemlen, ++ctx->next_mr_key,
					     &c->vmr, &mine.vkey);
		if (!local)
			local = ctx_table_add(ctx, c);
		if (!local)
			mine.id = c->id;
	}
	mine.err = local;
	if (local)
		snprintf(why, sizeof(why), "%s", pcoll_last_error());
	pc_retired_t *reapable = team->retired;
	pthread_mutex_unlock(&ctx->lock);

	int P = team->size;
	create_blob_t *all = calloc((size_t)P, sizeof(*all));
	rc = all ? pc_team_allgather(team, PC_X_CREATE, &mine, sizeof(mine), all)
		 : pc_error(PCOLL_ERR_NOMEM, "out of memory");
	if (!rc) {
		pthread_mutex_lock(&ctx->lock);
		pc_team_reap(team, reapable);
		pthread_mutex_unlock(&ctx->lock);
	}
	if (!rc && local)
		rc = pc_error(local, "%s", why);
	for (int r = 0; !rc && r < P; r++) {
		char b1[160], b2[160];
		if (all[r].err)
			rc = pc_error(PCOLL_ERR_MISMATCH,
				      "team rank %d (job rank %d) rejected its arguments (%s): %s",
				      r, team->members[r], pcoll_strerror(all[r].err),
				      describe(&all[r], b1, sizeof(b1)));
		else if (all[r].count != mine.count || all[r].dt != mine.dt ||
			 all[r].mode != mine.mode || all[r].quorum != mine.quorum ||
			 all[r].staleness != mine.staleness || all[r].seed != mine.seed ||
			 all[r].algo != mine.algo || all[r].nseg != mine.nseg)
			rc = pc_error(
			    PCOLL_ERR_MISMATCH,
			    "team rank %d (job rank %d) has %s; team rank %d (job rank %d) "
			    "has %s",
			    r, team->members[r], describe(&all[r], b1, sizeof(b1)), team->rank,
			    ctx->rank, describe(&mine, b2, sizeof(b2)));
	}
	if (!rc) {
		c->rkeys = calloc((size_t)P, sizeof(pc_tp_rkey_t));
		c->vkeys = calloc((size_t)P, sizeof(pc_tp_rkey_t));
		c->peer_ids = calloc((size_t)P, sizeof(uint32_t));
		c->peer_bells = calloc((size_t)P, 1);
		if (!c->rkeys || !c->vkeys || !c->peer_ids || !c->peer_bells)
			rc = pc_error(PCOLL_ERR_NOMEM, "out of memory");
		for (int r = 0; !rc && r < P; r++) {
			c->rkeys[r] = all[r].rkey;
			c->vkeys[r] = all[r].vkey;
			c->peer_ids[r] = all[r].id;
			c->peer_bells[r] = all[r].bells != 0;
		}
	}
	free(all);
	if (rc) {
		if (c) {
			pthread_mutex_lock(&ctx->lock);
			if (c->mr && ctx->colls[c->id] == c)
				ctx->colls[c->id] = NULL;
			pthread_mutex_unlock(&ctx->lock);
			pc_coll_free(c);
		}
		return rc;
	}
	pc_rs_init(&c->rs, attr.mode, c->P, c->rank, attr.staleness, attr.quorum, attr.seed);
	c->env.hdr_tx = (pc_hdr_t *)(c->mem + c->hdrtx_off);
	c->env.buf[PC_BUF_WORK] = c->mem + c->work_off;
	c->env.buf[PC_BUF_WORK2] = c->mem + c->work2_off;
	c->env.dt = dt;
	c->env.send = send_cb;
	c->env.flag_ready = flag_cb;
	c->env.tx_done = txdone_cb;
	c->env.arg = c;
	pthread_mutex_lock(&ctx->lock);
	ctx->live_colls++;
	team->ncolls++;
	c->ready = 1;
	pc_engine_activate(c); /* peers' writes may have come before */
	pthread_mutex_unlock(&ctx->lock);
	*out = c;
	return 0;
}

/* ---- executor callbacks: map schedule slots onto this collective's region */

static int send_cb(void *arg, const pc_op_t *op, const struct iovec *iov, int n, uint64_t round)
{
	pcoll_coll_t *c = arg;
	uint64_t par = round & 1;
	uint64_t off = op->dst_buf == PC_BUF_RX
			   ? c->rx_off[par] + op->dst_off
			   : c->res_off + (round % c->nslots_res) * c->res_stride + op->dst_off;
	uint64_t idx = par * c->sched.nslots + op->flag;
	c->tx_posted++;
	int rc = pc_tp_put(c->ctx->tp, c->team->members[op->peer], iov, n, c->mr,
			   &c->rkeys[op->peer], off, c->flags_off + idx * 8, (round + 1) / 2,
			   pc_cq_encode(c->peer_ids[op->peer], PC_CQ_KIND_COUNT, idx), &c->tx_done);
	return rc ? rc : pc_engine_sent(c, op->peer, round);
}

/* Every round of one parity writes each receive slot exactly once, so the
 * flag counts those rounds: (round+1)/2 once round's write has landed. */
static int flag_cb(void *arg, uint32_t slot, uint64_t round)
{
	pcoll_coll_t *c = arg;
	uint64_t idx = (round & 1) * c->sched.nslots + slot;
	return pc_remote_load(&c->flags[idx]) >= (round + 1) / 2;
}

static uint64_t txdone_cb(void *arg)
{
	pcoll_coll_t *c = arg;
	return c->tx_done - c->tx_round_base;
}

/* ---- public calls ------------------------------------------------------ */

static int enter(pcoll_coll_t *c, const char *fn)
{
	pc_error_clear();
	if (!c)
		return pc_error(PCOLL_ERR_INVAL, "%s: coll is NULL", fn);
	if (c->dead)
		return pc_error(PCOLL_ERR_FINALIZED, "%s: the context was finalized", fn);
	return 0;
}

/* The user's previous round pointer is no longer valid: its buffer may be reused. */
static void release_given(pcoll_coll_t *c)
{
	c->given_round = 0;
	free(c->given_spill);
	c->given_spill = NULL;
}

int pc_coll_failed(const pcoll_coll_t *c, const char **msg)
{
	if (!c->error)
		return pc_team_failed(c->team, msg);
	if (msg)
		*msg = c->errmsg;
	return c->error;
}

static int sticky(pcoll_coll_t *c)
{
	const char *msg;
	int e = pc_coll_failed(c, &msg);
	if (!e)
		return 0;
	return pc_error(e, "team rank %d (job rank %d): collective failed: %s", c->rank,
			c->ctx->rank, msg);
}

/* Rounds the user may take now: up to the final round of the last flush
 * until the user steps or flushes again (an epoch boundary every process sees
 * at the same round, whatever eager peers start meanwhile). */
static uint64_t give_limit(const pcoll_coll_t *c)
{
	if (c->epoch_end && c->rs.version <= c->epoch_end)
		return c->epoch_end < c->rs.completed ? c->epoch_end : c->rs.completed;
	return c->rs.completed;
}

uint64_t pc_coll_ready_rounds(const pcoll_coll_t *c)
{
	return give_limit(c) - c->rs.version;
}

/* The user starts a new epoch: rounds after the last final round are theirs. */
static void open_epoch(pcoll_coll_t *c)
{
	if (c->epoch_end && c->rs.version >= c->epoch_end)
		c->epoch_end = 0;
}

static int step_post(pcoll_coll_t *c, const void *g, int may_borrow)
{
	int rc = enter(c, "pcoll_step");
	if (rc)
		return rc;
	if (!g)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_step: contribution is NULL");
	pthread_mutex_lock(&c->ctx->lock);
	release_given(c);
	if ((rc = sticky(c)))
		goto out;
	if (c->step_posted) {
		rc = pc_error(PCOLL_ERR_STATE, "pcoll_step_post: previous step not completed "
					       "(call pcoll_test until it returns >= 1)");
		goto out;
	}
	if (c->flush_posted) {
		rc = pc_error(PCOLL_ERR_STATE, "pcoll_step: a flush is in progress");
		goto out;
	}
	open_epoch(c);
	/* Zero copy: a blocking step whose contribution goes straight into the
	 * round it waits for lends its buffer to that round instead of copying
	 * it into the pending accumulator (the step returns only after the
	 * round's sends from it completed). */
	int borrow = may_borrow && c->rs.pend_count == 0 && !c->rs.in_round &&
		     c->rs.completed == c->rs.version && !c->ctx->mr_local;
	int action = pc_rs_arrive(&c->rs);
	c->step_target = c->rs.version + 1;
	c->step_posted = 1;
	c->step_blocking = may_borrow; /* pcoll_step: it waits inside pcoll */
	c->zero_copy = 0;
	pc_coll_arrive_actions(c, action);
	c->lend = NULL;
	if (borrow && !c->error && pc_coll_join_now(c, g)) {
		c->zero_copy = 1;
	} else if (borrow && !c->error) {
		/* Round v+1 cannot start yet (our last sends are in flight, it is
		 * not triggered, or the result ring is full), but it is the next
		 * this process joins, and the step blocks until it completes: the
		 * engine joins it with the caller's buffer, no copy. */
		c->lend = g;
	} else {
		char *pend = c->mem + c->pend_off[c->pend_cur];
		if (c->rs.pend_count == 1)
			memcpy(pend, g, c->nbytes);
		else
			pc_reduce_sum(c->dt, pend, pend, g, c->count);
	}
	rc = sticky(c);
	if (!may_borrow) /* pcoll_step_post: pcoll_step records itself, with its wait */
		PC_TRACE(c->ctx, pc_trace_call(c, PC_TRACE_POST, 0, rc));
out:
	pthread_mutex_unlock(&c->ctx->lock);
	return rc;
}

int pcoll_step_post(pcoll_coll_t *c, const void *g)
{
	return step_post(c, g, 0);
}

/* The blocked step's caller leaves the wait: other callers' engines may
 * join rounds with nothing again (engine.c, empty_join_waits). */
static void step_left(pcoll_coll_t *c)
{
	if (c->step_returning) {
		c->step_returning = 0;
		c->ctx->returning--;
	}
}

static int step_done(pcoll_coll_t *c)
{
	int done =
	    c->rs.completed >= c->step_target && (!c->zero_copy || c->tx_done == c->tx_posted);
	if (done)
		step_left(c); /* at once, not after the caller relocks */
	return done;
}

int pcoll_test(pcoll_coll_t *c)
{
	int rc = enter(c, "pcoll_test");
	if (rc)
		return rc;
	pthread_mutex_lock(&c->ctx->lock);
	release_given(c);
	rc = sticky(c);
	if (!rc && !c->step_posted)
		rc = pc_error(PCOLL_ERR_STATE, "pcoll_test: no step posted");
	if (!rc) {
		c->ctx->polling++; /* a user call: rounds it cannot take are kept */
		rc = pc_engine_progress(c->ctx);
		c->ctx->polling--;
		rc = rc < 0 ? rc : sticky(c);
		if (!rc && step_done(c)) {
			c->step_posted = 0;
			rc = (int)pc_coll_ready_rounds(c);
		}
	}
	pthread_mutex_unlock(&c->ctx->lock);
	return rc;
}

int pcoll_step(pcoll_coll_t *c, const void *g)
{
	uint64_t t0 = pc_trace_begin(c);
	int rc = step_post(c, g, 1);
	if (rc)
		return rc;
	rc = pc_engine_wait(c->ctx, c, step_done);
	pthread_mutex_lock(&c->ctx->lock);
	c->step_blocking = 0;
	step_left(c); /* the wait may have failed before step_done */
	if (c->lend) {
		/* Not joined (the wait failed): the contribution is pending, as
		 * it would be without the loan. */
		memcpy(c->mem + c->pend_off[c->pend_cur], c->lend, c->nbytes);
		c->lend = NULL;
	}
	c->step_posted = 0;
	c->zero_copy = 0;
	if (!rc)
		rc = (int)pc_coll_ready_rounds(c);
	PC_TRACE(c->ctx, pc_trace_call(c, PC_TRACE_STEP, t0, rc));
	pthread_mutex_unlock(&c->ctx->lock);
	return rc;
}

/* Both ways of taking a round. With out, the data is copied while the lock
 * holds the buffer, and the buffer is released at once: the caller keeps its
 * copy, so nothing needs to outlive this call. */
static int take_round(pcoll_coll_t *c, pcoll_round_t *round, void *out, const char *fn)
{
	int rc = enter(c, fn);
	if (rc)
		return rc;
	if (!round)
		return pc_error(PCOLL_ERR_INVAL, "%s: round is NULL", fn);
	pthread_mutex_lock(&c->ctx->lock);
	release_given(c);
	if (c->rs.version == give_limit(c)) {
		pthread_mutex_unlock(&c->ctx->lock);
		return 0;
	}
	uint64_t r = c->rs.version + 1;
	const pc_hdr_t *h;
	if (c->spill_head && c->spill_first == r) {
		pc_spill_t *s = c->spill_head;
		c->spill_head = s->next;
		if (!c->spill_head)
			c->spill_tail = NULL;
		c->spill_first++;
		c->nspill--;
		c->given_spill = s;
		h = &s->hdr;
		round->data = s->data;
	} else {
		char *slot = c->mem + c->res_off + (r % c->nslots_res) * c->res_stride;
		h = (const pc_hdr_t *)slot;
		round->data = slot + PC_HDR_BYTES;
		c->given_round = r;
	}
	round->index = h->round;
	round->contributions = h->contributions;
	round->staleness = h->staleness;
	round->flushed = (uint32_t)h->flushed;
	round->final = h->flushed == (uint64_t)c->P;
	c->rs.version = r;
	rc = h->round == r ? 1
			   : pc_error(PCOLL_ERR_INTERNAL, "round buffer holds %llu, expected %llu",
				      (unsigned long long)h->round, (unsigned long long)r);
	if (out) {
		memcpy(out, round->data, c->nbytes);
		round->data = out;
		release_given(c);
	}
	pthread_mutex_unlock(&c->ctx->lock);
	return rc;
}

int pcoll_next_round(pcoll_coll_t *c, pcoll_round_t *round)
{
	return take_round(c, round, NULL, "pcoll_next_round");
}

int pcoll_next_round_into(pcoll_coll_t *c, void *out, pcoll_round_t *round)
{
	if (!out) {
		pc_error_clear();
		return pc_error(PCOLL_ERR_INVAL, "pcoll_next_round_into: out is NULL");
	}
	return take_round(c, round, out, "pcoll_next_round_into");
}

int pcoll_flush_post(pcoll_coll_t *c)
{
	int rc = enter(c, "pcoll_flush");
	if (rc)
		return rc;
	pthread_mutex_lock(&c->ctx->lock);
	release_given(c);
	if ((rc = sticky(c)))
		goto out;
	if (c->step_posted) {
		rc = pc_error(PCOLL_ERR_STATE, "pcoll_flush: a posted step is not completed");
		goto out;
	}
	if (!c->flush_posted) {
		open_epoch(c);
		c->flush_posted = 1;
		c->flush_epoch_target = c->rs.epoch + 1;
		pc_rs_flush(&c->rs);
		pc_coll_send_flush(c);
	}
	rc = sticky(c);
out:
	pthread_mutex_unlock(&c->ctx->lock);
	return rc;
}

static int flush_done(pcoll_coll_t *c)
{
	return c->rs.epoch >= c->flush_epoch_target;
}

int pcoll_flush_test(pcoll_coll_t *c)
{
	int rc = enter(c, "pcoll_flush_test");
	if (rc)
		return rc;
	pthread_mutex_lock(&c->ctx->lock);
	release_given(c);
	rc = sticky(c);
	if (!rc && !c->flush_posted)
		rc = pc_error(PCOLL_ERR_STATE, "pcoll_flush_test: no flush posted");
	if (!rc) {
		c->ctx->polling++; /* a user call: rounds it cannot take are kept */
		rc = pc_engine_progress(c->ctx);
		c->ctx->polling--;
		rc = rc < 0 ? rc : sticky(c);
		if (!rc && flush_done(c)) {
			c->flush_posted = 0;
			rc = 1;
		}
	}
	pthread_mutex_unlock(&c->ctx->lock);
	return rc;
}

/* A blocking flush ends when the flush completed, or early when a full ring
 * holds a round: the caller must take rounds before the others can go on. */
static int flush_or_full(pcoll_coll_t *c)
{
	return flush_done(c) || (c->ring_held && pc_coll_ready_rounds(c) > 0);
}

int pcoll_flush(pcoll_coll_t *c)
{
	uint64_t t0 = pc_trace_begin(c);
	int rc = pcoll_flush_post(c);
	if (rc)
		return rc;
	pthread_mutex_lock(&c->ctx->lock);
	c->flush_blocking = 1;
	pthread_mutex_unlock(&c->ctx->lock);
	rc = pc_engine_wait(c->ctx, c, flush_or_full);
	pthread_mutex_lock(&c->ctx->lock);
	c->flush_blocking = 0;
	if (!rc && flush_done(c))
		c->flush_posted = 0;
	else if (!rc) /* still posted: the next pcoll_flush goes on with it */
		rc = (int)pc_coll_ready_rounds(c);
	PC_TRACE(c->ctx, pc_trace_call(c, PC_TRACE_FLUSH, t0, rc));
	pthread_mutex_unlock(&c->ctx->lock);
	return rc;
}

static int tx_idle(pcoll_coll_t *c)
{
	return c->tx_done == c->tx_posted;
}

/* pcoll_flush to the end; a full ring ends it early: the rounds not taken
 * are discarded (their contributions counted) to let the others go on. */
static int flush_discarding(pcoll_coll_t *c, uint64_t *lost)
{
	int rc;
	while ((rc = pcoll_flush(c)) > 0) {
		pcoll_round_t r;
		while ((rc = pcoll_next_round(c, &r)) == 1)
			*lost += r.contributions;
		if (rc < 0)
			break;
	}
	return rc;
}

/* Under lock: the contributions in completed rounds no one took. */
static uint64_t untaken_contributions(const pcoll_coll_t *c)
{
	uint64_t lost = 0;
	for (uint64_t r = c->rs.version + 1; r <= c->rs.completed; r++) {
		const pc_hdr_t *h = NULL;
		if (c->spill_head && r < c->spill_first + c->nspill) {
			pc_spill_t *s = c->spill_head;
			for (uint64_t i = c->spill_first; i < r; i++)
				s = s->next;
			h = &s->hdr;
		} else {
			h = (const pc_hdr_t *)(c->mem + c->res_off +
					       (r % c->nslots_res) * c->res_stride);
		}
		lost += h->contributions;
	}
	return lost;
}

int pcoll_destroy(pcoll_coll_t *c)
{
	pc_error_clear();
	if (!c)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_destroy: coll is NULL");
	pcoll_ctx_t *ctx = c->ctx;
	int rc = 0;
	if (!c->dead) {
		/* Destroy is collective: flush so that no round is left half done
		 * and nobody writes into this region after it is freed. */
		rc = c->step_posted ? pc_engine_wait(ctx, c, step_done) : 0;
		uint64_t lost = 0;
		pthread_mutex_lock(&ctx->lock);
		int failed = pc_coll_failed(c, NULL);
		/* A flush the user left posted (pcoll_flush returned early) is
		 * finished first: the others finished theirs and flush again here. */
		int posted = c->flush_posted;
		pthread_mutex_unlock(&ctx->lock);
		if (!rc && !failed && posted)
			rc = flush_discarding(c, &lost);
		if (!rc && !failed)
			rc = flush_discarding(c, &lost);
		/* Completions of our last sends point into this collective: collect
		 * them before it is freed. */
		int trc = pc_engine_wait(ctx, c, tx_idle);
		if (!rc)
			rc = trc;
		/* After a failure there is no one to meet: a barrier with a dead
		 * peer lasts until the timeout. The others fail too. */
		pthread_mutex_lock(&ctx->lock);
		failed = pc_coll_failed(c, NULL);
		pthread_mutex_unlock(&ctx->lock);
		int brc = failed ? 0 : pc_team_barrier(c->team, PC_X_DESTROY);
		if (!rc)
			rc = brc;
		pthread_mutex_lock(&ctx->lock);
		lost += untaken_contributions(c);
		if (!rc && lost)
			rc = pc_error(PCOLL_ERR_PENDING,
				      "pcoll_destroy: %llu contributions in rounds never taken "
				      "with pcoll_next_round were discarded",
				      (unsigned long long)lost);
		pc_engine_quiesce(c); /* another thread may still be reducing it */
		ctx->colls[c->id] = NULL;
		pc_engine_forget(c);
		pc_tp_forget(ctx->tp, &c->tx_done);
		retire_values(c);
		pthread_mutex_unlock(&ctx->lock);
	}
	pthread_mutex_lock(&ctx->lock);
	if (c->ready)
		c->team->ncolls--;
	int last = --ctx->live_colls == 0 && ctx->live_teams == 0 && ctx->finalized;
	pthread_mutex_unlock(&ctx->lock);
	pc_coll_free(c);
	if (last)
		pc_ctx_free(ctx); /* finalize left it to its last collective */
	return rc;
}

int pcoll_round_initiator(const pcoll_coll_t *c, uint64_t round)
{
	if (!c || round == 0)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_round_initiator: %s",
				c ? "round 0 does not exist" : "coll is NULL");
	if (c->attr.mode != PCOLL_MAJORITY)
		return pc_error(PCOLL_ERR_INVAL,
				"pcoll_round_initiator: mode %s has no fixed initiator",
				pcoll_mode_name(c->attr.mode));
	return pc_initiator(c->attr.seed, round, c->P);
}

/* Everything this collective holds on this process (under lock). */
static size_t coll_memory(const pcoll_coll_t *c)
{
	size_t b = sizeof(*c) + c->memlen + c->vmemlen;
	b += (size_t)c->P * (sizeof(*c->peer_ids) + 2 * sizeof(*c->rkeys));
	b += c->sched.nops * sizeof(pc_op_t);
	b += (size_t)(pc_act_nslots(c->P) + 1) * sizeof(uint64_t); /* act_seen */
	b += (size_t)c->nspill * (sizeof(pc_spill_t) + c->nbytes);
	if (c->given_spill)
		b += sizeof(pc_spill_t) + c->nbytes;
	return b;
}

/* 0.3's struct: everything before memory_bytes. */
#define PC_COLL_INFO_SIZE_MIN offsetof(pcoll_coll_info_t, memory_bytes)

int pcoll_coll_query_sized(const pcoll_coll_t *c, pcoll_coll_info_t *out, size_t size)
{
	if (!c || !out)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_coll_query: NULL argument");
	if (size < PC_COLL_INFO_SIZE_MIN)
		return pc_error(PCOLL_ERR_INVAL,
				"pcoll_coll_query: info size %zu is smaller than any "
				"pcoll_coll_info_t (%zu)",
				size, (size_t)PC_COLL_INFO_SIZE_MIN);
	pcoll_coll_info_t info;
	memset(&info, 0, sizeof(info));
	/* The progress thread advances the round state under the context lock;
	 * take it so the counters are one consistent snapshot. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&c->ctx->lock;
	pthread_mutex_lock(lock);
	info.version = c->rs.version;
	info.completed = c->rs.completed;
	info.steps = c->rs.steps;
	info.rounds_initiated = c->rs.initiated;
	info.holds = c->rs.holds;
	info.wait_seconds = c->wait_s;
	info.memory_bytes = coll_memory(c);
	pthread_mutex_unlock(lock);
	info.count = c->count;
	info.datatype = c->dt;
	info.mode = c->attr.mode;
	info.quorum = c->attr.quorum;
	info.staleness = c->attr.staleness;
	info.algorithm = pc_sched_algo_name(c->sched.algo);
	memcpy(out, &info, size < sizeof(info) ? size : sizeof(info));
	return 0;
}

/* The symbol of 0.3, for programs built against it (the header's macro
 * passes the caller's size instead). */
#undef pcoll_coll_query
int pcoll_coll_query(const pcoll_coll_t *c, pcoll_coll_info_t *info)
{
	return pcoll_coll_query_sized(c, info, PC_COLL_INFO_SIZE_MIN);
}
