/*
 * Create/step/flush/destroy churn: the cost of a cycle and the process's
 * memory must stay flat (DESIGN: memory is bounded). Every other cycle runs
 * on a team split for it and destroyed after it. 2000 cycles; the last
 * quarter may not take more than 3x the second, and RSS may not grow by more
 * than 1 MiB between the first quarter and the end, nor end above
 * MP_RSS_MAX_KIB where that is set.
 */
#include <stdio.h>
#include <unistd.h>

#include "mp_common.h"

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	pcoll_ctx_t *ctx;
	MP_OK(pcoll_init(NULL, &ctx));
	mp_rank = pcoll_rank(ctx);
	float g[256];
	for (int i = 0; i < 256; i++)
		g[i] = 1;
	double q[4] = {0}, t0 = mp_now();
	long rss500 = 0;
	for (int i = 1; i <= n; i++) {
		pcoll_attr_t a;
		pcoll_attr_init(&a);
		a.mode = (pcoll_mode_t)(i % 3);
		pcoll_team_t *team = NULL;
		if (i % 2)
			MP_OK(pcoll_team_split(ctx, 0, -mp_rank, &team));
		a.team = team;
		pcoll_coll_t *c;
		MP_OK(pcoll_allreduce_create(ctx, 256, PCOLL_FLOAT32, &a, &c));
		MP_OK(pcoll_step(c, g));
		pcoll_round_t r;
		while (pcoll_next_round(c, &r) == 1)
			;
		mp_flush_discard(c);
		MP_OK(pcoll_destroy(c));
		if (team)
			MP_OK(pcoll_team_destroy(team));
		if (i % (n / 4) == 0) {
			q[i / (n / 4) - 1] = mp_now() - t0;
			t0 = mp_now();
		}
		if (i == n / 4)
			rss500 = mp_rss_kib();
	}
	long rss_end = mp_rss_kib();
	if (mp_rank == 0)
		printf(
		    "ok   churn: %d cycles, quarters %.2f %.2f %.2f %.2f s, RSS %ld -> %ld KiB\n",
		    n, q[0], q[1], q[2], q[3], rss500, rss_end);
	if (!getenv("MP_NO_BOUNDS")) { /* set for sanitizer builds (mp-churn.sh) */
		MP_EXPECT(q[3] <= 3 * q[1] + 0.05,
			  "the last quarter took %.2f s, the second %.2f s", q[3], q[1]);
		MP_EXPECT(rss_end - rss500 <= 1024, "RSS grew from %ld to %ld KiB", rss500,
			  rss_end);
		/* MP_RSS_MAX_KIB: the whole process's bound (mp-churn.sh, tcp: rxm's
		 * bounce buffers alone were 85 MiB before pcoll asked for passthru). */
		const char *mx = getenv("MP_RSS_MAX_KIB");
		MP_EXPECT(!mx || rss_end <= atol(mx), "RSS %ld KiB, over the bound of %s KiB",
			  rss_end, mx);
	}
	MP_OK(pcoll_finalize(ctx));
	return 0;
}
