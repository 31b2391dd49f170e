/*
 * Soak: N rounds (default 10^6) of a small solo collective with uneven
 * compute, RSS sampled every N/10 rounds. Memory must stay flat: RSS may not
 * grow by more than 1 MiB over the second half (a leak grows it all along;
 * the providers' pools grow once, early: tcp by 3 MiB between 10^5 and 2*10^5
 * rounds, then not at all). `make soak` (not in make check: a few minutes).
 *   mp_soak [rounds] [count]
 */
#include <stdio.h>
#include <unistd.h>

#include "mp_common.h"

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	size_t count = argc > 2 ? (size_t)atol(argv[2]) : 256;
	pcoll_ctx_t *ctx;
	MP_OK(pcoll_init(NULL, &ctx));
	int me = mp_rank = pcoll_rank(ctx);
	pcoll_attr_t a;
	pcoll_attr_init(&a);
	a.mode = PCOLL_SOLO;
	a.staleness = 4;
	pcoll_coll_t *c;
	MP_OK(pcoll_allreduce_create(ctx, count, PCOLL_FLOAT32, &a, &c));
	float *g = calloc(count, sizeof(float));
	g[0] = 1;
	pcoll_round_t r;
	double sum = 0, t0 = mp_now();
	long rounds = 0, rss_first = 0, rss_max = 0;
	int rc;
	/* Everyone steps until the job has completed n rounds (solo: rounds run
	 * ahead of any one process's steps); the rounds decide, so all stop at
	 * the same round. */
	for (long s = 0; rounds < n; s++) {
		if ((s + me) % 64 == 0)
			mp_sleep_ms(0.05); /* a little imbalance */
		MP_OK(pcoll_step(c, g));
		while ((rc = pcoll_next_round(c, &r)) == 1) {
			sum += ((const float *)r.data)[0];
			if (++rounds % (n / 10) == 0) {
				long kib = mp_rss_kib();
				if (rounds == n / 2)
					rss_first = kib;
				if (rounds >= n / 2 && kib > rss_max)
					rss_max = kib;
				if (me == 0)
					printf("#    %ld rounds, %.1f s, RSS %ld KiB\n", rounds,
					       mp_now() - t0, kib);
			}
		}
		MP_OK(rc);
	}
	MP_FLUSH_TAKING(c, while (pcoll_next_round(c, &r) == 1) sum += ((const float *)r.data)[0]);
	pcoll_coll_info_t qi;
	MP_OK(pcoll_coll_query(c, &qi));
	MP_EXPECT((double)(int64_t)sum == sum && sum > 0, "sum %g", sum);
	if (me == 0)
		printf("ok   soak: %ld rounds in %.1f s, RSS %ld KiB at half way, at most %ld KiB "
		       "after\n",
		       (long)qi.version, mp_now() - t0, rss_first, rss_max);
	MP_EXPECT(rss_max - rss_first <= 1024, "RSS grew from %ld to %ld KiB", rss_first, rss_max);
	MP_OK(pcoll_destroy(c));
	free(g);
	MP_OK(pcoll_finalize(ctx));
	return 0;
}
