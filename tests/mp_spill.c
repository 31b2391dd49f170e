/*
 * The spill bound: rank 0 flushes early and then computes, looking in with
 * pcoll_flush_test and taking rounds with pcoll_next_round, while the others
 * step N more rounds of B bytes each. Rank 0 keeps no copy per round: its
 * RSS may not grow by more than two buffers (the ring of S+1 result buffers
 * exists from create on; the peak is sampled while it waits; a copy per
 * round grew it by 13 buffers over 100 rounds of 1 MiB). Every
 * contribution still arrives, in order.
 *   mp_spill [rounds] [bytes]
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mp_common.h"

/* Take every waiting round, in order, adding up the last element. */
static void take(pcoll_coll_t *c, size_t count, uint64_t *last, double *got, uint64_t *rounds)
{
	pcoll_round_t r;
	int rc;
	while ((rc = pcoll_next_round(c, &r)) == 1) {
		MP_EXPECT(r.index == *last + 1, "round %llu after %llu",
			  (unsigned long long)r.index, (unsigned long long)*last);
		*last = r.index;
		*got += ((const float *)r.data)[count - 1];
		(*rounds)++;
	}
	MP_OK(rc);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	size_t bytes = argc > 2 ? (size_t)atol(argv[2]) : (size_t)4 << 20;
	size_t count = bytes / sizeof(float);
	pcoll_ctx_t *ctx;
	MP_OK(pcoll_init(NULL, &ctx));
	int me = mp_rank = pcoll_rank(ctx), P = pcoll_size(ctx);
	pcoll_attr_t a;
	pcoll_attr_init(&a);
	a.mode = PCOLL_SOLO;
	a.staleness = 4;
	pcoll_coll_t *c;
	MP_OK(pcoll_allreduce_create(ctx, count, PCOLL_FLOAT32, &a, &c));
	float *g = malloc(bytes);
	for (size_t i = 0; i < count; i++)
		g[i] = 1;
	double got = 0;
	uint64_t rounds = 0, last = 0;
	int rc, steps = me == 0 ? 1 : n;
	for (int s = 0; s < steps; s++) {
		MP_OK(pcoll_step(c, g));
		take(c, count, &last, &got, &rounds);
	}
	long rss0 = mp_rss_kib(), rss1 = rss0;
	double t_flush = mp_now();
	MP_OK(pcoll_flush_post(c));
	for (int done = 0; !done;) {
		if (me == 0)
			mp_sleep_ms(30); /* computing, outside pcoll: the ring must hold */
		long now = mp_rss_kib(); /* the peak: copies are freed once taken */
		if (now > rss1)
			rss1 = now;
		rc = pcoll_flush_test(c);
		MP_OK(rc);
		done = rc == 1;
		take(c, count, &last, &got, &rounds);
	}
	if (getenv("MP_SPILL_DEBUG"))
		fprintf(stderr, "rank %d: %.3f s\n", me, mp_now() - t_flush);
	take(c, count, &last, &got, &rounds);
	double want = 1 + (double)n * (P - 1);
	MP_EXPECT(got == want, "contributions sum to %g, expected %g", got, want);
	pcoll_coll_info_t qi;
	MP_OK(pcoll_coll_query(c, &qi));
	if (me == 0) {
		printf("ok   spill: rank 0 flushed after 1 step while %d others made %d steps of "
		       "%zu KiB: %llu rounds taken, %llu holds, RSS %ld -> peak %ld KiB\n",
		       P - 1, n, bytes >> 10, (unsigned long long)rounds,
		       (unsigned long long)qi.holds, rss0, rss1);
		MP_EXPECT(getenv("MP_NO_BOUNDS") || rss1 - rss0 <= 2 * (long)(bytes >> 10),
			  "RSS grew by %ld KiB over %d rounds of %zu KiB", rss1 - rss0, n,
			  bytes >> 10);
	}
	MP_OK(pcoll_destroy(c));
	free(g);
	MP_OK(pcoll_finalize(ctx));
	return 0;
}
