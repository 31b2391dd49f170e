/*
 * pcoll_bench -- OSU-style micro-benchmarks of pcoll's partial allreduce.
 *
 *   pcoll_bench [allreduce|imbalance|idle|create] [options]     (see --help)
 *
 * allreduce  latency per message size and mode; every process arrives
 *            together (a barrier before each iteration), each times its own
 *            pcoll_step + draining of pcoll_next_round; rank 0 prints the
 *            average of the per-rank averages (and with -f their min and max).
 *            With -B back to back, like a training loop: no barrier between
 *            iterations, each rank's time is its total (the steps and the
 *            closing pcoll_flush) / iterations. With --idle-colls N, the same
 *            latency with 0 and with N idle collectives open, interleaved
 *            (the scale of the progress engine).
 * imbalance  rounds per second with sleep-emulated compute under imbalance
 *            patterns, next to the ideal: the same compute times replayed
 *            through the round and staleness rules at zero communication
 *            cost (sim_ideal.c), and the older per-round bound of each mode.
 * idle       CPU used by each process while a collective is open and idle.
 *
 * Uses only pcoll.h, like any outside user. Statistics travel over a separate
 * PCOLL_SYNC float64 collective in which each rank fills its own slots (a
 * gather by SUM). Every run also checks what it can check cheaply: rounds come
 * in order 1, 2, 3, ..., no contribution is staler than the bound, and after
 * the flush the rounds sum to exactly the contributions made (conservation).
 */
#define _GNU_SOURCE
#include "bench_common.h"
#include "bench_pattern.h"
#include "sim_ideal.h"

#include <pcoll.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG	     "pcoll_bench"
#define GATHER_SLOTS 8

static struct bench_opts O;
static int g_rank = -1, g_size = 1;
static pcoll_ctx_t *g_ctx;
static pcoll_ctx_info_t g_info;
static pcoll_coll_t *g_bar;    /* sync int32[1]: barrier */
static pcoll_coll_t *g_gather; /* sync float64[P * GATHER_SLOTS]: gather by SUM */
static double *g_gbuf;
static char g_provider[64];
static FILE *g_csv;
static pcoll_datatype_t g_dt = PCOLL_FLOAT32;

/* ------------------------------------------------------------- errors */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, PROG ": rank %d: ", g_rank);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	exit(1);
}

static void fail_rc(int rc, const char *call, int line) __attribute__((noreturn));
static void fail_rc(int rc, const char *call, int line)
{
	die("%s failed (line %d): %s (%d): %s", call, line, pcoll_strerror(rc), rc,
	    pcoll_last_error());
}

#define CHECK(call)                                                                                \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ < 0)                                                                       \
			fail_rc(rc_, #call, __LINE__);                                             \
	} while (0)

/* ---------------------------------------------------------- datatypes */

static double half_to_double(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 1023;
	double v;
	if (e == 0)
		v = ldexp((double)m, -24);
	else if (e == 31)
		v = m ? NAN : INFINITY;
	else
		v = ldexp((double)(m + 1024), e - 25);
	return (h & 0x8000) ? -v : v;
}

static double elem_at(const void *data, size_t i, pcoll_datatype_t dt)
{
	switch (dt) {
	case PCOLL_FLOAT32:
		return ((const float *)data)[i];
	case PCOLL_FLOAT64:
		return ((const double *)data)[i];
	case PCOLL_FLOAT16:
		return half_to_double(((const uint16_t *)data)[i]);
	case PCOLL_BFLOAT16: {
		uint32_t bits = (uint32_t)((const uint16_t *)data)[i] << 16;
		float f;
		memcpy(&f, &bits, sizeof(f));
		return f;
	}
	case PCOLL_INT32:
		return ((const int32_t *)data)[i];
	case PCOLL_INT64:
		return (double)((const int64_t *)data)[i];
	default:
		return NAN;
	}
}

/* Every element = 1 (exact in every datatype, and so are small sums of it). */
static void fill_ones(void *buf, size_t count, pcoll_datatype_t dt)
{
	for (size_t i = 0; i < count; i++) {
		switch (dt) {
		case PCOLL_FLOAT32:
			((float *)buf)[i] = 1.0f;
			break;
		case PCOLL_FLOAT64:
			((double *)buf)[i] = 1.0;
			break;
		case PCOLL_FLOAT16:
			((uint16_t *)buf)[i] = 0x3C00;
			break;
		case PCOLL_BFLOAT16:
			((uint16_t *)buf)[i] = 0x3F80;
			break;
		case PCOLL_INT32:
			((int32_t *)buf)[i] = 1;
			break;
		case PCOLL_INT64:
			((int64_t *)buf)[i] = 1;
			break;
		default:
			break;
		}
	}
}

/* -------------------------------------------------------------- modes */

struct mode_sel {
	pcoll_mode_t mode;
	int quorum;
	char label[BENCH_NAME_LEN + 8]; /* "solo", "quorum:2" */
};

static void parse_mode(const char *name, struct mode_sel *m)
{
	char base[BENCH_NAME_LEN];
	const char *colon = strchr(name, ':');
	size_t len = colon ? (size_t)(colon - name) : strlen(name);
	int k;

	memset(m, 0, sizeof(*m));
	snprintf(base, sizeof(base), "%.*s", (int)len, name);
	for (k = 0; k < PCOLL_MODE_COUNT; k++)
		if (strcmp(base, pcoll_mode_name((pcoll_mode_t)k)) == 0)
			break;
	if (k == PCOLL_MODE_COUNT)
		die("-M: unknown mode '%s' (sync, solo, majority, quorum[:K])", name);
	m->mode = (pcoll_mode_t)k;
	if (colon && m->mode != PCOLL_QUORUM)
		die("-M: '%s': only quorum takes :K", name);
	if (m->mode == PCOLL_QUORUM) {
		m->quorum = colon ? atoi(colon + 1) : O.quorum ? O.quorum : (g_size + 1) / 2;
		if (m->quorum < 1 || m->quorum > g_size)
			die("-M/-k: quorum %d out of range [1, P=%d]", m->quorum, g_size);
		snprintf(m->label, sizeof(m->label), "quorum:%d", m->quorum);
	} else {
		snprintf(m->label, sizeof(m->label), "%s", base);
	}
}

static void attr_for(const struct mode_sel *m, pcoll_attr_t *attr)
{
	pcoll_attr_init(attr);
	attr->mode = m->mode;
	if (m->mode == PCOLL_QUORUM)
		attr->quorum = m->quorum;
	if (O.staleness >= 0)
		attr->staleness = O.staleness;
}

/* ------------------------------------------------- rounds and checks */

struct tally {
	uint64_t rounds;	/* rounds taken */
	uint64_t last_index;	/* index of the last round taken */
	uint64_t contributions; /* sum of round.contributions */
	double sum_first;	/* sum over rounds of element 0 */
	double sum_last;	/* sum over rounds of element count-1 */
	int64_t max_staleness;
	int staleness_bound;
	size_t count;
	const char *what;
};

static void tally_init(struct tally *t, pcoll_coll_t *c, size_t count, const char *what)
{
	pcoll_coll_info_t info;
	memset(t, 0, sizeof(*t));
	t->max_staleness = -1;
	t->count = count;
	t->what = what;
	CHECK(pcoll_coll_query(c, &info));
	t->staleness_bound = info.staleness;
	if (info.count != count || info.datatype != g_dt)
		die("%s: pcoll_coll_query reports count %zu datatype %d, created with %zu and %d",
		    what, info.count, (int)info.datatype, count, (int)g_dt);
}

/* Take every completed round waiting on c; check order and staleness.
 * Returns the number of rounds taken. */
static uint64_t drain(pcoll_coll_t *c, struct tally *t)
{
	pcoll_round_t r;
	uint64_t taken = 0;
	int rc;
	while ((rc = pcoll_next_round(c, &r)) == 1) {
		taken++;
		if (r.index != t->last_index + 1)
			die("%s: LIBRARY BUG: got round %llu after round %llu (rounds must come in "
			    "order, each once)",
			    t->what, (unsigned long long)r.index,
			    (unsigned long long)t->last_index);
		if (r.staleness > t->staleness_bound)
			die("%s: LIBRARY BUG: round %llu has staleness %lld > bound %d", t->what,
			    (unsigned long long)r.index, (long long)r.staleness,
			    t->staleness_bound);
		if (!r.data)
			die("%s: LIBRARY BUG: round %llu has NULL data", t->what,
			    (unsigned long long)r.index);
		t->last_index = r.index;
		t->rounds++;
		t->contributions += r.contributions;
		t->sum_first += elem_at(r.data, 0, g_dt);
		t->sum_last += elem_at(r.data, t->count - 1, g_dt);
		if (r.staleness > t->max_staleness)
			t->max_staleness = r.staleness;
	}
	CHECK(rc);
	return taken;
}

/* pcoll_step, then take its rounds: at least as many as it said were waiting
 * (exactly one in PCOLL_SYNC). */
static void step_and_drain(pcoll_coll_t *c, const void *buf, pcoll_mode_t mode, struct tally *t)
{
	int n = pcoll_step(c, buf);
	uint64_t taken;
	if (n < 0)
		fail_rc(n, "pcoll_step", __LINE__);
	if (n < 1)
		die("%s: LIBRARY BUG: pcoll_step returned %d, expected >= 1 waiting rounds",
		    t->what, n);
	taken = drain(c, t);
	if (taken < (uint64_t)n || (mode == PCOLL_SYNC && taken != 1))
		die("%s: LIBRARY BUG: pcoll_step said %d rounds were waiting, pcoll_next_round "
		    "gave %llu%s",
		    t->what, n, (unsigned long long)taken,
		    mode == PCOLL_SYNC ? " (PCOLL_SYNC: expected exactly 1)" : "");
}

/* After the flush: the rounds must hold exactly the contributions made. */
static void check_conservation(const struct tally *t, uint64_t total_steps)
{
	if (t->contributions != total_steps || t->sum_first != (double)total_steps ||
	    t->sum_last != (double)total_steps)
		die("%s: LIBRARY BUG: conservation: %llu step() calls in all, but the %llu rounds "
		    "taken count %llu contributions and sum to %.17g (element 0) and %.17g "
		    "(element %zu)",
		    t->what, (unsigned long long)total_steps, (unsigned long long)t->rounds,
		    (unsigned long long)t->contributions, t->sum_first, t->sum_last, t->count - 1);
}

/* pcoll_flush returns early (> 0) when the rounds fill the result ring:
 * take them and go on. */
static void flush_drain(pcoll_coll_t *c, struct tally *t)
{
	int rc;
	while ((rc = pcoll_flush(c)) > 0)
		drain(c, t);
	CHECK(rc);
	drain(c, t);
}

static void flush_and_destroy(pcoll_coll_t *c, struct tally *t)
{
	flush_drain(c, t);
	CHECK(pcoll_destroy(c));
}

/* ----------------------------------------------- barrier and gathers */

static void barrier(void)
{
	int32_t one = 1;
	pcoll_round_t r;
	int rc, n = 0;
	CHECK(pcoll_step(g_bar, &one));
	while ((rc = pcoll_next_round(g_bar, &r)) == 1) {
		if (*(const int32_t *)r.data != g_size)
			die("barrier: LIBRARY BUG: sync round %llu sums to %d, expected P=%d",
			    (unsigned long long)r.index, *(const int32_t *)r.data, g_size);
		n++;
	}
	CHECK(rc);
	if (n != 1)
		die("barrier: LIBRARY BUG: a PCOLL_SYNC step gave %d rounds, expected 1", n);
}

/* all[r * k + j] = rank r's mine[j], on every rank (k <= GATHER_SLOTS). */
static void gather(const double *mine, int k, double *all)
{
	size_t n = (size_t)g_size * GATHER_SLOTS;
	pcoll_round_t r;
	int rc, got = 0;

	memset(g_gbuf, 0, n * sizeof(double));
	for (int j = 0; j < k; j++)
		g_gbuf[(size_t)g_rank * GATHER_SLOTS + (size_t)j] = mine[j];
	CHECK(pcoll_step(g_gather, g_gbuf));
	while ((rc = pcoll_next_round(g_gather, &r)) == 1) {
		const double *d = r.data;
		for (int p = 0; p < g_size; p++)
			for (int j = 0; j < k; j++)
				all[p * k + j] = d[(size_t)p * GATHER_SLOTS + (size_t)j];
		got++;
	}
	CHECK(rc);
	if (got != 1)
		die("gather: LIBRARY BUG: a PCOLL_SYNC step gave %d rounds, expected 1", got);
}

static double *xcalloc(size_t n, size_t sz)
{
	double *p = calloc(n ? n : 1, sz);
	if (!p)
		die("out of memory (%zu x %zu bytes)", n, sz);
	return p;
}

/* ------------------------------------------------------------ allreduce */

/* One block of iterations of c in the run's shape; returns this rank's time
 * per iteration (us). The block ends flushed, every round drained. */
static double time_block(pcoll_coll_t *c, const void *buf, const struct mode_sel *m,
			 struct tally *t, int iters, int warmup)
{
	double lat = 0.0;
	if (O.b2b) {
		/* A training loop: step after step, every round drained, closed by a
		 * flush. Not a barrier: in the partial modes a process's last step
		 * may wait on a round that the others hold until they step again or
		 * flush. */
		barrier();
		for (int i = 0; i < warmup; i++)
			step_and_drain(c, buf, m->mode, t);
		flush_drain(c, t);
		double t0 = bench_now_us();
		for (int i = 0; i < iters; i++)
			step_and_drain(c, buf, m->mode, t);
		flush_drain(c, t);
		return (bench_now_us() - t0) / iters;
	}
	for (int i = 0; i < warmup + iters; i++) {
		barrier();
		double t0 = bench_now_us();
		step_and_drain(c, buf, m->mode, t);
		double t1 = bench_now_us();
		if (i >= warmup)
			lat += t1 - t0;
	}
	flush_drain(c, t);
	return lat / iters;
}

/* A buffer of the largest size (-m MAX, at least one element) filled with ones. */
static void *ones_buffer(void)
{
	size_t dts = pcoll_datatype_size(g_dt);
	size_t bytes = O.max_size >= dts ? O.max_size : dts;
	void *buf = malloc(bytes);
	if (!buf)
		die("out of memory");
	fill_ones(buf, bytes / dts, g_dt);
	return buf;
}

static void run_allreduce(const struct mode_sel *modes, int nmodes)
{
	size_t dts = pcoll_datatype_size(g_dt);
	void *buf = ones_buffer();
	double *all = xcalloc((size_t)g_size, sizeof(double));
	char title[256];

	for (int i = 0; i < bench_settle_barriers(&O); i++)
		barrier();
	for (int mi = 0; mi < nmodes; mi++) {
		const struct mode_sel *m = &modes[mi];
		pcoll_attr_t attr;
		attr_for(m, &attr);
		if (g_rank == 0) {
			snprintf(title, sizeof(title),
				 "# pcoll Allreduce Latency Test (mode=%s, provider=%s, P=%d%s)",
				 m->label, g_provider, g_size, O.b2b ? ", back-to-back" : "");
			char info[256];
			snprintf(info, sizeof(info),
				 "# datatype=%s staleness=%d notify=%s wait=%s progress_thread=%d",
				 pcoll_datatype_name(g_dt),
				 m->mode == PCOLL_SYNC ? 0 : attr.staleness,
				 g_info.notify == PCOLL_NOTIFY_CNTR ? "cntr" : "cqdata",
				 g_info.wait, g_info.progress_thread);
			if (mi > 0)
				printf("\n");
			bench_print_latency_header(stdout, title, O.full ? info : NULL, O.full);
		}
		for (size_t size = O.min_size; size <= O.max_size; size *= 2) {
			size_t count = size / dts;
			int iters, warmup;
			pcoll_coll_t *c = NULL;
			struct tally t;
			double mine, lo, hi, avg;
			char what[96];

			if (count == 0)
				continue;
			bench_iters_for(&O, size, &iters, &warmup);
			snprintf(what, sizeof(what), "allreduce mode=%s size=%zu", m->label, size);
			CHECK(pcoll_allreduce_create(g_ctx, count, g_dt, &attr, &c));
			tally_init(&t, c, count, what);
			pcoll_coll_info_t ci;
			CHECK(pcoll_coll_query(c, &ci));
			const char *algorithm = ci.algorithm; /* a constant string */
			mine = time_block(c, buf, m, &t, iters, warmup);
			CHECK(pcoll_destroy(c));
			check_conservation(&t, (uint64_t)g_size * (uint64_t)(warmup + iters));
			gather(&mine, 1, all);
			if (g_rank == 0) {
				bench_minmaxavg(all, g_size, &lo, &hi, &avg);
				bench_print_latency_row(stdout, size, avg, lo, hi, iters, O.full);
				if (g_csv)
					bench_csv_latency_row(g_csv, "pcoll", m->label, g_provider,
							      g_size, size, avg, lo, hi, iters,
							      bench_shape(&O), algorithm);
			}
		}
	}
	free(all);
	free(buf);
}

/* ------------------------------------------------- allreduce --idle-colls */

#define IDLE_COLLS_CSV_HEADER                                                                      \
	"bench,impl,mode,provider,P,size,shape,idle_colls,block,avg_us,min_us,max_us,iters,"       \
	"ratio"
#define DOORBELLS_CSV_HEADER                                                                       \
	"bench,impl,mode,provider,P,size,shape,doorbells,block,avg_us,min_us,max_us,iters,"        \
	"ratio"
#define IDLE_COUNT_MAX 1024 /* elements of an idle collective: its size barely matters */

static double median(const double *v, int n)
{
	return (bench_kth_smallest(v, n, (n - 1) / 2) + bench_kth_smallest(v, n, n / 2)) / 2;
}

/* Open n collectives like the busy one, use each once (one step, a flush) and
 * leave them: open and idle while the busy collective runs. */
static pcoll_coll_t **idle_open(int n, const pcoll_attr_t *attr, size_t count, const void *buf,
				const struct mode_sel *m)
{
	pcoll_coll_t **cs = calloc((size_t)n, sizeof(*cs));
	if (!cs)
		die("out of memory");
	for (int i = 0; i < n; i++) {
		struct tally t;
		CHECK(pcoll_allreduce_create(g_ctx, count, g_dt, attr, &cs[i]));
		tally_init(&t, cs[i], count, "idle collective");
		step_and_drain(cs[i], buf, m->mode, &t);
		CHECK(pcoll_flush(cs[i]));
		drain(cs[i], &t);
		check_conservation(&t, (uint64_t)g_size);
	}
	return cs;
}

static void idle_close(pcoll_coll_t **cs, int n)
{
	for (int i = 0; i < n; i++)
		CHECK(pcoll_destroy(cs[i]));
	free(cs);
}

/* ----------------------------------------------- allreduce --background */

#define BACKGROUND_CSV_HEADER                                                                      \
	"bench,impl,mode,provider,P,size,shape,background,reduce,block,avg_us,bg_steps_per_s,"     \
	"iters,ratio"

#define BACKGROUND_WARM 3 /* its steps before the block is timed */

/* A collective that a second thread steps back to back while the timed one
 * runs: solo, so that the ranks may stop after different step counts. */
struct background {
	pcoll_coll_t *c;
	const void *buf;
	struct tally t;
	pthread_t thread;
	atomic_int stop, going; /* going: steps done, up to BACKGROUND_WARM */
	uint64_t steps, total;	/* in this block; over all blocks */
	double rate;		/* steps per second in this block */
};

/* A collective created with var=value in the environment (value NULL: as
 * set), the environment restored after: choices the library reads at create
 * and that have no attribute. */
static pcoll_coll_t *create_with_env(const char *var, const char *value, size_t count,
				     const pcoll_attr_t *attr)
{
	const char *env = getenv(var);
	char *keep = env ? strdup(env) : NULL;
	pcoll_coll_t *c;
	if (value)
		setenv(var, value, 1);
	CHECK(pcoll_allreduce_create(g_ctx, count, g_dt, attr, &c));
	if (keep)
		setenv(var, keep, 1);
	else
		unsetenv(var);
	free(keep);
	return c;
}

/* outside: its reductions run outside the engine lock (the library's default,
 * or PCOLL_UNLOCKED_REDUCE_BYTES as set); otherwise all under it. */
static void background_create(struct background *b, int outside, const void *buf)
{
	size_t count = O.background / pcoll_datatype_size(g_dt);
	pcoll_attr_t attr;
	pcoll_attr_init(&attr);
	attr.mode = PCOLL_SOLO;
	memset(b, 0, sizeof(*b));
	b->c = create_with_env("PCOLL_UNLOCKED_REDUCE_BYTES", outside ? NULL : "0", count, &attr);
	tally_init(&b->t, b->c, count, outside ? "background (outside)" : "background (under)");
	b->buf = buf;
}

static void *background_main(void *arg)
{
	struct background *b = arg;
	double t0 = bench_now_us();
	while (!atomic_load(&b->stop)) {
		step_and_drain(b->c, b->buf, PCOLL_SOLO, &b->t);
		if (++b->steps <= BACKGROUND_WARM)
			atomic_store(&b->going, (int)b->steps);
	}
	b->rate = b->steps / ((bench_now_us() - t0) * 1e-6);
	flush_drain(b->c, &b->t);
	return NULL;
}

static void background_start(struct background *b)
{
	b->steps = 0;
	atomic_store(&b->stop, 0);
	atomic_store(&b->going, 0);
	if (pthread_create(&b->thread, NULL, background_main, b))
		die("cannot start the background thread");
	/* Time nothing before it runs: starting a thread and its first rounds
	 * take longer than a block of small steps. */
	while (atomic_load(&b->going) < BACKGROUND_WARM)
		bench_sleep_us(100);
}

static void background_stop(struct background *b)
{
	atomic_store(&b->stop, 1);
	pthread_join(b->thread, NULL);
	b->total += b->steps;
}

static void background_destroy(struct background *b)
{
	double mine = (double)b->total, *all = xcalloc((size_t)g_size, sizeof(double)), sum = 0;
	gather(&mine, 1, all);
	for (int p = 0; p < g_size; p++)
		sum += all[p];
	free(all);
	check_conservation(&b->t, (uint64_t)sum);
	CHECK(pcoll_destroy(b->c));
}

/* --doorbells: a collective created with PCOLL_DOORBELLS=with (the rest of
 * the environment as set), its tally started afresh. */
static pcoll_coll_t *doorbells_create(int with, size_t count, const pcoll_attr_t *attr,
				      struct tally *t, const char *what)
{
	pcoll_coll_t *c = create_with_env("PCOLL_DOORBELLS", with ? "1" : "0", count, attr);
	tally_init(t, c, count, what);
	return c;
}

/*
 * Two variants of one comparison, in -n pairs of blocks (A,B then B,A, so a
 * drift of the machine's load weighs on both alike); the ratio of each pair
 * compares its two adjacent blocks, and its median and range are printed.
 *   --idle-colls N  the scale of the engine: the busy collective's latency
 *                   with 0 (A) and with N (B) idle collectives open;
 *   --background S  the engine lock: the latency while another thread steps
 *                   an S-byte collective whose reductions run under the
 *                   lock (A) or outside it (B);
 *   --doorbells     the counter path's doorbells: the latency of a collective
 *                   created with PCOLL_DOORBELLS=0 (A) or 1 (B), a new one for
 *                   each block, so that only one is open at a time.
 */
static void run_allreduce_pairs(const struct mode_sel *modes, int nmodes)
{
	size_t dts = pcoll_datatype_size(g_dt);
	int N = O.idle_colls, R = O.steps, bg = O.background != 0, db = O.doorbells;
	void *buf = ones_buffer(), *bgbuf = NULL;
	double *all = xcalloc((size_t)g_size * 2, sizeof(double)),
	       *col = xcalloc((size_t)g_size * 2, sizeof(double));
	double *lat0 = xcalloc((size_t)R, sizeof(double)),
	       *latn = xcalloc((size_t)R, sizeof(double));
	double *rate0 = xcalloc((size_t)R, sizeof(double)),
	       *raten = xcalloc((size_t)R, sizeof(double));
	double *ratio = xcalloc((size_t)R, sizeof(double));
	char a_name[32], b_name[32];

	if (bg) {
		bgbuf = malloc(O.background);
		if (!bgbuf)
			die("out of memory");
		fill_ones(bgbuf, O.background / dts, g_dt);
		snprintf(a_name, sizeof(a_name), "under");
		snprintf(b_name, sizeof(b_name), "outside");
	} else if (db) {
		snprintf(a_name, sizeof(a_name), "without");
		snprintf(b_name, sizeof(b_name), "with");
	} else {
		snprintf(a_name, sizeof(a_name), "0 idle");
		snprintf(b_name, sizeof(b_name), "%d idle", N);
	}
	for (int mi = 0; mi < nmodes; mi++) {
		const struct mode_sel *m = &modes[mi];
		pcoll_attr_t attr;
		attr_for(m, &attr);
		if (g_rank == 0) {
			if (mi > 0)
				printf("\n");
			printf("# pcoll Allreduce Latency with %s (mode=%s, provider=%s, P=%d%s)\n",
			       bg   ? "a Background Collective"
			       : db ? "and without Doorbells"
				    : "Idle Collectives",
			       m->label, g_provider, g_size, O.b2b ? ", back-to-back" : "");
			printf("# datatype=%s staleness=%d notify=%s wait=%s; ",
			       pcoll_datatype_name(g_dt),
			       m->mode == PCOLL_SYNC ? 0 : attr.staleness,
			       g_info.notify == PCOLL_NOTIFY_CNTR ? "cntr" : "cqdata", g_info.wait);
			if (bg)
				printf(
				    "a second thread steps a solo collective of %zu bytes back to "
				    "back, its reductions under the engine lock or outside it; ",
				    O.background);
			else if (db)
				printf("a new collective per block, created with PCOLL_DOORBELLS=0 "
				       "or 1; ");
			else
				printf(
				    "%d idle collectives of the same mode (at most %d elements), ",
				    N, IDLE_COUNT_MAX);
			printf("%d pairs of blocks (%s,%s then %s,%s)\n", R, a_name, b_name, b_name,
			       a_name);
			printf("# Latency: median over the pairs of the average over ranks; "
			       "Ratio: %s / %s, per pair%s\n",
			       b_name, a_name,
			       bg ? "; Bg: the background collective's steps/s, averaged" : "");
			if (bg)
				printf("%-10s%16s%16s%12s%12s%12s%12s%12s\n", "# Size",
				       "Lat under(us)", "Lat outside(us)", "Ratio", "Ratio min",
				       "Ratio max", "Bg under", "Bg outside");
			else if (db)
				printf("%-10s%16s%16s%12s%12s%12s\n", "# Size", "Lat without(us)",
				       "Lat with(us)", "Ratio", "Ratio min", "Ratio max");
			else
				printf("%-10s%16s%16s%12s%12s%12s\n", "# Size", "Lat 0 idle(us)",
				       "Lat N idle(us)", "Ratio", "Ratio min", "Ratio max");
		}
		for (size_t size = O.min_size; size <= O.max_size; size *= 2) {
			size_t count = size / dts,
			       icount = count < IDLE_COUNT_MAX ? count : IDLE_COUNT_MAX;
			int iters, warmup;
			pcoll_coll_t *c = NULL;
			struct tally t;
			struct background bgs[2];
			char what[96];

			if (count == 0)
				continue;
			bench_iters_for(&O, size, &iters, &warmup);
			snprintf(what, sizeof(what), "allreduce mode=%s size=%zu (busy)", m->label,
				 size);
			if (!db) {
				CHECK(pcoll_allreduce_create(g_ctx, count, g_dt, &attr, &c));
				tally_init(&t, c, count, what);
			}
			for (int k = 0; bg && k < 2; k++)
				background_create(&bgs[k], k, bgbuf);
			for (int rep = 0; rep < R; rep++) {
				for (int k = 0; k < 2; k++) {
					int with = (rep & 1) ? !k : k;
					pcoll_coll_t **idle = NULL;
					if (bg)
						background_start(&bgs[with]);
					else if (db)
						c = doorbells_create(with, count, &attr, &t, what);
					else if (with)
						idle = idle_open(N, &attr, icount, buf, m);
					double mine[2] = {time_block(c, buf, m, &t, iters, warmup),
							  0},
					       lo, hi, avg, rlo, rhi, ravg = 0;
					if (bg) {
						background_stop(&bgs[with]);
						mine[1] = bgs[with].rate;
					}
					if (idle)
						idle_close(idle, N);
					if (db) {
						CHECK(pcoll_destroy(c));
						check_conservation(&t,
								   (uint64_t)g_size *
								       (uint64_t)(warmup + iters));
					}
					gather(mine, 2, all);
					if (g_rank != 0)
						continue;
					for (int p = 0; p < g_size; p++) /* two columns */
						col[p] = all[2 * p],
						col[g_size + p] = all[2 * p + 1];
					bench_minmaxavg(col, g_size, &lo, &hi, &avg);
					bench_minmaxavg(col + g_size, g_size, &rlo, &rhi, &ravg);
					(with ? latn : lat0)[rep] = avg;
					(with ? raten : rate0)[rep] = ravg;
					if (g_csv && k == 1 && bg) {
						for (int w = 0; w < 2; w++)
							fprintf(
							    g_csv,
							    "allreduce_background,pcoll,%s,%s,%d,%"
							    "zu,%s,%zu,%s,%d,%.3f,%.1f,%d,%.4f\n",
							    m->label, g_provider, g_size, size,
							    bench_shape(&O), O.background,
							    w ? b_name : a_name, rep,
							    w ? latn[rep] : lat0[rep],
							    w ? raten[rep] : rate0[rep], iters,
							    w ? latn[rep] / lat0[rep] : 1.0);
						fflush(g_csv);
					} else if (g_csv && k == 1 && db) {
						for (int w = 0; w < 2; w++)
							fprintf(g_csv,
								"allreduce_doorbells,pcoll,%s,%s,%"
								"d,%zu,"
								"%s,%d,%d,%.3f,,,%d,%.4f\n",
								m->label, g_provider, g_size, size,
								bench_shape(&O), w, rep,
								w ? latn[rep] : lat0[rep], iters,
								w ? latn[rep] / lat0[rep] : 1.0);
						fflush(g_csv);
					} else if (g_csv && k == 1) {
						/* Both blocks of the pair, 0 first. */
						fprintf(g_csv,
							"allreduce_idle,pcoll,%s,%s,%d,%zu,%s,0,%d,"
							"%.3f,,,%d,1\n",
							m->label, g_provider, g_size, size,
							bench_shape(&O), rep, lat0[rep], iters);
						fprintf(
						    g_csv,
						    "allreduce_idle,pcoll,%s,%s,%d,%zu,%s,%d,%d,"
						    "%.3f,,,%d,%.4f\n",
						    m->label, g_provider, g_size, size,
						    bench_shape(&O), N, rep, latn[rep], iters,
						    latn[rep] / lat0[rep]);
						fflush(g_csv);
					}
				}
			}
			for (int k = 0; bg && k < 2; k++)
				background_destroy(&bgs[k]);
			if (!db) {
				CHECK(pcoll_destroy(c));
				check_conservation(&t, (uint64_t)g_size * 2 * (uint64_t)R *
							   (uint64_t)(warmup + iters));
			}
			if (g_rank != 0)
				continue;
			for (int rep = 0; rep < R; rep++)
				ratio[rep] = latn[rep] / lat0[rep];
			double rlo, rhi, ravg;
			bench_minmaxavg(ratio, R, &rlo, &rhi, &ravg);
			printf("%-10zu%16.2f%16.2f%12.3f%12.3f%12.3f", size, median(lat0, R),
			       median(latn, R), median(ratio, R), rlo, rhi);
			if (bg)
				printf("%12.1f%12.1f", median(rate0, R), median(raten, R));
			printf("\n");
			fflush(stdout);
		}
	}
	free(ratio);
	free(raten);
	free(rate0);
	free(latn);
	free(lat0);
	free(col);
	free(all);
	free(bgbuf);
	free(buf);
}

/* ------------------------------------------------------------ imbalance */

/* Compute time (ms) of every rank for round v: identical on all ranks. */
static void compute_times(int pi, uint64_t v, double *c, int *perm)
{
	bench_pattern_times(pi, O.seed, O.base_ms, g_size, v, c, perm);
}

static const char *bound_basis(const struct mode_sel *m)
{
	switch (m->mode) {
	case PCOLL_SYNC:
		return "max";
	case PCOLL_SOLO:
		return "min";
	case PCOLL_MAJORITY:
		return "initiator";
	default:
		return "kth";
	}
}

/* The old bound: time (ms) of round v+1 for mode m given every rank's compute
 * c, as if a round started at its trigger's arrival and nobody ever held one
 * for staleness. */
static double bound_round_ms(const struct mode_sel *m, const double *c, const pcoll_coll_t *coll,
			     uint64_t v)
{
	double lo, hi, avg;
	bench_minmaxavg(c, g_size, &lo, &hi, &avg);
	switch (m->mode) {
	case PCOLL_SYNC:
		return hi;
	case PCOLL_SOLO:
		return lo;
	case PCOLL_MAJORITY: {
		int who = pcoll_round_initiator(coll, v + 1);
		return who >= 0 ? c[who] : avg;
	}
	default:
		return bench_kth_smallest(c, g_size, m->quorum - 1);
	}
}

/* The simulator's view of a run: compute times by version, the initiators. */
struct sim_arg {
	const double *cm; /* cm[v * P + p]: rank p's compute (ms) at version v */
	const pcoll_coll_t *coll;
};

static double sim_compute(void *arg, uint64_t v, int p)
{
	const struct sim_arg *a = arg;
	return a->cm[v * (uint64_t)g_size + (uint64_t)p];
}

static int sim_initiator(void *arg, uint64_t r)
{
	const struct sim_arg *a = arg;
	return pcoll_round_initiator(a->coll, r);
}

/* The ideal of this run: N rounds of compute times replayed at zero cost. */
static void ideal_of(const struct mode_sel *m, int S, const pcoll_coll_t *coll, const double *cm,
		     uint64_t N, struct sim_result *res)
{
	struct sim_arg a = {cm, coll};
	struct sim_cfg cfg = {m->mode, g_size, S, m->quorum, N, sim_compute, sim_initiator, &a};
	if (sim_ideal(&cfg, res))
		die("imbalance: the ideal simulator failed (mode %s, P=%d, S=%d)", m->label, g_size,
		    S);
}

static void run_imbalance(const struct mode_sel *modes, int nmodes)
{
	size_t dts = pcoll_datatype_size(g_dt);
	size_t count = O.max_size / dts ? O.max_size / dts : 1;
	void *buf = malloc(count * dts);
	double *c = xcalloc((size_t)g_size, sizeof(double));
	int *perm = calloc((size_t)g_size, sizeof(int));
	double *all = xcalloc((size_t)g_size * 5, sizeof(double));
	uint64_t N = (uint64_t)O.steps;
	double *cm = xcalloc((size_t)N * (size_t)g_size, sizeof(double));

	if (!buf || !perm)
		die("out of memory");
	fill_ones(buf, count, g_dt);
	if (O.patterns) { /* reject unknown names early, identically on all ranks */
		const char *p = O.patterns;
		while (*p) {
			const char *comma = strchr(p, ',');
			size_t l = comma ? (size_t)(comma - p) : strlen(p);
			if (bench_pattern_find(p, l) < 0)
				die("--patterns: unknown pattern '%.*s'", (int)l, p);
			p += l;
			if (*p == ',')
				p++;
		}
	}

	for (int mi = 0; mi < nmodes; mi++) {
		const struct mode_sel *m = &modes[mi];
		pcoll_attr_t attr;
		attr_for(m, &attr);
		if (g_rank == 0) {
			if (mi > 0)
				printf("\n");
			printf("# pcoll Imbalance Test (mode=%s, provider=%s, P=%d)\n", m->label,
			       g_provider, g_size);
			printf("# base=%.1f ms, rounds=%llu, size=%zu B (%s), seed=%llu\n",
			       O.base_ms, (unsigned long long)N, count * dts,
			       pcoll_datatype_name(g_dt), (unsigned long long)O.seed);
			printf("# Steps/s: rounds / time until the first process was given round "
			       "%llu\n# Ideal: the same, for the same compute times replayed "
			       "through the round and\n#   staleness rules (S=%d) at zero "
			       "communication cost (sim_ideal.c); Ratio = Steps/Ideal\n",
			       (unsigned long long)N, m->mode == PCOLL_SYNC ? 0 : attr.staleness);
			printf("# Bound: rounds / sum over rounds of the %s, ignoring staleness\n",
			       m->mode == PCOLL_SYNC   ? "latest arrival (max compute)"
			       : m->mode == PCOLL_SOLO ? "earliest arrival (min compute)"
			       : m->mode == PCOLL_MAJORITY
				   ? "initiator's arrival (pcoll_round_initiator)"
				   : "k-th earliest arrival (k-th smallest compute)");
			printf("%-14s%14s%16s%10s%16s%10s", "# Pattern", "Steps/s", "Ideal steps/s",
			       "Ratio", "Bound steps/s", "/Bound");
			if (O.full)
				printf("%14s%14s%12s%10s", "Mean-rank/s", "Last-rank/s",
				       "Steps(r0)", "MaxStale");
			printf("\n");
			fflush(stdout);
		}
		for (int pi = 0; pi < bench_npatterns; pi++) {
			const struct pattern *p = &bench_patterns[pi];
			pcoll_coll_t *coll = NULL;
			struct tally t;
			char what[96];
			double bound_ms = 0.0, t0, elapsed, mine[5];
			struct sim_result sim;
			uint64_t steps = 0, total_steps = 0;

			if (!bench_pattern_selected(O.patterns, p->name))
				continue;
			if (!bench_pattern_fits(pi, g_size)) {
				if (g_rank == 0)
					printf("# %-12s skipped: needs P > %d\n", p->name,
					       p->ndelayed);
				continue;
			}
			snprintf(what, sizeof(what), "imbalance mode=%s pattern=%s", m->label,
				 p->name);
			CHECK(pcoll_allreduce_create(g_ctx, count, g_dt, &attr, &coll));
			for (uint64_t v = 0; v < N; v++) {
				compute_times(pi, v, c, perm);
				bound_ms += bound_round_ms(m, c, coll, v);
				memcpy(cm + v * (uint64_t)g_size, c,
				       sizeof(double) * (size_t)g_size);
			}
			tally_init(&t, coll, count, what);
			ideal_of(m, t.staleness_bound, coll, cm, N, &sim);
			barrier();
			t0 = bench_now_us();
			while (t.last_index < N) {
				compute_times(pi, t.last_index, c, perm);
				bench_sleep_us(c[g_rank] * 1e3);
				step_and_drain(coll, buf, m->mode, &t);
				steps++;
			}
			elapsed = bench_now_us() - t0;
			flush_and_destroy(coll, &t);

			mine[0] = elapsed;
			mine[1] = (double)steps;
			mine[2] = t.sum_first;
			mine[3] = (double)t.contributions;
			mine[4] = (double)t.max_staleness;
			gather(mine, 5, all);
			for (int r = 0; r < g_size; r++)
				total_steps += (uint64_t)all[r * 5 + 1];
			check_conservation(&t, total_steps);
			if (g_rank == 0) {
				double *el = xcalloc((size_t)g_size, sizeof(double));
				double lo, hi, avg, maxst = -1;
				for (int r = 0; r < g_size; r++) {
					el[r] = all[r * 5];
					if (all[r * 5 + 4] > maxst)
						maxst = all[r * 5 + 4];
				}
				bench_minmaxavg(el, g_size, &lo, &hi, &avg);
				double sps = (double)N / (lo * 1e-6);
				double ideal =
				    sim.t_first > 0 ? (double)N / (sim.t_first * 1e-3) : INFINITY;
				double bound =
				    bound_ms > 0 ? (double)N / (bound_ms * 1e-3) : INFINITY;
				double ratio = sps / ideal;
				printf("%-14s%14.2f%16.2f%10.3f%16.2f%10.3f", p->name, sps, ideal,
				       ratio, bound, sps / bound);
				if (O.full)
					printf("%14.2f%14.2f%12llu%10.0f", (double)N / (avg * 1e-6),
					       (double)N / (hi * 1e-6), (unsigned long long)steps,
					       maxst);
				printf("\n");
				fflush(stdout);
				if (g_csv) {
					fprintf(
					    g_csv,
					    "imbalance,pcoll,%s,%s,%d,%zu,%s,%.3f,%llu,%.3f,%.3f,"
					    "%.4f,sim,%.3f,%.3f,%d,%.3f,%.4f,%s,%.3f\n",
					    m->label, g_provider, g_size, count * dts, p->name,
					    O.base_ms, (unsigned long long)N, sps, ideal, ratio,
					    (double)N / (avg * 1e-6), (double)N / (hi * 1e-6),
					    t.staleness_bound, bound, sps / bound, bound_basis(m),
					    (double)N / (sim.t_mean * 1e-3));
					fflush(g_csv);
				}
				free(el);
			}
		}
	}
	free(cm);
	free(all);
	free(perm);
	free(c);
	free(buf);
}

/* ----------------------------------------------------------------- idle */

static void run_idle(const struct mode_sel *modes, int nmodes)
{
	size_t dts = pcoll_datatype_size(g_dt);
	size_t count = O.max_size / dts ? O.max_size / dts : 1;
	void *buf = malloc(count * dts);
	double *all = xcalloc((size_t)g_size, sizeof(double));

	if (!buf)
		die("out of memory");
	fill_ones(buf, count, g_dt);
	if (g_rank == 0) {
		printf("# pcoll Idle CPU Test (provider=%s, P=%d, wait=%s, T=%.1f s, size=%zu B)\n",
		       g_provider, g_size, g_info.wait, O.idle_s, count * dts);
		printf("# CPU time (user+system, all threads) over the sleep, %% of one core per "
		       "process;\n# baseline: no benchmark collective (only this tool's idle "
		       "barrier and "
		       "statistics collectives)\n");
		printf("%-16s%14s%14s%14s", "# Mode", "Avg CPU(%)", "Min CPU(%)", "Max CPU(%)");
		if (O.full)
			for (int r = 0; r < g_size && r < 64; r++) {
				char h[24];
				snprintf(h, sizeof(h), "rank%d(%%)", r);
				printf("%12s", h);
			}
		printf("\n");
		fflush(stdout);
	}
	for (int mi = -1; mi < nmodes; mi++) {
		const struct mode_sel *m = mi >= 0 ? &modes[mi] : NULL;
		pcoll_coll_t *coll = NULL;
		struct tally t;
		char what[96];
		double cpu0, cpu1, w0, w1, pct, lo, hi, avg;

		snprintf(what, sizeof(what), "idle mode=%s", m ? m->label : "baseline");
		if (m) {
			pcoll_attr_t attr;
			attr_for(m, &attr);
			CHECK(pcoll_allreduce_create(g_ctx, count, g_dt, &attr, &coll));
			tally_init(&t, coll, count, what);
			step_and_drain(coll, buf, m->mode, &t);
		}
		barrier();
		cpu0 = bench_cpu_us();
		w0 = bench_now_us();
		bench_sleep_us(O.idle_s * 1e6);
		cpu1 = bench_cpu_us();
		w1 = bench_now_us();
		pct = w1 > w0 ? 100.0 * (cpu1 - cpu0) / (w1 - w0) : 0.0;
		if (m) {
			flush_and_destroy(coll, &t);
			check_conservation(&t, (uint64_t)g_size);
		}
		gather(&pct, 1, all);
		if (g_rank == 0) {
			bench_minmaxavg(all, g_size, &lo, &hi, &avg);
			printf("%-16s%14.2f%14.2f%14.2f", m ? m->label : "baseline", avg, lo, hi);
			if (O.full)
				for (int r = 0; r < g_size && r < 64; r++)
					printf("%12.2f", all[r]);
			printf("\n");
			fflush(stdout);
			if (g_csv) {
				fprintf(g_csv, "idle,pcoll,%s,%s,%d,%zu,%.3f,%.3f,%.3f,%.3f,%s\n",
					m ? m->label : "baseline", g_provider, g_size, count * dts,
					(w1 - w0) * 1e-6, avg, lo, hi, g_info.wait);
				fflush(g_csv);
			}
		}
	}
	free(all);
	free(buf);
}

/* ---------------------------------------------------------------- create */

/* What embedding costs: -i creates of one collective (size MAX) back to back,
 * then as many destroys, then team splits and team destroys. Each phase is
 * timed on every rank between barriers; the average per call is printed.
 * The collectives have the first of -M's modes and -S. Also what one holds
 * (pcoll_coll_query's memory_bytes) and what the creates added to the
 * resident set, per collective. */
static void run_create(const struct mode_sel *mode)
{
	size_t dts = pcoll_datatype_size(g_dt);
	size_t count = O.max_size / dts ? O.max_size / dts : 1;
	int n = O.iters > 0 ? O.iters : O.quick ? 20 : 1000;
	pcoll_coll_t **cs = calloc((size_t)n, sizeof(*cs));
	pcoll_team_t **ts = calloc((size_t)n, sizeof(*ts));
	if (!cs || !ts)
		die("out of memory");
	const char *calls[4] = {"pcoll_allreduce_create", "pcoll_destroy", "pcoll_team_split",
				"pcoll_team_destroy"};
	double per[4], *all = xcalloc((size_t)g_size, sizeof(double));
	if (g_rank == 0) {
		printf(
		    "# pcoll Create Test (provider=%s, P=%d, wireup=%s, size=%zu B, %d of each)\n",
		    g_provider, g_size, g_info.wireup, count * dts, n);
		printf("%-26s%14s%14s%14s\n", "# Call", "Avg(us)", "Min(us)", "Max(us)");
	}
	double rss0 = 0, mem[2] = {0, 0};
	for (int phase = 0; phase < 4; phase++) {
		barrier();
		if (phase == 0)
			rss0 = bench_rss_kib();
		double t0 = bench_now_us();
		for (int i = 0; i < n; i++) {
			pcoll_attr_t a;
			switch (phase) {
			case 0:
				attr_for(mode, &a);
				CHECK(pcoll_allreduce_create(g_ctx, count, g_dt, &a, &cs[i]));
				break;
			case 1:
				CHECK(pcoll_destroy(cs[i]));
				break;
			case 2:
				CHECK(pcoll_team_split(g_ctx, 0, g_rank, &ts[i]));
				break;
			default:
				CHECK(pcoll_team_destroy(ts[i]));
			}
		}
		per[phase] = (bench_now_us() - t0) / n;
		if (phase == 0) {
			pcoll_coll_info_t qi;
			CHECK(pcoll_coll_query(cs[0], &qi));
			mem[0] = (double)qi.memory_bytes;
			mem[1] = (bench_rss_kib() - rss0) * 1024.0 / n;
			if (g_rank == 0)
				printf("# memory per collective: %.0f bytes = %.2fx the buffer "
				       "(S=%d, %s); resident set +%.0f bytes per create\n",
				       mem[0], mem[0] / (double)(count * dts), qi.staleness,
				       qi.algorithm, mem[1]);
			if (g_rank == 0 && g_csv)
				fprintf(
				    g_csv,
				    "create,pcoll,memory_bytes,%s,%d,%zu,%d,%.0f,%.0f,%.0f,%s\n",
				    g_provider, g_size, count * dts, qi.staleness, mem[0],
				    mem[0] / (double)(count * dts), mem[1], qi.algorithm);
		}
	}
	for (int phase = 0; phase < 4; phase++) {
		double lo, hi, avg;
		gather(&per[phase], 1, all);
		if (g_rank != 0)
			continue;
		bench_minmaxavg(all, g_size, &lo, &hi, &avg);
		printf("%-26s%14.2f%14.2f%14.2f\n", calls[phase], avg, lo, hi);
		if (g_csv)
			fprintf(g_csv, "create,pcoll,%s,%s,%d,%zu,%d,%.3f,%.3f,%.3f,%s\n",
				calls[phase], g_provider, g_size, count * dts, n, avg, lo, hi,
				g_info.wireup);
	}
	free(all);
	free(cs);
	free(ts);
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	unsigned allowed = BENCH_KIND_MASK(BENCH_ALLREDUCE) | BENCH_KIND_MASK(BENCH_IMBALANCE) |
			   BENCH_KIND_MASK(BENCH_IDLE) | BENCH_KIND_MASK(BENCH_CREATE);
	struct mode_sel modes[BENCH_MAX_MODES];
	pcoll_config_t cfg;
	pcoll_attr_t gattr;
	int rc, dt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = bench_parse(argc, argv, &O, PROG, allowed, "sync,solo,majority,quorum");
	if (rc)
		return rc > 0 ? 0 : 2;
	for (dt = 0; dt < PCOLL_DATATYPE_COUNT; dt++)
		if (strcmp(O.datatype, pcoll_datatype_name((pcoll_datatype_t)dt)) == 0)
			break;
	if (dt == PCOLL_DATATYPE_COUNT) {
		if (bench_env_rank() <= 0)
			fprintf(stderr, PROG ": -t %s: unknown datatype\n", O.datatype);
		return 2;
	}
	g_dt = (pcoll_datatype_t)dt;
	for (int i = 0; i < O.nmodes; i++) { /* names now; quorum ranges once P is known */
		size_t len = strcspn(O.modes[i], ":");
		int k;
		for (k = 0; k < PCOLL_MODE_COUNT; k++)
			if (strlen(pcoll_mode_name((pcoll_mode_t)k)) == len &&
			    strncmp(O.modes[i], pcoll_mode_name((pcoll_mode_t)k), len) == 0)
				break;
		if (k == PCOLL_MODE_COUNT) {
			if (bench_env_rank() <= 0)
				fprintf(stderr,
					PROG ": -M: unknown mode '%s' (sync, solo, majority, "
					     "quorum[:K])\n",
					O.modes[i]);
			return 2;
		}
	}

	g_rank = bench_env_rank(); /* for messages until pcoll_init says */
	pcoll_config_init(&cfg);
	if (O.provider)
		cfg.provider = O.provider;
	if (O.background) /* two threads drive two collectives */
		cfg.thread_level = PCOLL_THREAD_MULTIPLE;
	CHECK(pcoll_init(&cfg, &g_ctx));
	g_rank = pcoll_rank(g_ctx);
	g_size = pcoll_size(g_ctx);
	CHECK(g_rank);
	CHECK(g_size);
	CHECK(pcoll_ctx_query(g_ctx, &g_info));
	snprintf(g_provider, sizeof(g_provider), "%s", g_info.provider);
	bench_csv_sanitize(g_provider);
	for (int i = 0; i < O.nmodes; i++)
		parse_mode(O.modes[i], &modes[i]);

	pcoll_attr_init(&gattr);
	gattr.mode = PCOLL_SYNC;
	CHECK(pcoll_allreduce_create(g_ctx, 1, PCOLL_INT32, &gattr, &g_bar));
	CHECK(pcoll_allreduce_create(g_ctx, (size_t)g_size * GATHER_SLOTS, PCOLL_FLOAT64, &gattr,
				     &g_gather));
	g_gbuf = xcalloc((size_t)g_size * GATHER_SLOTS, sizeof(double));

	if (g_rank == 0 && O.csv && (O.idle_colls || O.background || O.doorbells)) {
		g_csv = fopen(O.csv, "w");
		if (g_csv)
			fprintf(g_csv, "%s\n",
				O.background  ? BACKGROUND_CSV_HEADER
				: O.doorbells ? DOORBELLS_CSV_HEADER
					      : IDLE_COLLS_CSV_HEADER);
	} else if (g_rank == 0 && O.csv) {
		g_csv = bench_csv_open(O.csv, O.kind);
		if (!g_csv)
			fprintf(stderr, PROG ": rank 0: cannot write %s: %m\n", O.csv);
	}
	/* Every rank learns whether rank 0 could open the CSV, so all stop together. */
	{
		double ok = (g_rank != 0 || !O.csv || g_csv) ? 1.0 : 0.0, *oks;
		oks = xcalloc((size_t)g_size, sizeof(double));
		gather(&ok, 1, oks);
		if (oks[0] == 0.0) {
			free(oks);
			CHECK(pcoll_destroy(g_gather));
			CHECK(pcoll_destroy(g_bar));
			CHECK(pcoll_finalize(g_ctx));
			return 1;
		}
		free(oks);
	}

	switch (O.kind) {
	case BENCH_ALLREDUCE:
		if (O.idle_colls || O.background || O.doorbells)
			run_allreduce_pairs(modes, O.nmodes);
		else
			run_allreduce(modes, O.nmodes);
		break;
	case BENCH_IMBALANCE:
		run_imbalance(modes, O.nmodes);
		break;
	case BENCH_IDLE:
		run_idle(modes, O.nmodes);
		break;
	case BENCH_CREATE:
		run_create(&modes[0]);
		break;
	default:
		break;
	}

	barrier();
	CHECK(pcoll_destroy(g_gather));
	CHECK(pcoll_destroy(g_bar));
	free(g_gbuf);
	CHECK(pcoll_finalize(g_ctx));
	g_ctx = NULL;

	return bench_csv_finish(g_csv, &O, PROG, g_rank);
}
