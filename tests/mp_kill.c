/*
 * Peer death: rank R kills itself with SIGKILL at step N of a sync
 * collective; every survivor's blocked step must fail with PCOLL_ERR_PEER
 * naming job rank R within 2 s, and destroy and finalize must then return
 * within 1 s. Launch under a launcher that keeps the job alive.
 * With -s SEC rank R stops itself (SIGSTOP) for SEC seconds instead, longer
 * than PCOLL_TIMEOUT_MS: the others fail, and the stopped one, once resumed,
 * must fail at once too instead of going on alone.
 *   mp_kill -r R -k N [-m mode] [-d ms] [-s SEC]
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mp_common.h"

int main(int argc, char **argv)
{
	int victim = 1, kill_step = 20, opt;
	double delay_ms = 5, stop_s = 0;
	pcoll_mode_t mode = PCOLL_SYNC;
	while ((opt = getopt(argc, argv, "r:k:m:d:s:")) != -1) {
		if (opt == 's')
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
	float g[1024] = {1};
	MP_OK(pcoll_allreduce_create(ctx, 1024, PCOLL_FLOAT32, &a, &c));
	double last_ok = mp_now();
	int rc = 0, after_stop = -1;
	for (int s = 0; s < 100000; s++) {
		if (me == victim && s == kill_step && stop_s > 0) {
			pid_t parent = getpid();
			if (fork() == 0) { /* wakes the parent up after stop_s */
				mp_sleep_ms(stop_s * 1e3);
				kill(parent, SIGCONT);
				_exit(0);
			}
			kill(parent, SIGSTOP);
			after_stop = 0;
		} else if (me == victim && s == kill_step) {
			kill(getpid(), SIGKILL);
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
		printf("ok   rank %d: stop: failed with %s, %d steps alone\n", me,
		       pcoll_strerror(rc), after_stop);
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
	double t0 = mp_now();
	int drc = pcoll_destroy(c);
	int frc = pcoll_finalize(ctx);
	double t_down = mp_now() - t0;
	printf("ok   rank %d: PCOLL_ERR_PEER naming job rank %d after %.3f s; destroy %d, finalize "
	       "%d, %.3f s\n",
	       me, victim, t_err, drc, frc, t_down);
	MP_EXPECT(t_down < 1.0, "destroy + finalize took %.3f s (bound 1 s)", t_down);
	return 0;
}
