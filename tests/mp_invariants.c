/*
 * The five invariants of DESIGN.md, checked in every mode under random,
 * seeded per-process delays -- including one persistently slower process
 * and one that stalls for longer than S rounds -- with uneven step counts:
 *  1. conservation: the rounds sum to every contribution ever made, exactly;
 *  2. agreement: every process is given the same rounds, bit for bit;
 *  3. staleness: no contribution is staler than S;
 *  4. progress: in solo/quorum the fast processes do not wait for a
 *     transient straggler (and in sync they do, which shows the check bites);
 *  5. equivalence: sync rounds equal a reference allreduce round by round.
 * With --into the rounds are taken with pcoll_next_round_into into buffers
 * the test keeps, and every kept round is checked again after the flush:
 * caller memory must keep its data, unlike pcoll_next_round's pointer.
 * With --team K the job is split into K teams (color = job rank mod K, key
 * reversed, so team ranks differ from job ranks) and everything runs on each
 * team at once; with --overlap a solo collective over the whole context is
 * stepped alongside every team step (two overlapping teams in flight at
 * once, each with its own mode and S) and checked for conservation.
 * With --idle N, N more collectives stay open and idle while everything runs
 * (the engine visits only collectives with work); at the end each is stepped
 * once by one process only, so the other processes' engines must find the
 * round a peer started on a collective they had left alone (solo, majority,
 * quorum:1 in turn), and every such round must hold that one contribution.
 * With --balanced (and PCOLL_PROGRESS_THREAD=0) instead: back-to-back steps
 * give one round each, holding every process's contribution.
 * Launch under a PMIx launcher with any P; every failure exits non-zero.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp_common.h"
#include "mp_oob_mpi.h"

static int P, me;
static uint64_t seed = 42;
static int nsteps = 24;
static size_t count = 1000;
static pcoll_datatype_t dt = PCOLL_FLOAT64;
static int S_opt = 2;
static int into;
static pcoll_ctx_t *ctx;
static pcoll_team_t *team; /* NULL: the whole context */
static int nteams, overlap;
static int nmodes_run; /* run_invariants calls: each steps the overlap collective */
static int nidle;      /* --idle N */
static pcoll_coll_t **idle;

/* Attributes for a collective on the team under test. */
static void attr_init(pcoll_attr_t *a)
{
	pcoll_attr_init(a);
	a->team = team;
}

/* --overlap: a solo collective over the whole context, stepped alongside. */
static pcoll_coll_t *world;
static int64_t world_sum, world_steps;

static void world_post(void)
{
	int64_t g[4] = {1, pcoll_rank(ctx) + 1, 0, 0};
	MP_OK(pcoll_step_post(world, g));
}

static void world_take(void)
{
	pcoll_round_t r;
	int rc;
	while ((rc = pcoll_next_round(world, &r)) == 1) {
		world_steps += ((const int64_t *)r.data)[0];
		world_sum += ((const int64_t *)r.data)[1];
	}
	MP_OK(rc);
}

static void world_wait(void)
{
	int rc;
	while ((rc = pcoll_test(world)) == 0)
		;
	MP_OK(rc);
	world_take();
}

static int steps_of(int p)
{
	return nsteps + (p % 3) * 3; /* uneven: processes take different numbers of steps */
}

/* Integer-valued contributions, small enough to be exact in every datatype. */
static int64_t gval(int p, int s, size_t e)
{
	int span = (dt == PCOLL_FLOAT16 || dt == PCOLL_BFLOAT16) ? 2 : 8;
	uint64_t h = mp_mix(seed ^ ((uint64_t)p << 48) ^ ((uint64_t)s << 24) ^ e);
	return (int64_t)(h % (uint64_t)(2 * span + 1)) - span;
}

static uint16_t to_half(float f)
{
	/* Exact for the small integers used here. */
	if (f == 0)
		return 0;
	uint32_t sign = f < 0 ? 0x8000u : 0;
	float a = fabsf(f);
	int ex = 0;
	while (a >= 2) {
		a /= 2;
		ex++;
	}
	uint32_t mant = (uint32_t)((a - 1) * 1024);
	return (uint16_t)(sign | (uint32_t)(ex + 15) << 10 | mant);
}

static double from_half(uint16_t h)
{
	int ex = (h >> 10) & 31;
	double m = h & 1023;
	double v = ex == 0 ? m / 1024 * pow(2, -14) : (1 + m / 1024) * pow(2, ex - 15);
	return (h & 0x8000) ? -v : v;
}

static void put_elem(void *buf, size_t e, int64_t v)
{
	switch (dt) {
	case PCOLL_FLOAT32:
		((float *)buf)[e] = (float)v;
		break;
	case PCOLL_FLOAT64:
		((double *)buf)[e] = (double)v;
		break;
	case PCOLL_FLOAT16:
		((uint16_t *)buf)[e] = to_half((float)v);
		break;
	case PCOLL_BFLOAT16: {
		float f = (float)v;
		uint32_t u;
		memcpy(&u, &f, 4);
		((uint16_t *)buf)[e] = (uint16_t)(u >> 16); /* exact for small integers */
		break;
	}
	case PCOLL_INT32:
		((int32_t *)buf)[e] = (int32_t)v;
		break;
	default:
		((int64_t *)buf)[e] = v;
	}
}

static double get_elem(const void *buf, size_t e)
{
	switch (dt) {
	case PCOLL_FLOAT32:
		return ((const float *)buf)[e];
	case PCOLL_FLOAT64:
		return ((const double *)buf)[e];
	case PCOLL_FLOAT16:
		return from_half(((const uint16_t *)buf)[e]);
	case PCOLL_BFLOAT16: {
		uint32_t u = (uint32_t)((const uint16_t *)buf)[e] << 16;
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	case PCOLL_INT32:
		return ((const int32_t *)buf)[e];
	default:
		return (double)((const int64_t *)buf)[e];
	}
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

typedef struct {
	uint64_t nrounds, last_index, contributions, hash;
	int64_t max_staleness;
	uint64_t short_rounds; /* rounds with fewer than P contributions */
	int last_final;
	double *total;
	int mode, S;
	/* --into: every round's buffer and the hash of its data when taken */
	void **kept;
	uint64_t *kept_hash;
	size_t nkept, cap;
} tally_t;

/* The next round into a fresh buffer that the tally keeps. */
static int next_into(pcoll_coll_t *c, tally_t *t, pcoll_round_t *r)
{
	size_t bytes = count * pcoll_datatype_size(dt);
	if (t->nkept == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->kept = realloc(t->kept, t->cap * sizeof(*t->kept));
		t->kept_hash = realloc(t->kept_hash, t->cap * sizeof(*t->kept_hash));
		MP_EXPECT(t->kept && t->kept_hash, "out of memory");
	}
	unsigned char *out = malloc(bytes);
	MP_EXPECT(out, "out of memory");
	memset(out, 0xa5, bytes);
	int rc = pcoll_next_round_into(c, out, r);
	if (rc != 1) {
		/* no round: out stays untouched */
		MP_EXPECT(rc < 0 || (out[0] == 0xa5 && out[bytes - 1] == 0xa5),
			  "pcoll_next_round_into wrote into out without a round");
		free(out);
		return rc;
	}
	MP_EXPECT(r->data == out, "round %llu: data %p is not the caller's buffer %p",
		  (unsigned long long)r->index, r->data, (void *)out);
	t->kept[t->nkept] = out;
	t->kept_hash[t->nkept++] = fnv(0xcbf29ce484222325ULL, out, bytes);
	return 1;
}

/* --into: the kept rounds still hold their data after every later call. */
static void check_kept(tally_t *t)
{
	size_t bytes = count * pcoll_datatype_size(dt);
	MP_EXPECT(t->nkept == t->nrounds, "%s: %zu rounds kept, %llu taken",
		  pcoll_mode_name(t->mode), t->nkept, (unsigned long long)t->nrounds);
	double *sum = calloc(count, sizeof(double));
	for (size_t i = 0; i < t->nkept; i++) {
		MP_EXPECT(fnv(0xcbf29ce484222325ULL, t->kept[i], bytes) == t->kept_hash[i],
			  "%s: kept round %zu changed after it was taken", pcoll_mode_name(t->mode),
			  i + 1);
		for (size_t e = 0; e < count; e++)
			sum[e] += get_elem(t->kept[i], e);
		free(t->kept[i]);
	}
	for (size_t e = 0; e < count; e++)
		MP_EXPECT(sum[e] == t->total[e], "%s: kept rounds sum to %g at %zu, taken %g",
			  pcoll_mode_name(t->mode), sum[e], e, t->total[e]);
	free(sum);
	free(t->kept);
	free(t->kept_hash);
}

static void take_rounds(pcoll_coll_t *c, tally_t *t)
{
	pcoll_round_t r;
	int rc;
	size_t es = pcoll_datatype_size(dt);
	while ((rc = into ? next_into(c, t, &r) : pcoll_next_round(c, &r)) == 1) {
		MP_EXPECT(r.index == t->last_index + 1, "%s: round %llu after %llu",
			  pcoll_mode_name(t->mode), (unsigned long long)r.index,
			  (unsigned long long)t->last_index);
		t->last_index = r.index;
		t->nrounds++;
		t->contributions += r.contributions;
		if (r.contributions < (uint64_t)P)
			t->short_rounds++;
		if (r.staleness > t->max_staleness)
			t->max_staleness = r.staleness;
		/* 3. staleness bound */
		MP_EXPECT(r.staleness <= t->S, "%s: round %llu staleness %lld > S=%d",
			  pcoll_mode_name(t->mode), (unsigned long long)r.index,
			  (long long)r.staleness, t->S);
		MP_EXPECT((r.contributions == 0) == (r.staleness == -1),
			  "round %llu: %llu contributions but staleness %lld",
			  (unsigned long long)r.index, (unsigned long long)r.contributions,
			  (long long)r.staleness);
		for (size_t e = 0; e < count; e++)
			t->total[e] += get_elem(r.data, e);
		/* 5. equivalence: a sync round is the plain allreduce of that step. */
		if (t->mode == PCOLL_SYNC) {
			int s = (int)r.index - 1;
			uint64_t expect_n = 0;
			for (int p = 0; p < P; p++)
				expect_n += s < steps_of(p);
			MP_EXPECT(r.contributions == expect_n,
				  "sync round %llu: %llu contributions, expected %llu",
				  (unsigned long long)r.index, (unsigned long long)r.contributions,
				  (unsigned long long)expect_n);
			MP_EXPECT(r.staleness <= 0, "sync round %llu has staleness %lld",
				  (unsigned long long)r.index, (long long)r.staleness);
			for (size_t e = 0; e < count; e++) {
				double ref = 0;
				for (int p = 0; p < P; p++)
					if (s < steps_of(p))
						ref += (double)gval(p, s, e);
				MP_EXPECT(get_elem(r.data, e) == ref,
					  "sync round %llu element %zu: %g, reference %g",
					  (unsigned long long)r.index, e, get_elem(r.data, e), ref);
			}
		}
		uint64_t meta[3] = {r.index, r.contributions, (uint64_t)r.staleness};
		t->hash = fnv(t->hash, meta, sizeof(meta));
		t->hash = fnv(t->hash, r.data, count * es);
		t->last_final = r.final;
	}
	MP_OK(rc);
}

/* 2. agreement: compare every process's (hash, rounds) through a sync allreduce. */
static void check_agreement(const tally_t *t)
{
	pcoll_attr_t a;
	attr_init(&a);
	pcoll_coll_t *c;
	MP_OK(pcoll_allreduce_create(ctx, 2 * (size_t)P, PCOLL_INT64, &a, &c));
	int64_t *v = calloc(2 * (size_t)P, sizeof(int64_t));
	v[2 * me] = (int64_t)t->hash;
	v[2 * me + 1] = (int64_t)t->nrounds;
	MP_OK(pcoll_step(c, v));
	pcoll_round_t r;
	MP_EXPECT(pcoll_next_round(c, &r) == 1, "agreement round missing");
	const int64_t *all = r.data;
	for (int p = 0; p < P; p++) {
		MP_EXPECT(all[2 * p + 1] == (int64_t)t->nrounds,
			  "%s: rank %d was given %lld rounds, rank %d %llu",
			  pcoll_mode_name(t->mode), p, (long long)all[2 * p + 1], me,
			  (unsigned long long)t->nrounds);
		MP_EXPECT(all[2 * p] == (int64_t)t->hash,
			  "%s: rank %d's rounds differ from rank %d's (hash %llx vs %llx)",
			  pcoll_mode_name(t->mode), p, me, (unsigned long long)all[2 * p],
			  (unsigned long long)t->hash);
	}
	free(v);
	mp_flush_discard(c);
	MP_OK(pcoll_destroy(c));
}

/* What pcoll.h promises of memory_bytes: with the algorithm AUTO picks above
 * recursive doubling's sizes, at most (S+4) buffers plus a few KiB of flags,
 * headers and page rounding (a forced fold or RD may take more). */
static void check_memory(const pcoll_coll_info_t *qi, int nprocs)
{
	size_t nbytes = qi->count * pcoll_datatype_size(qi->datatype);
	size_t bound = ((size_t)qi->staleness + 4) * nbytes + 16384 + 256 * (size_t)nprocs;
	MP_EXPECT(qi->memory_bytes >= ((size_t)qi->staleness + 3) * nbytes,
		  "%s: memory_bytes %zu is less than the S+1 result buffers and two "
		  "pending accumulators of %zu bytes",
		  qi->algorithm, qi->memory_bytes, nbytes);
	const char *forced = getenv("PCOLL_ALGORITHM");
	if (strcmp(qi->algorithm, "recursive-doubling") && (!forced || !strcmp(forced, "auto")))
		MP_EXPECT(qi->memory_bytes <= bound,
			  "%s P=%d S=%d: memory_bytes %zu for a buffer of %zu bytes, "
			  "over (S+4)x + %zu",
			  qi->algorithm, nprocs, qi->staleness, qi->memory_bytes, nbytes,
			  bound - ((size_t)qi->staleness + 4) * nbytes);
}

static void run_invariants(int mode)
{
	pcoll_attr_t a;
	attr_init(&a);
	a.mode = mode;
	a.staleness = S_opt;
	a.quorum = (P + 1) / 2;
	a.seed = seed;
	pcoll_coll_t *c;
	MP_OK(pcoll_allreduce_create(ctx, count, dt, &a, &c));
	nmodes_run++;
	tally_t t = {.hash = 0xcbf29ce484222325ULL,
		     .max_staleness = -1,
		     .mode = mode,
		     .S = mode == PCOLL_SYNC ? 0 : S_opt};
	t.total = calloc(count, sizeof(double));
	void *g = malloc(count * pcoll_datatype_size(dt));
	int slow = P > 1 ? 1 : -1, stall = P > 2 ? P - 1 : -1;
	double stall_ms = 12.0 * (S_opt + 2); /* longer than S rounds of the others */
	uint64_t q_completed = 0;
	for (int s = 0; s < steps_of(me); s++) {
		double d =
		    (double)(mp_mix(seed * 31 + (uint64_t)me * 1000003 + (uint64_t)s) % 1500) /
		    1000.0;
		if (me == slow)
			d += 2.0;
		if (me == stall && s == nsteps / 2)
			d += stall_ms;
		/* Query while the progress thread may be completing rounds: the
		 * counters are consistent and only move forward. */
		pcoll_coll_info_t qi;
		MP_OK(pcoll_coll_query(c, &qi));
		MP_EXPECT(qi.steps == (uint64_t)s && qi.count == count && qi.datatype == dt &&
			      (int)qi.mode == mode && qi.completed >= q_completed &&
			      qi.completed >= qi.version,
			  "%s: query at step %d: steps %llu count %zu completed %llu "
			  "(before %llu) version %llu",
			  pcoll_mode_name(mode), s, (unsigned long long)qi.steps, qi.count,
			  (unsigned long long)qi.completed, (unsigned long long)q_completed,
			  (unsigned long long)qi.version);
		q_completed = qi.completed;
		if (s == 0)
			check_memory(&qi, P);
		mp_sleep_ms(d);
		for (size_t e = 0; e < count; e++)
			put_elem(g, e, gval(me, s, e));
		/* The overlapping collective is stepped the same number of times
		 * everywhere. A process that stops stepping it holds the others'
		 * rounds (the staleness rule) -- while it may wait for them in
		 * this team's rounds: it flushes the overlapping one as soon as
		 * it has nothing more for it (the flush is its meeting point). */
		int w = world && s < nsteps;
		if (w)
			world_post();
		else if (world && s == nsteps)
			MP_OK(pcoll_flush_post(world));
		int rc = pcoll_step(c, g);
		MP_OK(rc);
		MP_EXPECT(rc >= 1, "pcoll_step returned %d ready rounds", rc);
		take_rounds(c, &t);
		if (w)
			world_wait();
	}
	if (world && steps_of(me) == nsteps)
		MP_OK(pcoll_flush_post(world));
	MP_FLUSH_TAKING(c, take_rounds(c, &t));
	if (world) {
		int rc;
		while ((rc = pcoll_flush_test(world)) == 0)
			world_take(); /* a full ring holds the next round until taken */
		MP_OK(rc);
		world_take();
	}
	MP_EXPECT(t.last_final, "%s: the last round after flush is not final",
		  pcoll_mode_name(mode));
	pcoll_coll_info_t qi;
	MP_OK(pcoll_coll_query(c, &qi));
	MP_EXPECT(qi.version == t.nrounds && qi.completed == t.nrounds &&
		      qi.steps == (uint64_t)steps_of(me),
		  "%s: query after flush: version %llu completed %llu steps %llu; "
		  "%llu rounds taken, %d steps made",
		  pcoll_mode_name(mode), (unsigned long long)qi.version,
		  (unsigned long long)qi.completed, (unsigned long long)qi.steps,
		  (unsigned long long)t.nrounds, steps_of(me));
	/* 1. conservation, exactly */
	uint64_t steps = 0;
	for (int p = 0; p < P; p++)
		steps += (uint64_t)steps_of(p);
	MP_EXPECT(t.contributions == steps, "%s: %llu contributions summed, %llu made",
		  pcoll_mode_name(mode), (unsigned long long)t.contributions,
		  (unsigned long long)steps);
	for (size_t e = 0; e < count; e++) {
		double ref = 0;
		for (int p = 0; p < P; p++)
			for (int s = 0; s < steps_of(p); s++)
				ref += (double)gval(p, s, e);
		MP_EXPECT(t.total[e] == ref,
			  "%s: element %zu sums to %g over all rounds, "
			  "contributions sum to %g",
			  pcoll_mode_name(mode), e, t.total[e], ref);
	}
	check_agreement(&t);
	MP_OK(pcoll_destroy(c));
	if (into)
		check_kept(&t);
	if (me == 0)
		printf("ok   invariants %-8s P=%d %s count=%zu S=%d%s: %llu rounds, %llu short, "
		       "max staleness %lld\n",
		       pcoll_mode_name(mode), P, pcoll_datatype_name(dt), count, t.S,
		       into ? " into" : "", (unsigned long long)t.nrounds,
		       (unsigned long long)t.short_rounds, (long long)t.max_staleness);
	free(g);
	free(t.total);
}

/* 4. progress: a transient straggler does not hold up solo/quorum (S large
 * enough), while sync waits for it -- the same measurement in both. */
static double eager_run(int mode, uint64_t *short_rounds)
{
	pcoll_attr_t a;
	attr_init(&a);
	a.mode = mode;
	a.staleness = 40;
	a.quorum = (P + 1) / 2;
	pcoll_coll_t *c;
	MP_OK(pcoll_allreduce_create(ctx, 64, PCOLL_FLOAT32, &a, &c));
	float g[64];
	for (int i = 0; i < 64; i++)
		g[i] = 1;
	double max_wait = 0;
	*short_rounds = 0;
	const double stall_ms = 250, compute_ms = 4;
	for (int s = 0; s < 20; s++) {
		mp_sleep_ms(compute_ms + (me == P - 1 && s == 3 ? stall_ms : 0));
		double t0 = mp_now();
		MP_OK(pcoll_step(c, g));
		double w = (mp_now() - t0) * 1000;
		if (w > max_wait)
			max_wait = w;
		pcoll_round_t r;
		int rc;
		while ((rc = pcoll_next_round(c, &r)) == 1)
			*short_rounds += r.contributions < (uint64_t)P;
		MP_OK(rc);
	}
	mp_flush_discard(c);
	MP_OK(pcoll_destroy(c));
	return max_wait;
}

static void run_eager(void)
{
	if (P < 2)
		return;
	uint64_t short_sync, short_solo, short_quorum;
	double w_sync = eager_run(PCOLL_SYNC, &short_sync);
	double w_solo = eager_run(PCOLL_SOLO, &short_solo);
	double w_quorum = eager_run(PCOLL_QUORUM, &short_quorum);
	if (me != P - 1) {
		MP_EXPECT(w_sync > 150,
			  "sync: a fast rank waited only %.1f ms for a 250 ms "
			  "straggler: the measurement is broken",
			  w_sync);
		MP_EXPECT(w_solo < 100, "solo: a fast rank waited %.1f ms for the straggler",
			  w_solo);
		MP_EXPECT(w_quorum < 100, "quorum: a fast rank waited %.1f ms for the straggler",
			  w_quorum);
		MP_EXPECT(short_solo > 0, "solo: every round had all %d contributions", P);
	}
	if (me == 0)
		printf("ok   progress P=%d: longest wait of a fast rank for a 250 ms straggler: "
		       "sync %.1f ms, solo %.1f ms, quorum %.1f ms; solo rounds short of P: %llu\n",
		       P, w_sync, w_solo, w_quorum, (unsigned long long)short_solo);
}

/* --balanced: every process steps back to back with blocking pcoll_step, no
 * compute in between (a balanced training loop). Without a progress thread
 * rounds move only inside pcoll calls, so nothing but the library decides
 * whether a process joins a round before its own step: each round must hold
 * all P contributions of that step, one round per step. A blocked step that
 * joined the next round empty (it was triggered by a faster peer while the
 * step finished) would show as a short round and a stale one after it. The
 * caller overwrites its buffer as soon as pcoll_step returns: a round that
 * still read the lent buffer would carry the poison. */
static void run_balanced(int mode)
{
	pcoll_ctx_info_t in;
	MP_OK(pcoll_ctx_query(ctx, &in));
	MP_EXPECT(!in.progress_thread, "--balanced needs PCOLL_PROGRESS_THREAD=0");
	pcoll_attr_t a;
	attr_init(&a);
	a.mode = mode;
	a.quorum = (P + 1) / 2;
	pcoll_coll_t *c;
	MP_OK(pcoll_allreduce_create(ctx, count, PCOLL_FLOAT32, &a, &c));
	float *g = malloc(count * sizeof(float));
	MP_EXPECT(g != NULL, "out of memory");
	/* Every value is an integer below 2^24: sums are exact in float32. */
	const double want_unit = (double)P * (P + 1) / 2;
	for (int s = 0; s < nsteps; s++) {
		for (size_t e = 0; e < count; e++)
			g[e] = (float)((me + 1) * (1 + (s + e) % 7));
		int n = pcoll_step(c, g);
		MP_EXPECT(n == 1, "%s balanced step %d: %d rounds ready, expected 1",
			  pcoll_mode_name(mode), s, n);
		for (size_t e = 0; e < count; e++)
			g[e] = -1e6f; /* poison: the step has returned */
		pcoll_round_t r;
		MP_EXPECT(pcoll_next_round(c, &r) == 1, "%s balanced step %d: no round",
			  pcoll_mode_name(mode), s);
		MP_EXPECT(r.contributions == (uint64_t)P && r.staleness == 0,
			  "%s balanced step %d: round %llu holds %llu contributions, staleness "
			  "%lld; expected all %d, staleness 0",
			  pcoll_mode_name(mode), s, (unsigned long long)r.index,
			  (unsigned long long)r.contributions, (long long)r.staleness, P);
		const float *d = r.data;
		for (size_t e = 0; e < count; e++)
			if (d[e] != (float)(want_unit * (1 + (s + e) % 7)))
				mp_fail("%s balanced step %d: element %zu is %g, expected %g",
					pcoll_mode_name(mode), s, e, (double)d[e],
					want_unit * (1 + (s + e) % 7));
	}
	mp_flush_discard(c);
	MP_OK(pcoll_destroy(c));
	free(g);
	if (me == 0)
		printf("ok   balanced %s P=%d: %d steps back to back, one round each with all "
		       "%d contributions\n",
		       pcoll_mode_name(mode), P, nsteps, P);
}

/* --idle: collectives open and idle while the rest runs. */
static void idle_open(void)
{
	idle = calloc((size_t)nidle, sizeof(*idle));
	for (int i = 0; i < nidle; i++) {
		pcoll_attr_t a;
		attr_init(&a);
		a.mode = i % 3 == 0 ? PCOLL_SOLO : i % 3 == 1 ? PCOLL_MAJORITY : PCOLL_QUORUM;
		a.quorum = 1;
		a.seed = seed + (uint64_t)i;
		MP_OK(pcoll_allreduce_create(ctx, 16, PCOLL_INT64, &a, &idle[i]));
	}
}

/* Each idle collective woken by one process's step: its round 1 completes
 * only if every other engine finds it and joins with nothing. */
static void idle_wake(void)
{
	int64_t g[16];
	for (int e = 0; e < 16; e++)
		g[e] = e + 1;
	for (int i = 0; i < nidle; i++) {
		int who = i % 3 == 1 ? pcoll_round_initiator(idle[i], 1) : i % P;
		MP_OK(who);
		if (who == me) {
			int rc = pcoll_step(idle[i], g);
			MP_OK(rc);
			MP_EXPECT(rc >= 1, "idle collective %d: step gave %d rounds", i, rc);
		}
	}
	for (int i = 0; i < nidle; i++) {
		MP_OK(pcoll_flush(idle[i]));
		pcoll_round_t r;
		int rc;
		uint64_t contributions = 0;
		int64_t sum = 0;
		while ((rc = pcoll_next_round(idle[i], &r)) == 1) {
			contributions += r.contributions;
			sum += ((const int64_t *)r.data)[15];
		}
		MP_OK(rc);
		MP_EXPECT(contributions == 1 && sum == 16,
			  "idle collective %d woken by one step: %llu contributions summing to "
			  "%lld, expected 1 and 16",
			  i, (unsigned long long)contributions, (long long)sum);
		MP_OK(pcoll_destroy(idle[i]));
	}
	free(idle);
	if (me == 0)
		printf("ok   idle: %d collectives open and idle throughout, each then woken by "
		       "one process's step (solo, majority, quorum:1)\n",
		       nidle);
}

/* Split into nteams teams, ranked in reverse job order, and check the team:
 * its size, ranks and the job ranks they stand for. P and me become the
 * team's; printed lines name the team. */
static void start_teams(void)
{
	int job = pcoll_rank(ctx), jobP = pcoll_size(ctx);
	int color = job % nteams;
	MP_OK(pcoll_team_split(ctx, color, -job, &team));
	MP_EXPECT(team, "pcoll_team_split gave no team for color %d", color);
	int n = 0;
	for (int r = 0; r < jobP; r++)
		n += r % nteams == color;
	MP_EXPECT(pcoll_team_size(team) == n, "team %d has %d members, expected %d", color,
		  pcoll_team_size(team), n);
	for (int t = 0, r = jobP - 1; r >= 0; r--) {
		if (r % nteams != color)
			continue;
		MP_EXPECT(pcoll_team_job_rank(team, t) == r,
			  "team %d: team rank %d is job rank %d, expected %d", color, t,
			  pcoll_team_job_rank(team, t), r);
		if (r == job)
			MP_EXPECT(pcoll_team_rank(team) == t,
				  "job rank %d has team rank %d, not %d", job,
				  pcoll_team_rank(team), t);
		t++;
	}
	P = pcoll_team_size(team);
	me = pcoll_team_rank(team);
	if (overlap) {
		pcoll_attr_t a;
		pcoll_attr_init(&a);
		a.mode = PCOLL_SOLO;
		a.staleness = 3;
		MP_OK(pcoll_allreduce_create(ctx, 4, PCOLL_INT64, &a, &world));
	}
	if (me == 0)
		printf("#    team %d: %d of %d processes, team rank 0 = job rank %d\n", color, P,
		       jobP, job);
}

/* --overlap: the whole context's collective conserved every contribution. */
static void stop_teams(void)
{
	if (world) {
		int64_t steps = 0, sum = 0, mine = 0;
		MP_OK(pcoll_destroy(world));
		/* Every process stepped it nsteps times per mode. */
		for (int r = 0; r < pcoll_size(ctx); r++) {
			int64_t n = (int64_t)nsteps * nmodes_run;
			steps += n;
			sum += n * (r + 1);
			if (r == pcoll_rank(ctx))
				mine = n;
		}
		MP_EXPECT(world_steps == steps && world_sum == sum,
			  "overlapping whole-context collective: %lld contributions summing to "
			  "%lld, expected %lld summing to %lld",
			  (long long)world_steps, (long long)world_sum, (long long)steps,
			  (long long)sum);
		if (pcoll_rank(ctx) == 0)
			printf("ok   overlap: the whole context's solo collective conserved %lld "
			       "contributions (%lld of them this rank's) alongside the teams\n",
			       (long long)steps, (long long)mine);
	}
	if (team)
		MP_OK(pcoll_team_destroy(team));
}

int main(int argc, char **argv)
{
	const char *modes = "sync,solo,majority,quorum";
	int eager = 0, balanced = 0, opt;
	static const struct option lo[] = {{"eager", no_argument, 0, 'e'},
					   {"into", no_argument, 0, 'i'},
					   {"team", required_argument, 0, 'T'},
					   {"overlap", no_argument, 0, 'o'},
					   {"idle", required_argument, 0, 'I'},
					   {"balanced", no_argument, 0, 'b'},
					   {0, 0, 0, 0}};
	while ((opt = getopt_long(argc, argv, "m:n:c:t:S:s:eiT:oI:b", lo, NULL)) != -1) {
		switch (opt) {
		case 'm':
			modes = optarg;
			break;
		case 'n':
			nsteps = atoi(optarg);
			break;
		case 'c':
			count = (size_t)atol(optarg);
			break;
		case 't':
			for (int d = 0; d < PCOLL_DATATYPE_COUNT; d++)
				if (!strcmp(optarg, pcoll_datatype_name((pcoll_datatype_t)d)))
					dt = (pcoll_datatype_t)d;
			break;
		case 'S':
			S_opt = atoi(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'e':
			eager = 1;
			break;
		case 'i':
			into = 1;
			break;
		case 'T':
			nteams = atoi(optarg);
			break;
		case 'o':
			overlap = 1;
			break;
		case 'I':
			nidle = atoi(optarg);
			break;
		case 'b':
			balanced = 1;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-m modes] [-n steps] [-c count] [-t dtype] "
				"[-S staleness] [-s seed] [--eager] [--into] [--team K] "
				"[--overlap] [--idle N] [--balanced]\n",
				argv[0]);
			return 2;
		}
	}
	int init_rc;
	if (!mp_start(&ctx, &init_rc))
		return 0; /* not in the subset that runs pcoll */
	MP_OK(init_rc);
	P = pcoll_size(ctx);
	me = mp_rank = pcoll_rank(ctx);
	if (me == 0) {
		pcoll_ctx_info_t in;
		MP_OK(pcoll_ctx_query(ctx, &in));
		printf("#    P=%d provider=%s notify=%s wireup=%s%s\n", P, in.provider,
		       in.notify == PCOLL_NOTIFY_CNTR ? "cntr" : "cqdata", in.wireup,
		       nteams ? (overlap ? " teams+overlap" : " teams") : "");
	}
	if (nteams)
		start_teams();
	if (nidle)
		idle_open();
	char *list = strdup(modes);
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		int m;
		for (m = 0; m < PCOLL_MODE_COUNT; m++)
			if (!strcmp(tok, pcoll_mode_name((pcoll_mode_t)m)))
				break;
		if (m == PCOLL_MODE_COUNT)
			mp_fail("unknown mode %s", tok);
		if (balanced)
			run_balanced(m);
		else
			run_invariants(m);
	}
	free(list);
	if (eager)
		run_eager();
	if (nidle)
		idle_wake();
	stop_teams();
	MP_OK(mp_stop(ctx));
	return 0;
}
