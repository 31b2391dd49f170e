/*
 * The spill bound: rank 0 flushes early while the others step N more rounds
 * of B bytes each. Either it computes and looks in with pcoll_flush_test,
 * taking rounds with pcoll_next_round (poll), or it blocks in pcoll_flush,
 * which returns early with the number of rounds waiting each time they fill
 * the ring, and it takes them and flushes again (blocking). Rank 0 keeps no
 * copy per round: its RSS may not grow by more than two buffers (the ring of
 * S+1 result buffers exists from create on; the peak is sampled while it
 * waits; a copy per round grew it by 13 buffers over 100 rounds of 1 MiB).
 * Every contribution still arrives, in order, and the flush ends with the
 * final round.
 *   mp_spill [rounds] [bytes] [poll|blocking]
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mp_common.h"

static int last_final; /* the last round taken was the flush's final round */

/* Take every waiting round, in order, adding up the last element. */
static void take(pcoll_coll_t *c, size_t count, uint64_t *last, double *got, uint64_t *rounds)
{
	pcoll_round_t r;
	int rc;
	while ((rc = pcoll_next_round(c, &r)) == 1) {
		MP_EXPECT(r.index == *last + 1, "round %llu after %llu",
			  (unsigned long long)r.index, (unsigned long long)*last);
		*last = r.index;
		last_final = r.final;
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
	int blocking = argc > 3 && !strcmp(argv[3], "blocking");
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
	int early = 0; /* blocking flushes that returned with rounds waiting */
	if (blocking)
		while ((rc = pcoll_flush(c)) > 0) {
			MP_EXPECT(rc <= a.staleness + 1,
				  "pcoll_flush: %d rounds waiting, ring of %d", rc,
				  a.staleness + 1);
			early++;
			long now = mp_rss_kib();
			if (now > rss1)
				rss1 = now;
			mp_sleep_ms(5); /* the user looks at the rounds: the ring holds */
			take(c, count, &last, &got, &rounds);
		}
	else
		rc = pcoll_flush_post(c);
	MP_OK(rc);
	for (int done = blocking; !done;) {
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
	MP_EXPECT(last_final, "the last round taken (%llu) is not the flush's final round",
		  (unsigned long long)last);
	double want = 1 + (double)n * (P - 1);
	MP_EXPECT(got == want, "contributions sum to %g, expected %g", got, want);
	pcoll_coll_info_t qi;
	MP_OK(pcoll_coll_query(c, &qi));
	if (me == 0) {
		printf("ok   spill: rank 0 flushed (%s) after 1 step while %d others made %d "
		       "steps of %zu KiB: %llu rounds taken, %llu holds, %d early returns, "
		       "RSS %ld -> peak %ld KiB\n",
		       blocking ? "pcoll_flush" : "pcoll_flush_test", P - 1, n, bytes >> 10,
		       (unsigned long long)rounds, (unsigned long long)qi.holds, early, rss0, rss1);
		MP_EXPECT(!blocking || early > 0,
			  "pcoll_flush never returned early while the others stepped %d rounds", n);
		MP_EXPECT(getenv("MP_NO_BOUNDS") || rss1 - rss0 <= 2 * (long)(bytes >> 10),
			  "RSS grew by %ld KiB over %d rounds of %zu KiB", rss1 - rss0, n,
			  bytes >> 10);
	}
	MP_OK(pcoll_destroy(c));
	free(g);
	MP_OK(pcoll_finalize(ctx));
	return 0;
}
