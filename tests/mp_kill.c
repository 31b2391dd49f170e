/*
 * Peer death: rank R kills itself with SIGKILL at step N of a sync
 * collective; every survivor's blocked step must fail with PCOLL_ERR_PEER
 * naming job rank R within 2 s, and destroy and finalize must then return
 * within 1 s. Launch under a launcher that keeps the job alive.
 * With -s SEC rank R stops itself (SIGSTOP) for SEC seconds instead, longer
 * than PCOLL_TIMEOUT_MS: the others fail, and the stopped one, once resumed,
 * must fail at once too instead of going on alone. With -s and -k -1 it
 * stops before the first create, so that no connection to it can be set up.
 * With -S the survivors then shrink: they agree on the new team without R,
 * and run a sync and a solo collective on it whose every contribution must
 * come out exactly, with every survivor given the same rounds; -b N makes
 * them N int64 (1 MiB is 131072: reduce-scatter + allgather). -c N is the
 * float32 count of the collective the death interrupts. -K R2 makes job rank
 * R2 die during the shrink, right after its first message of kind -F (state,
 * propose or decided: the library's PCOLL_FAULT_SHRINK_KILL) reached one
 * peer; the survivors shrink again if the team they agreed on has it. -l L
 * makes job rank L a late learner: busy for -L ms (1500) at step N, so the
 * others start shrinking long before it notices the death. -U R (with -r -1
 * and PCOLL_FAULT_WRITE_EIO=R:N or _RESET=R:N): a write to R fails while R is
 * alive.
 *   mp_kill -r R -k N [-m mode] [-d ms] [-s SEC] [-S] [-b N] [-c N] [-K R2 [-F kind]]
 *           [-l L [-L ms]] [-U R]
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mp_common.h"

/* Contribution of job rank q to element e: elements 0 and 1 count the
 * contributions and sum the ranks; the others depend on the element, so
 * that every part of a large buffer (every reduce-scatter block) is
 * checked. */
static int64_t contribution(int q, size_t e)
{
	return e == 0 ? 1 : e == 1 ? q : (int64_t)(q + 1) * (int64_t)(e % 1009);
}

/* SIGSTOP ourselves; a child wakes us up after sec seconds. */
static void stop_self(double sec)
{
	pid_t parent = getpid();
	if (fork() == 0) {
		mp_sleep_ms(sec * 1e3);
		kill(parent, SIGCONT);
		_exit(0);
	}
	kill(parent, SIGSTOP);
}

/* Fold a round into the running hash of the rounds given (index and data). */
static uint64_t hash_round(uint64_t h, const pcoll_round_t *r, size_t n)
{
	const int64_t *d = r->data;
	h = h * 31 + r->index * 7;
	for (size_t e = 0; e < n; e += 1 + e / 8)
		h = h * 1099511628211ULL + (uint64_t)d[e];
	return h;
}

/* Take every waiting round, summing its elements and hashing the sequence. */
static void take_all(pcoll_coll_t *c, int64_t *got, size_t n, uint64_t *hash)
{
	pcoll_round_t r;
	int rc;
	while ((rc = pcoll_next_round(c, &r)) == 1) {
		for (size_t e = 0; e < n; e++)
			got[e] += ((const int64_t *)r.data)[e];
		*hash = hash_round(*hash, &r, n);
	}
	MP_OK(rc);
}

static int is_victim(const int *victims, int r)
{
	return r == victims[0] || r == victims[1];
}

/* After the failure: shrink, check the new team, run on it: a sync and a
 * solo collective of n int64 each, whose every contribution must come out
 * exactly, with every survivor given the same rounds. victims[1] (if >= 0)
 * dies during the shrink (the library's test hook, fault): a new team that
 * still has it fails its first collective, and the survivors shrink again;
 * every survivor must get the same teams, and the last without both. */
static void shrink_and_go_on(pcoll_ctx_t *ctx, const int *victims, size_t n, const char *fault)
{
	int P = pcoll_size(ctx), me = pcoll_rank(ctx);
	int want = P - 1 - (victims[1] >= 0);
	pcoll_team_t *t = NULL, *old = NULL;
	uint64_t teams = 0; /* hash of the teams this process was given */
	int shrinks = 0;
	double t0 = mp_now();
	if (me == victims[1])
		setenv("PCOLL_FAULT_SHRINK_KILL", fault, 1);
	for (;;) {
		MP_EXPECT(shrinks < 4, "still no team without the dead after %d shrinks", shrinks);
		MP_OK(pcoll_team_shrink(ctx, old, &t));
		MP_EXPECT(me != victims[1], "the second victim came out of the shrink alive");
		shrinks++;
		teams = teams * 1099511628211ULL + (uint64_t)pcoll_team_size(t);
		for (int i = 0; i < pcoll_team_size(t); i++)
			teams = teams * 31 + (uint64_t)pcoll_team_job_rank(t, i);
		if (old)
			MP_OK(pcoll_team_destroy(old)); /* local after the failure */
		old = t;
		/* A team with a member that died meanwhile fails its first
		 * collective (at once, or once the death is seen): shrink again. */
		pcoll_attr_t a;
		pcoll_attr_init(&a);
		a.team = t;
		pcoll_coll_t *probe;
		int rc = pcoll_allreduce_create(ctx, 1, PCOLL_INT64, &a, &probe);
		if (rc == PCOLL_ERR_PEER) {
			printf(
			    "# rank %d: shrink %d gave a team of %d that has a dead member (%s)\n",
			    me, shrinks, pcoll_team_size(t), pcoll_last_error());
			continue;
		}
		MP_OK(rc);
		MP_OK(pcoll_destroy(probe));
		break;
	}
	double t_shrink = mp_now() - t0;
	MP_EXPECT(pcoll_team_size(t) == want, "shrunk team has %d members, expected %d",
		  pcoll_team_size(t), want);
	for (int i = 0, r = 0; r < P; r++) {
		if (is_victim(victims, r))
			continue;
		MP_EXPECT(pcoll_team_job_rank(t, i) == r,
			  "team rank %d is job rank %d, expected %d", i, pcoll_team_job_rank(t, i),
			  r);
		if (r == me)
			MP_EXPECT(pcoll_team_rank(t) == i, "my team rank %d, expected %d",
				  pcoll_team_rank(t), i);
		i++;
	}
	int64_t *g = malloc(n * sizeof(int64_t)), *got = malloc(n * sizeof(int64_t));
	MP_EXPECT(g && got, "out of memory");
	for (size_t e = 0; e < n; e++)
		g[e] = contribution(me, e);
	for (int m = 0; m < 2; m++) {
		pcoll_attr_t a;
		pcoll_attr_init(&a);
		a.team = t;
		a.mode = m ? PCOLL_SOLO : PCOLL_SYNC;
		pcoll_coll_t *c;
		MP_OK(pcoll_allreduce_create(ctx, n, PCOLL_INT64, &a, &c));
		memset(got, 0, n * sizeof(int64_t));
		int64_t steps = 10 + me;
		uint64_t hash = 0;
		for (int s = 0; s < steps; s++) {
			mp_sleep_ms(me);
			MP_OK(pcoll_step(c, g));
			take_all(c, got, n, &hash);
		}
		MP_FLUSH_TAKING(c, take_all(c, got, n, &hash));
		for (size_t e = 0; e < n; e++) {
			int64_t want_e = 0;
			for (int q = 0; q < P; q++)
				if (!is_victim(victims, q))
					want_e += (int64_t)(10 + q) * contribution(q, e);
			MP_EXPECT(got[e] == want_e,
				  "%s of %zu int64 on the shrunk team: element %zu sums to %lld, "
				  "expected %lld",
				  pcoll_mode_name(a.mode), n, e, (long long)got[e],
				  (long long)want);
		}
		MP_OK(pcoll_destroy(c));
		/* Every survivor was given the same rounds and the same teams. */
		a.mode = PCOLL_SYNC;
		MP_OK(pcoll_allreduce_create(ctx, 2 * (size_t)P, PCOLL_INT64, &a, &c));
		int64_t *h = calloc(2 * (size_t)P, sizeof(int64_t));
		h[me] = (int64_t)hash;
		h[P + me] = (int64_t)teams;
		MP_OK(pcoll_step(c, h));
		pcoll_round_t r;
		MP_EXPECT(pcoll_next_round(c, &r) == 1, "no agreement round");
		for (int q = 0; q < P; q++) {
			if (is_victim(victims, q))
				continue;
			MP_EXPECT(((const int64_t *)r.data)[q] == (int64_t)hash,
				  "job rank %d was given other rounds than job rank %d", q, me);
			MP_EXPECT(((const int64_t *)r.data)[P + q] == (int64_t)teams,
				  "job rank %d was given other teams than job rank %d", q, me);
		}
		free(h);
		mp_flush_discard(c);
		MP_OK(pcoll_destroy(c));
	}
	free(g);
	free(got);
	MP_OK(pcoll_team_destroy(t));
	printf("ok   rank %d: shrank to %d survivors in %.3f s (%d shrinks, the same teams "
	       "everywhere); sync and solo of %zu bytes on them conserved every contribution\n",
	       me, want, t_shrink, shrinks, n * sizeof(int64_t));
}

/* -U R (with PCOLL_FAULT_WRITE_EIO or _RESET=R:N, no victim): a write to R fails
 * while R runs on. A writer fails with PCOLL_ERR_FABRIC naming R as still
 * running; nobody counts R gone (the others learn that a writer is gone once
 * it has exited); everyone fails within 2 s, not at the timeout. */
static void unreachable_verdict(int me, int r, int rc, double t_err)
{
	const char *msg = pcoll_last_error();
	char gone[48], named[48];
	snprintf(gone, sizeof(gone), "job rank %d (team rank %d of", r, r);
	snprintf(named, sizeof(named), "job rank %d ", r);
	MP_EXPECT(t_err < 2.0, "rank %d: failed after %.3f s (bound 2 s)", me, t_err);
	if (rc == PCOLL_ERR_FABRIC) {
		MP_EXPECT(me != r && strstr(msg, named) && strstr(msg, "still running"),
			  "rank %d: PCOLL_ERR_FABRIC does not name %sas still running: %s", me,
			  named, msg);
		printf("ok   rank %d: PCOLL_ERR_FABRIC naming job rank %d as still running\n", me,
		       r);
	} else {
		MP_EXPECT(rc == PCOLL_ERR_PEER,
			  "rank %d: expected PCOLL_ERR_FABRIC or _PEER, got %d (%s)", me, rc, msg);
		MP_EXPECT(!strstr(msg, gone), "rank %d: counts job rank %d gone: %s", me, r, msg);
		printf("ok   rank %d: PCOLL_ERR_PEER naming a writer that has exited\n", me);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int victim = 1, kill_step = 20, opt, shrink = 0, victim2 = -1, late = -1;
	size_t shrink_count = 4, count = 1024;
	double late_ms = 1500;
	const char *fault = "state";
	double delay_ms = 5, stop_s = 0;
	pcoll_mode_t mode = PCOLL_SYNC;
	int unreachable = -1;
	while ((opt = getopt(argc, argv, "r:k:m:d:s:Sb:c:K:F:l:L:U:")) != -1) {
		if (opt == 'S')
			shrink = 1;
		else if (opt == 'U')
			unreachable = atoi(optarg);
		else if (opt == 'b')
			shrink_count = (size_t)atol(optarg);
		else if (opt == 'c')
			count = (size_t)atol(optarg);
		else if (opt == 'K')
			victim2 = atoi(optarg);
		else if (opt == 'F')
			fault = optarg;
		else if (opt == 'l')
			late = atoi(optarg);
		else if (opt == 'L')
			late_ms = atof(optarg);
		else if (opt == 's')
			stop_s = atof(optarg);
		else if (opt == 'r')
			victim = atoi(optarg);
		else if (opt == 'k')
			kill_step = atoi(optarg);
		else if (opt == 'd')
			delay_ms = atof(optarg);
		else if (opt == 'm')
			mode = !strcmp(optarg, "solo")	     ? PCOLL_SOLO
			       : !strcmp(optarg, "majority") ? PCOLL_MAJORITY
							     : PCOLL_SYNC;
		else
			return 2;
	}
	pcoll_ctx_t *ctx;
	MP_OK(pcoll_init(NULL, &ctx));
	int me = mp_rank = pcoll_rank(ctx);
	pcoll_attr_t a;
	pcoll_attr_init(&a);
	a.mode = mode;
	pcoll_coll_t *c;
	float *g = calloc(count, sizeof(float));
	MP_EXPECT(g, "out of memory");
	g[0] = 1;
	if (stop_s > 0 && kill_step < 0) {
		/* Stopped before the first create: no connection to it can be
		 * set up, so the others' create fails with the timeout, naming
		 * it; on resuming its own create fails too, though every peer's
		 * part of the exchange is there. */
		double t0 = mp_now();
		if (me == victim)
			stop_self(stop_s);
		int rc = pcoll_allreduce_create(ctx, count, PCOLL_FLOAT32, &a, &c);
		double t_err = mp_now() - t0 - (me == victim ? stop_s : 0);
		char msg[512], want[32];
		snprintf(msg, sizeof(msg), "%s", pcoll_last_error());
		snprintf(want, sizeof(want), "job rank %d)", victim);
		printf("# rank %d: create: %s after %.3f s (%s)\n", me, pcoll_strerror(rc), t_err,
		       msg);
		MP_EXPECT(rc < 0, "create succeeded with job rank %d stopped", victim);
		if (me != victim) {
			MP_EXPECT(rc == PCOLL_ERR_TIMEOUT, "expected PCOLL_ERR_TIMEOUT, got %d",
				  rc);
			MP_EXPECT(strstr(msg, want), "the message does not name %s: %s", want, msg);
		} else {
			/* Found by itself, at once: not by waiting out a timeout. */
			MP_EXPECT(rc == PCOLL_ERR_TIMEOUT && strstr(msg, "did not run for"),
				  "the stopped process did not find itself stalled: %s", msg);
		}
		MP_EXPECT(t_err < 4.0, "failed after %.3f s (timeout 1.5 s)", t_err);
		/* Stay alive, our create slots written into the victim's region,
		 * until it has resumed: it must fail on its own (it did not run for
		 * longer than the timeout), not because we are gone. */
		if (me != victim)
			mp_sleep_ms(stop_s * 1e3);
		pcoll_finalize(ctx);
		free(g);
		printf("ok   rank %d: stop before create: %s after %.3f s\n", me,
		       pcoll_strerror(rc), t_err);
		return 0;
	}
	MP_OK(pcoll_allreduce_create(ctx, count, PCOLL_FLOAT32, &a, &c));
	double last_ok = mp_now();
	int rc = 0, after_stop = -1;
	for (int s = 0; s < 100000; s++) {
		if (me == victim && s == kill_step && stop_s > 0) {
			stop_self(stop_s);
			after_stop = 0;
		} else if (me == victim && s == kill_step) {
			kill(getpid(), SIGKILL);
		} else if (me == late && s == kill_step) {
			mp_sleep_ms(late_ms); /* busy elsewhere while the others shrink */
			last_ok += late_ms * 1e-3;
		}
		mp_sleep_ms(delay_ms);
		rc = pcoll_step(c, g);
		if (rc < 0)
			break;
		pcoll_round_t r;
		while ((rc = pcoll_next_round(c, &r)) == 1)
			;
		if (rc < 0)
			break;
		last_ok = mp_now();
		if (after_stop >= 0)
			after_stop++;
	}
	if (stop_s > 0) {
		printf("# rank %d: %s (%s); %d steps succeeded after the stop\n", me,
		       pcoll_strerror(rc), pcoll_last_error(), after_stop);
		MP_EXPECT(rc < 0, "no error");
		MP_EXPECT(after_stop <= 0, "rank %d went on alone for %d steps after its stop", me,
			  after_stop);
		pcoll_destroy(c);
		pcoll_finalize(ctx);
		free(g);
		printf("ok   rank %d: stop: failed with %s, %d steps alone\n", me,
		       pcoll_strerror(rc), after_stop);
		return 0;
	}
	if (unreachable >= 0) {
		double t_err = mp_now() - last_ok - delay_ms * 1e-3;
		printf("# rank %d: %s after %.3f s (%s)\n", me, pcoll_strerror(rc), t_err,
		       pcoll_last_error());
		unreachable_verdict(me, unreachable, rc, t_err);
		pcoll_destroy(c);
		pcoll_finalize(ctx);
		free(g);
		return 0;
	}
	double t_err = mp_now() - last_ok - delay_ms * 1e-3;
	char want[32];
	snprintf(want, sizeof(want), "rank %d ", victim);
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", pcoll_last_error());
	printf("# rank %d: %s after %.3f s: %s\n", me, pcoll_strerror(rc), t_err, msg);
	MP_EXPECT(rc == PCOLL_ERR_PEER, "expected PCOLL_ERR_PEER, got %d (%s)", rc, msg);
	MP_EXPECT(strstr(msg, want), "the message does not name %s: %s", want, msg);
	MP_EXPECT(t_err < 2.0, "detected after %.3f s (bound 2 s)", t_err);
	/* Said (and flushed) before the teardown: SLURM kills the whole step
	 * about 1 s after a death, and a line still in the buffer is lost. */
	printf("ok   rank %d: PCOLL_ERR_PEER naming job rank %d after %.3f s\n", me, victim, t_err);
	fflush(stdout);
	double t0 = mp_now();
	int drc = pcoll_destroy(c);
	int victims[2] = {victim, victim2};
	if (shrink)
		shrink_and_go_on(ctx, victims, shrink_count, fault);
	int frc = pcoll_finalize(ctx);
	free(g);
	double t_down = mp_now() - t0;
	if (shrink)
		t_down = 0; /* the teardown bound is for the failed context, not the new work */
	printf("ok   rank %d: teardown: destroy %d, finalize %d, %.3f s\n", me, drc, frc, t_down);
	MP_EXPECT(t_down < 1.0, "destroy + finalize took %.3f s (bound 1 s)", t_down);
	return 0;
}
