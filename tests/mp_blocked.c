/*
 * A process blocked in a step for a long time leaves the cores alone: rank 0
 * steps a sync allreduce while the others sleep BLOCK_MS before they step,
 * and its voluntary context switches (every thread: caller, progress thread,
 * the runtime's) over that wait stay under MAX_WAKEUPS_PER_S. With a wait fd
 * (tcp) the caller sleeps in poll() with a timeout that doubles up to 32 ms
 * while the call stays quiet (1 ms each time before: about 980 wake-ups a
 * second; now about 60), and the progress thread backs off while the same
 * caller stays blocked (it looked every 500 us before that: 2,800 a second);
 * with 64 processes on 2 cores those wake-ups took the cores the senders
 * needed. The round's result is checked too. Not
 * on shm: without a wait fd the caller sleeps 100 us at most between looks
 * (about 7,000 wake-ups a second; README, known issues).
 */
#include <string.h>
#include <sys/resource.h>

#include "mp_common.h"

#define COUNT		  64
#define BLOCK_MS	  1500.0
#define MAX_WAKEUPS_PER_S 300.0

static long wakeups(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru))
		mp_fail("getrusage");
	return ru.ru_nvcsw;
}

static void one_round(pcoll_coll_t *c, int P, int me, int s)
{
	double g[COUNT], out[COUNT];
	for (int e = 0; e < COUNT; e++)
		g[e] = (double)((me + 1) * (s + 1) + e);
	MP_OK(pcoll_step(c, g));
	pcoll_round_t r;
	int rc = pcoll_next_round_into(c, out, &r);
	MP_OK(rc);
	MP_EXPECT(rc == 1, "step %d: no round after a sync step", s);
	for (int e = 0; e < COUNT; e++) {
		double want = (double)(P * (P + 1) / 2 * (s + 1) + P * e);
		MP_EXPECT(out[e] == want, "step %d, element %d: %g, expected %g", s, e, out[e],
			  want);
	}
}

int main(void)
{
	pcoll_config_t cfg;
	pcoll_config_init(&cfg);
	pcoll_ctx_t *ctx;
	MP_OK(pcoll_init(&cfg, &ctx));
	int P = pcoll_size(ctx), me = mp_rank = pcoll_rank(ctx);
	pcoll_attr_t a;
	pcoll_attr_init(&a);
	a.mode = PCOLL_SYNC;
	pcoll_coll_t *c;
	MP_OK(pcoll_allreduce_create(ctx, COUNT, PCOLL_FLOAT64, &a, &c));
	one_round(c, P, me, 0); /* connections up, every thread started */
	double t0 = mp_now();
	long w0 = wakeups();
	if (me != 0)
		mp_sleep_ms(BLOCK_MS);
	one_round(c, P, me, 1);
	double dt = mp_now() - t0;
	long w = wakeups() - w0;
	if (me == 0) {
		MP_EXPECT(dt >= BLOCK_MS * 1e-3 * 0.9,
			  "the step returned after %.2f s, before its peers stepped", dt);
		MP_EXPECT(w / dt < MAX_WAKEUPS_PER_S,
			  "blocked %.2f s in a step, the process woke %ld times (%.0f/s, at most "
			  "%.0f/s expected)",
			  dt, w, w / dt, MAX_WAKEUPS_PER_S);
		printf("ok   blocked: %.2f s in one step, %ld wake-ups (%.0f/s), P=%d\n", dt, w,
		       w / dt, P);
	}
	mp_flush_discard(c);
	MP_OK(pcoll_destroy(c));
	MP_OK(pcoll_finalize(ctx));
	return 0;
}
