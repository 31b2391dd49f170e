/*
 * Bad input gets a clear error code on every process involved, never a hang
 * or a crash: NULL pointers, invalid counts, datatypes, modes, S and k (on
 * every rank, or on one rank only), processes that disagree, calls in the
 * wrong order, a collective of a finalized context, a peer that stops
 * answering (with --timeout-case), a notification path the provider cannot
 * honour (with --init-case), a bad PCOLL_* environment variable (with
 * --env-cases). Each check prints what it got.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mp_common.h"

static int P, me;
static pcoll_ctx_t *ctx;
static int nchecks;

#define EXPECT_RC(call, want)                                                                      \
	do {                                                                                       \
		int got_ = (call);                                                                 \
		if (got_ != (want))                                                                \
			mp_fail("%s:%d: %s returned %d (%s), expected %d (%s); detail: %s",        \
				__FILE__, __LINE__, #call, got_, pcoll_strerror(got_), (want),     \
				pcoll_strerror(want), pcoll_last_error());                         \
		nchecks++;                                                                         \
	} while (0)

/* Collective create that must fail: `bad` ranks get want_bad, the rest want_other. */
static void create_fails(size_t count, pcoll_datatype_t dt, const pcoll_attr_t *a, int bad,
			 int want_bad, int want_other, const char *what)
{
	pcoll_coll_t *c = (pcoll_coll_t *)0x1;
	int rc = pcoll_allreduce_create(ctx, count, dt, a, &c);
	int want = bad ? want_bad : want_other;
	if (rc != want)
		mp_fail("%s: create returned %d (%s), expected %d (%s); detail: %s", what, rc,
			pcoll_strerror(rc), want, pcoll_strerror(want), pcoll_last_error());
	MP_EXPECT(c == NULL, "%s: failed create left a handle", what);
	MP_EXPECT(strlen(pcoll_last_error()) > 0, "%s: no error message", what);
	if (me == 0)
		printf("ok   %-34s -> %s: %s\n", what, pcoll_strerror(rc), pcoll_last_error());
	nchecks++;
}

static void valid_attr(pcoll_attr_t *a, int mode)
{
	pcoll_attr_init(a);
	a->mode = mode;
	a->quorum = P;
	a->staleness = 2;
}

/* Everyone makes the same invalid argument, then one rank alone does. */
static void bad_arguments(void)
{
	pcoll_attr_t a;
	int last = P - 1;
	struct {
		const char *what;
		size_t count;
		int dt, mode, S, k;
	} cases[] = {
	    {"count 0", 0, PCOLL_FLOAT32, PCOLL_SOLO, 2, 1},
	    {"invalid datatype", 16, 99, PCOLL_SOLO, 2, 1},
	    {"invalid mode", 16, PCOLL_FLOAT32, 7, 2, 1},
	    {"negative staleness", 16, PCOLL_FLOAT32, PCOLL_SOLO, -1, 1},
	    {"staleness > PCOLL_STALENESS_MAX", 16, PCOLL_FLOAT32, PCOLL_SOLO,
	     PCOLL_STALENESS_MAX + 1, 1},
	    {"quorum k = 0", 16, PCOLL_FLOAT32, PCOLL_QUORUM, 2, 0},
	    {"quorum k = P + 1", 16, PCOLL_FLOAT32, PCOLL_QUORUM, 2, -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int one = 0; one < 2; one++) {
			int bad = one ? me == last : 1;
			valid_attr(&a, bad ? cases[i].mode : PCOLL_SOLO);
			if (bad) {
				a.staleness = cases[i].S;
				a.quorum = cases[i].k < 0 ? P + 1 : cases[i].k;
			} else if (cases[i].mode == PCOLL_QUORUM) {
				a.mode = PCOLL_QUORUM;
			}
			char what[96];
			snprintf(what, sizeof(what), "%s (%s)", cases[i].what,
				 one ? "one rank" : "every rank");
			create_fails(bad ? cases[i].count : 16,
				     bad ? (pcoll_datatype_t)cases[i].dt : PCOLL_FLOAT32, &a, bad,
				     PCOLL_ERR_INVAL, P > 1 ? PCOLL_ERR_MISMATCH : PCOLL_ERR_INVAL,
				     what);
		}
	}
}

/* Valid arguments that differ between processes. */
static void disagreement(void)
{
	if (P < 2)
		return;
	pcoll_attr_t a;
	int odd = me == 1;
	valid_attr(&a, PCOLL_SOLO);
	create_fails(odd ? 17 : 16, PCOLL_FLOAT32, &a, 0, 0, PCOLL_ERR_MISMATCH, "count differs");
	create_fails(16, odd ? PCOLL_FLOAT64 : PCOLL_FLOAT32, &a, 0, 0, PCOLL_ERR_MISMATCH,
		     "datatype differs");
	valid_attr(&a, odd ? PCOLL_MAJORITY : PCOLL_SOLO);
	create_fails(16, PCOLL_FLOAT32, &a, 0, 0, PCOLL_ERR_MISMATCH, "mode differs");
	valid_attr(&a, PCOLL_QUORUM);
	a.quorum = odd ? 1 : 2;
	create_fails(16, PCOLL_FLOAT32, &a, 0, 0, PCOLL_ERR_MISMATCH, "quorum k differs");
	valid_attr(&a, PCOLL_SOLO);
	a.staleness = odd ? 3 : 2;
	create_fails(16, PCOLL_FLOAT32, &a, 0, 0, PCOLL_ERR_MISMATCH, "staleness differs");
	valid_attr(&a, PCOLL_MAJORITY);
	a.seed = odd ? 7 : 8;
	create_fails(16, PCOLL_FLOAT32, &a, 0, 0, PCOLL_ERR_MISMATCH, "seed differs");
}

static void null_pointers(void)
{
	pcoll_coll_t *c = NULL;
	pcoll_round_t r;
	float g[4] = {0};
	EXPECT_RC(pcoll_init(NULL, NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_rank(NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_size(NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_finalize(NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_ctx_query(ctx, NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_allreduce_create(NULL, 4, PCOLL_FLOAT32, NULL, &c), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_allreduce_create(ctx, 4, PCOLL_FLOAT32, NULL, NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_step(NULL, g), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_step_post(NULL, g), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_test(NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_next_round(NULL, &r), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_flush(NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_flush_post(NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_flush_test(NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_destroy(NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_coll_query(NULL, NULL), PCOLL_ERR_INVAL);
	MP_EXPECT(pcoll_datatype_size((pcoll_datatype_t)99) == 0, "size of invalid datatype");
	MP_EXPECT(!strcmp(pcoll_mode_name((pcoll_mode_t)9), "invalid"), "name of invalid mode");
	for (int e = 0; e >= PCOLL_ERR_INTERNAL - 1; e--)
		MP_EXPECT(pcoll_strerror(e) && *pcoll_strerror(e), "strerror(%d) is empty", e);
	MP_EXPECT(strcmp(pcoll_strerror(PCOLL_ERR_INVAL), pcoll_strerror(PCOLL_ERR_MISMATCH)),
		  "error strings are not distinct");
	pcoll_config_t cfg;
	pcoll_config_init(&cfg);
	cfg.notify = (pcoll_notify_t)42;
	pcoll_ctx_t *x = NULL;
	EXPECT_RC(pcoll_init(&cfg, &x), PCOLL_ERR_INVAL);
	MP_EXPECT(x == NULL, "failed init left a context");

	/* NULL contribution and round on a valid collective. */
	MP_OK(pcoll_allreduce_create(ctx, 4, PCOLL_FLOAT32, NULL, &c));
	EXPECT_RC(pcoll_step(c, NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_next_round(c, NULL), PCOLL_ERR_INVAL);
	MP_OK(pcoll_destroy(c));
	if (me == 0)
		printf("ok   NULL pointers and invalid enums -> PCOLL_ERR_INVAL\n");
}

static void wrong_order(void)
{
	pcoll_attr_t a;
	valid_attr(&a, PCOLL_SOLO);
	pcoll_coll_t *c;
	float g[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	pcoll_round_t r;
	MP_OK(pcoll_allreduce_create(ctx, 8, PCOLL_FLOAT32, &a, &c));
	EXPECT_RC(pcoll_test(c), PCOLL_ERR_STATE);	 /* nothing posted */
	EXPECT_RC(pcoll_flush_test(c), PCOLL_ERR_STATE); /* nothing posted */
	MP_OK(pcoll_step_post(c, g));
	EXPECT_RC(pcoll_step_post(c, g), PCOLL_ERR_STATE); /* previous not completed */
	EXPECT_RC(pcoll_flush(c), PCOLL_ERR_STATE);	   /* a step is in flight */
	int rc;
	while ((rc = pcoll_test(c)) == 0)
		;
	MP_OK(rc);
	while ((rc = pcoll_next_round(c, &r)) == 1)
		;
	MP_OK(rc);
	MP_OK(pcoll_flush_post(c));
	EXPECT_RC(pcoll_step(c, g), PCOLL_ERR_STATE); /* flush in progress */
	while ((rc = pcoll_flush_test(c)) == 0)
		;
	MP_EXPECT(rc == 1, "flush_test returned %d", rc);
	while ((rc = pcoll_next_round(c, &r)) == 1)
		;
	MP_OK(rc);
	/* A new epoch after a flush works. */
	MP_OK(pcoll_step(c, g));
	/* Destroy with a round never taken: defined, reported, everything freed. */
	EXPECT_RC(pcoll_destroy(c), PCOLL_ERR_PENDING);
	if (me == 0)
		printf("ok   wrong order -> PCOLL_ERR_STATE; destroy with rounds not taken -> "
		       "PCOLL_ERR_PENDING\n");
	/* The context still works after all of the above. */
	MP_OK(pcoll_allreduce_create(ctx, 8, PCOLL_FLOAT32, &a, &c));
	MP_OK(pcoll_step(c, g));
	MP_EXPECT(pcoll_next_round(c, &r) == 1, "no round after a step");
	mp_flush_discard(c);
	MP_OK(pcoll_destroy(c));
}

/* Teams: bad colors, disagreement naming team and job ranks, destroy with
 * collectives open, team calls out of order, a NULL team from UNDEFINED. */
static void team_errors(void)
{
	pcoll_team_t *t = (pcoll_team_t *)0x1;
	EXPECT_RC(pcoll_team_split(NULL, 0, 0, &t), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_team_split(ctx, 0, 0, NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_team_rank(NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_team_size(NULL), PCOLL_ERR_INVAL);
	EXPECT_RC(pcoll_team_destroy(NULL), PCOLL_ERR_INVAL);
	/* A negative color on one rank: INVAL there, MISMATCH elsewhere, no team. */
	int bad = me == P - 1;
	t = (pcoll_team_t *)0x1;
	EXPECT_RC(pcoll_team_split(ctx, bad ? -5 : 0, 0, &t), bad     ? PCOLL_ERR_INVAL
							      : P > 1 ? PCOLL_ERR_MISMATCH
								      : PCOLL_ERR_INVAL);
	MP_EXPECT(t == NULL, "failed split left a team");
	if (!bad)
		MP_EXPECT(strstr(pcoll_last_error(), "color -5"),
			  "split error does not name the "
			  "color: %s",
			  pcoll_last_error());
	/* PCOLL_UNDEFINED: no team for rank 0; the others form one, reversed. */
	MP_OK(pcoll_team_split(ctx, me == 0 ? PCOLL_UNDEFINED : 1, P - me, &t));
	MP_EXPECT((me == 0) == (t == NULL), "PCOLL_UNDEFINED: team %p on rank %d", (void *)t, me);
	if (t) {
		MP_EXPECT(pcoll_team_size(t) == P - 1 && pcoll_team_rank(t) == P - 1 - me &&
			      pcoll_team_job_rank(t, 0) == P - 1 &&
			      pcoll_team_job_rank(t, P - 1) == PCOLL_ERR_INVAL,
			  "team of ranks 1..%d: size %d, rank %d", P - 1, pcoll_team_size(t),
			  pcoll_team_rank(t));
		pcoll_attr_t a;
		valid_attr(&a, PCOLL_QUORUM);
		a.team = t;
		a.quorum = P; /* more than the team has: INVAL on every member */
		pcoll_coll_t *c = (pcoll_coll_t *)0x1;
		EXPECT_RC(pcoll_allreduce_create(ctx, 16, PCOLL_FLOAT32, &a, &c), PCOLL_ERR_INVAL);
		if (P > 2) {
			/* Team rank 0 (job rank P-1) disagrees: the message names both. */
			valid_attr(&a, PCOLL_SOLO);
			a.team = t;
			a.staleness = me == P - 1 ? 3 : 2;
			EXPECT_RC(pcoll_allreduce_create(ctx, 16, PCOLL_FLOAT32, &a, &c),
				  PCOLL_ERR_MISMATCH);
			char want[64];
			snprintf(want, sizeof(want), "team rank %d (job rank %d)",
				 me == P - 1 ? 1 : 0, me == P - 1 ? P - 2 : P - 1);
			MP_EXPECT(strstr(pcoll_last_error(), want),
				  "mismatch message does not name %s: %s", want,
				  pcoll_last_error());
			if (me == 1)
				printf("ok   team mismatch -> %s\n", pcoll_last_error());
		}
		valid_attr(&a, PCOLL_SOLO);
		a.team = t;
		MP_OK(pcoll_allreduce_create(ctx, 16, PCOLL_FLOAT32, &a, &c));
		EXPECT_RC(pcoll_team_destroy(t), PCOLL_ERR_STATE); /* a collective is open */
		MP_OK(pcoll_destroy(c));
		MP_OK(pcoll_team_destroy(t));
	}
	/* Team calls out of order: one process creates where the others destroy
	 * their team: MISMATCH everywhere, naming the call, and no hang. */
	if (P > 1) {
		MP_OK(pcoll_team_split(ctx, 0, me, &t));
		pcoll_attr_t a;
		valid_attr(&a, PCOLL_SOLO);
		a.team = t;
		pcoll_coll_t *c = NULL;
		int rc = me == 0 ? pcoll_allreduce_create(ctx, 16, PCOLL_FLOAT32, &a, &c)
				 : pcoll_team_destroy(t);
		MP_EXPECT(rc == PCOLL_ERR_MISMATCH &&
			      strstr(pcoll_last_error(), "pcoll_team_destroy") &&
			      strstr(pcoll_last_error(), "pcoll_allreduce_create"),
			  "team calls out of order: %d (%s)", rc, pcoll_last_error());
		if (me == 0) {
			printf("ok   team calls out of order -> %s\n", pcoll_last_error());
			MP_OK(pcoll_team_destroy(t)); /* local: the team has failed */
		}
		nchecks++;
	}
	if (me == 0)
		printf("ok   team errors: bad color, PCOLL_UNDEFINED, quorum > team size, destroy "
		       "with collectives open\n");
}

static void peer_stops_answering(void)
{
	/* Rank 0 steps in sync while the others do not call pcoll for 3 s: rank 0
	 * must fail with PCOLL_ERR_TIMEOUT after about the 1 s timeout, and so must
	 * the others afterwards (rank 0 no longer takes part). */
	pcoll_attr_t a;
	valid_attr(&a, PCOLL_SYNC);
	pcoll_coll_t *c;
	MP_OK(pcoll_allreduce_create(ctx, 8, PCOLL_FLOAT32, &a, &c));
	float g[8] = {0};
	if (me != 0)
		sleep(3);
	double t0 = mp_now();
	int rc = pcoll_step(c, g);
	double el = mp_now() - t0;
	if (me == 0) {
		MP_EXPECT(rc == PCOLL_ERR_TIMEOUT, "step returned %d (%s), expected timeout", rc,
			  pcoll_strerror(rc));
		MP_EXPECT(el < 2.5, "timed out only after %.1f s (timeout 1 s)", el);
		printf("ok   peer stops answering -> PCOLL_ERR_TIMEOUT after %.1f s: %s\n", el,
		       pcoll_last_error());
	}
	/* The others may still complete round 1 (rank 0 had sent its data), but
	 * rank 0 no longer takes part: their destroy (a flush) must fail, not hang. */
	int drc = pcoll_destroy(c);
	MP_EXPECT(rc < 0 || drc < 0, "no error although rank 0 stopped: step %d, destroy %d", rc,
		  drc);
	if (me == 1)
		printf("ok   rank 1: step -> %s, destroy -> %s\n",
		       rc < 0 ? pcoll_strerror(rc) : "completed", pcoll_strerror(drc));
}

/* A notification path the provider cannot honour (sockets' remote counters):
 * with --init-case all every process asks for it, with --init-case one only
 * rank 1. Every process gets an error from pcoll_init; none hangs. */
static int init_case(const char *which)
{
	const char *r = getenv("PMIX_RANK"); /* set by every PMIx launcher */
	int rank = r ? atoi(r) : 0;
	int all = !strcmp(which, "all");
	pcoll_config_t cfg;
	pcoll_config_init(&cfg);
	cfg.provider = "sockets";
	cfg.timeout_ms = 20000;
	cfg.notify = all || rank == 1 ? PCOLL_NOTIFY_CNTR : PCOLL_NOTIFY_CQDATA;
	int rc = pcoll_init(&cfg, &ctx);
	mp_rank = rank;
	if (cfg.notify == PCOLL_NOTIFY_CNTR)
		MP_EXPECT(rc == PCOLL_ERR_UNSUPPORTED,
			  "pcoll_init with sockets' counters returned %d (%s), expected "
			  "PCOLL_ERR_UNSUPPORTED",
			  rc, pcoll_strerror(rc));
	else
		MP_EXPECT(rc < 0, "pcoll_init succeeded although rank 1 failed");
	MP_EXPECT(ctx == NULL, "a failed pcoll_init left a context");
	MP_EXPECT(strlen(pcoll_last_error()) > 0, "pcoll_init failed without a message");
	printf("ok   rank %d: init (%s) -> %s: %s\n", rank,
	       cfg.notify == PCOLL_NOTIFY_CNTR ? "sockets/cntr" : "sockets/cqdata",
	       pcoll_strerror(rc), pcoll_last_error());
	return 0;
}

/* Bad PCOLL_* values: each is set here on every process in turn (the
 * library reads them with getenv, as it reads what the launcher forwards)
 * and pcoll_init must fail on every process with PCOLL_ERR_INVAL, leave no
 * context and name the variable and the value. PCOLL_ALGORITHM is read at
 * create: mp-badinput.sh sets it to a bad value through the launcher, and the
 * create must fail the same way on every process. */
static void expect_env_inval(int rc, const char *var, const char *val, const char *call)
{
	char want[128];
	snprintf(want, sizeof(want), "%s=%s", var, val);
	MP_EXPECT(rc == PCOLL_ERR_INVAL,
		  "%s with %s returned %d (%s), expected PCOLL_ERR_INVAL; "
		  "detail: %s",
		  call, want, rc, pcoll_strerror(rc), pcoll_last_error());
	MP_EXPECT(strstr(pcoll_last_error(), want), "%s with %s: the message does not name it: %s",
		  call, want, pcoll_last_error());
	if (mp_rank == 0)
		printf("ok   %-30s -> %s: %s\n", want, pcoll_strerror(rc), pcoll_last_error());
	nchecks++;
}

static int env_cases(void)
{
	const char *r = getenv("PMIX_RANK"); /* set by every PMIx launcher */
	mp_rank = r ? atoi(r) : 0;
	static const struct {
		const char *var, *val;
	} bad[] = {
	    {"PCOLL_TIMEOUT_MS", "abc"},
	    {"PCOLL_TIMEOUT_MS", "0"},
	    {"PCOLL_TIMEOUT_MS", "-2"},
	    {"PCOLL_TIMEOUT_MS", "100ms"},
	    {"PCOLL_TIMEOUT_MS", "99999999999"},
	    {"PCOLL_IDLE_SLEEP_US", "-5"},
	    {"PCOLL_IDLE_SLEEP_US", "0"},
	    {"PCOLL_IDLE_SLEEP_US", "1000001"},
	    {"PCOLL_IDLE_SLEEP_US", "x"},
	    {"PCOLL_PROGRESS_THREAD", "abc"},
	    {"PCOLL_PROGRESS_THREAD", "2"},
	    {"PCOLL_HUGEPAGES", "yes"},
	    {"PCOLL_HUGEPAGES", "-1"},
	    {"PCOLL_NOTIFY", "xyz"},
	    {"PCOLL_WIREUP", "xyz"},
	    {"PCOLL_TEST_UNORDERED", "2"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv(bad[i].var, bad[i].val, 1);
		ctx = (pcoll_ctx_t *)0x1;
		int rc = pcoll_init(NULL, &ctx);
		MP_EXPECT(ctx == NULL, "a failed pcoll_init left a context");
		expect_env_inval(rc, bad[i].var, bad[i].val, "pcoll_init");
		unsetenv(bad[i].var);
	}
	/* The edges of the ranges are accepted and in force. */
	setenv("PCOLL_TIMEOUT_MS", "-1", 1);
	setenv("PCOLL_IDLE_SLEEP_US", "1", 1);
	setenv("PCOLL_PROGRESS_THREAD", "0", 1);
	MP_OK(pcoll_init(NULL, &ctx));
	pcoll_ctx_info_t info;
	MP_OK(pcoll_ctx_query(ctx, &info));
	MP_EXPECT(info.timeout_ms == -1 && info.idle_sleep_max_us == 1 && !info.progress_thread,
		  "PCOLL_TIMEOUT_MS=-1 PCOLL_IDLE_SLEEP_US=1 PCOLL_PROGRESS_THREAD=0 gave "
		  "timeout %d, idle sleep %u, progress thread %d",
		  info.timeout_ms, info.idle_sleep_max_us, info.progress_thread);
	const char *algo = getenv("PCOLL_ALGORITHM");
	MP_EXPECT(algo && *algo, "mp-badinput.sh sets no PCOLL_ALGORITHM");
	char val[64];
	snprintf(val, sizeof(val), "%s", algo);
	pcoll_coll_t *c = (pcoll_coll_t *)0x1;
	int rc = pcoll_allreduce_create(ctx, 1024, PCOLL_FLOAT32, NULL, &c);
	MP_EXPECT(c == NULL, "a failed create left a handle");
	expect_env_inval(rc, "PCOLL_ALGORITHM", val, "pcoll_allreduce_create");
	/* The context still works, with each valid name. */
	static const char *good[] = {"rd", "rsag", "ring", "pipe", "auto"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		setenv("PCOLL_ALGORITHM", good[i], 1);
		MP_OK(pcoll_allreduce_create(ctx, 1024, PCOLL_FLOAT32, NULL, &c));
		MP_OK(pcoll_destroy(c));
	}
	/* PIPE's segment size, also read at create. */
	static const char *bad_seg[] = {"1k", "12", "-4096", "4294967296"};
	for (size_t i = 0; i < sizeof(bad_seg) / sizeof(bad_seg[0]); i++) {
		setenv("PCOLL_SEGMENT_BYTES", bad_seg[i], 1);
		c = (pcoll_coll_t *)0x1;
		rc = pcoll_allreduce_create(ctx, 1024, PCOLL_FLOAT32, NULL, &c);
		MP_EXPECT(c == NULL, "a failed create left a handle");
		expect_env_inval(rc, "PCOLL_SEGMENT_BYTES", bad_seg[i], "pcoll_allreduce_create");
	}
	unsetenv("PCOLL_SEGMENT_BYTES");
	/* The unlocked-reduction threshold and its test hook, and the doorbells'
	 * switch, read at create. */
	static const char *bad_split[][2] = {{"PCOLL_DOORBELLS", "2"},
					     {"PCOLL_DOORBELLS", "yes"},
					     {"PCOLL_UNLOCKED_REDUCE_BYTES", "64k"},
					     {"PCOLL_UNLOCKED_REDUCE_BYTES", "-1"},
					     {"PCOLL_UNLOCKED_REDUCE_BYTES", "2147483648"},
					     {"PCOLL_FAULT_REDUCE_DELAY_US", "1ms"},
					     {"PCOLL_FAULT_REDUCE_DELAY_US", "1000001"}};
	for (size_t i = 0; i < sizeof(bad_split) / sizeof(bad_split[0]); i++) {
		setenv(bad_split[i][0], bad_split[i][1], 1);
		c = (pcoll_coll_t *)0x1;
		rc = pcoll_allreduce_create(ctx, 1024, PCOLL_FLOAT32, NULL, &c);
		MP_EXPECT(c == NULL, "a failed create left a handle");
		expect_env_inval(rc, bad_split[i][0], bad_split[i][1], "pcoll_allreduce_create");
		unsetenv(bad_split[i][0]);
	}
	MP_OK(pcoll_finalize(ctx));
	if (mp_rank == 0)
		printf("%d environment checks passed on every process\n", nchecks);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--env-cases"))
		return env_cases();
	if (argc > 2 && !strcmp(argv[1], "--init-case"))
		return init_case(argv[2]);
	int timeout_case = argc > 1 && !strcmp(argv[1], "--timeout-case");
	MP_OK(pcoll_init(NULL, &ctx));
	P = pcoll_size(ctx);
	me = mp_rank = pcoll_rank(ctx);
	if (timeout_case) {
		if (P < 2) {
			printf("skip: the timeout case needs P >= 2\n");
			MP_OK(pcoll_finalize(ctx));
			return 0;
		}
		peer_stops_answering();
		MP_EXPECT(pcoll_finalize(ctx) <= 0, "finalize");
		return 0;
	}
	null_pointers();
	bad_arguments();
	disagreement();
	wrong_order();
	team_errors();
	/* Finalize with a collective still open: it is invalidated, not a crash. */
	pcoll_coll_t *c;
	float g[4] = {0};
	pcoll_round_t r;
	MP_OK(pcoll_allreduce_create(ctx, 4, PCOLL_FLOAT32, NULL, &c));
	MP_OK(pcoll_finalize(ctx));
	EXPECT_RC(pcoll_step(c, g), PCOLL_ERR_FINALIZED);
	EXPECT_RC(pcoll_next_round(c, &r), PCOLL_ERR_FINALIZED);
	EXPECT_RC(pcoll_flush(c), PCOLL_ERR_FINALIZED);
	EXPECT_RC(pcoll_destroy(c), PCOLL_SUCCESS);
	if (me == 0)
		printf("ok   step on a collective of a finalized context -> "
		       "PCOLL_ERR_FINALIZED; destroy frees it\n"
		       "%d checks passed on each of %d processes\n",
		       nchecks, P);
	return 0;
}
