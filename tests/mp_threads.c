/*
 * PCOLL_THREAD_MULTIPLE: two threads drive two collectives of one context at
 * once (one solo, one majority, different S), each checking conservation
 * after its flush. With --team the majority one runs on a team of the same
 * processes ranked in reverse (two overlapping teams from two threads). Run
 * under TSan by tests/sanitizers.sh; any failure exits non-zero.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp_common.h"

#define STEPS 200

/* Elements per collective (--count N): 512 by default; large ones have
 * reductions that run outside the engine lock (PCOLL_UNLOCKED_REDUCE_BYTES)
 * while the other thread drives the other collective. */
static size_t count = 512;

typedef struct {
	pcoll_coll_t *coll;
	int P, me, which;
	double total; /* of element 0 over every round */
} job_t;

static void drain(job_t *j)
{
	pcoll_round_t r;
	int rc;
	while ((rc = pcoll_next_round(j->coll, &r)) == 1) {
		const double *d = r.data;
		/* Every element got the same contributions: a reduction left
		 * half done, or run over the wrong round, shows here. */
		for (size_t e = 1; e < count; e++)
			MP_EXPECT(d[e] == d[0],
				  "collective %d round %llu: element %zu is %.0f, "
				  "element 0 %.0f",
				  j->which, (unsigned long long)r.index, e, d[e], d[0]);
		j->total += d[0];
	}
	MP_OK(rc);
}

static void *drive(void *arg)
{
	job_t *j = arg;
	double *g = malloc(count * sizeof(*g));
	MP_EXPECT(g != NULL, "out of memory");
	for (int s = 0; s < STEPS + j->me; s++) {
		for (size_t e = 0; e < count; e++)
			g[e] = (double)((j->me + 1) * (s + 1) * (j->which + 1));
		MP_OK(pcoll_step(j->coll, g));
		drain(j);
	}
	MP_FLUSH_TAKING(j->coll, drain(j));
	free(g);
	return NULL;
}

int main(int argc, char **argv)
{
	int on_team = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--team"))
			on_team = 1;
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoul(argv[++i], NULL, 10);
		else
			MP_EXPECT(0, "usage: mp_threads [--team] [--count N]");
	}
	MP_EXPECT(count > 0, "--count: at least 1");
	pcoll_config_t cfg;
	pcoll_config_init(&cfg);
	cfg.thread_level = PCOLL_THREAD_MULTIPLE;
	pcoll_ctx_t *ctx;
	MP_OK(pcoll_init(&cfg, &ctx));
	int P = pcoll_size(ctx), me = mp_rank = pcoll_rank(ctx);
	pcoll_team_t *team = NULL;
	if (on_team)
		MP_OK(pcoll_team_split(ctx, 0, -me, &team));
	job_t jobs[2];
	for (int k = 0; k < 2; k++) {
		pcoll_attr_t a;
		pcoll_attr_init(&a);
		a.mode = k ? PCOLL_MAJORITY : PCOLL_SOLO;
		a.staleness = k ? 4 : 1;
		a.team = k ? team : NULL;
		/* On the team, rank and P are the team's (reversed ranks). */
		jobs[k] = (job_t){.P = P, .me = a.team ? pcoll_team_rank(team) : me, .which = k};
		MP_OK(pcoll_allreduce_create(ctx, count, PCOLL_FLOAT64, &a, &jobs[k].coll));
	}
	pthread_t t[2];
	for (int k = 0; k < 2; k++)
		MP_EXPECT(!pthread_create(&t[k], NULL, drive, &jobs[k]), "pthread_create");
	for (int k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	for (int k = 0; k < 2; k++) {
		double want = 0;
		for (int p = 0; p < P; p++)
			for (int s = 0; s < STEPS + p; s++)
				want += (double)((p + 1) * (s + 1) * (k + 1));
		MP_EXPECT(jobs[k].total == want, "collective %d: rounds sum to %.0f, expected %.0f",
			  k, jobs[k].total, want);
		MP_OK(pcoll_destroy(jobs[k].coll));
	}
	if (team)
		MP_OK(pcoll_team_destroy(team));
	MP_OK(pcoll_finalize(ctx));
	if (me == 0)
		printf("ok   threads: 2 threads, 2 collectives of %zu doubles (solo S=1, majority "
		       "S=4%s), P=%d, conservation holds on both\n",
		       count, team ? " on a reversed team" : "", P);
	return 0;
}
