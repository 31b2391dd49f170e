/*
 * pcoll_sgd -- data-parallel SGD on pcoll partial collectives: the eager-SGD demo.
 *
 * Every process holds a replica of the model and a shard of the data. One optimizer step per
 * round: a process computes a gradient on its shard at its current version, hands it to
 * pcoll_step(), then applies every round the collective gives it (the SUM of the
 * contributions, divided by P) as one momentum-SGD update. Since every process is given the
 * same rounds with bit-identical data, the replicas stay bit-identical; the tool checks that at
 * the end of every run with a second collective.
 *
 * Every process takes the same number of gradient steps (-n) in every mode, so every mode
 * applies the same gradients (pcoll drops none); the eager modes apply them in more rounds,
 * some of them stale, and finish sooner. Modes are compared on wall time to reach a target
 * held-out loss (by default the sync run's final one), as in the paper.
 *
 * Workloads (synthetic, generated from the seed, no downloads):
 *   hyperplane  linear regression on a random hyperplane, MSE loss (the paper's first test)
 *   mlp         2-hidden-layer MLP (~252K float32 parameters, ~1 MiB of gradients) on a
 *               Gaussian-mixture classification task, softmax cross-entropy (the default)
 *   seq         per-token layer + mean pooling over variable-length sequences whose lengths
 *               are long-tailed: inherent, data-dependent compute imbalance, computed for real
 *
 * Imbalance injection (sleep-emulated, drawn from a seeded PRNG shared by all processes):
 *   paper  each step, k random processes (same choice everywhere) are delayed by delta ms
 *   slow   one process (chosen by the seed) is delayed by delta ms at every step
 *   tail   every process draws a long-tailed random delay (median delta/4) at every step
 *   none   no injected delay
 *
 * Evaluation never runs inside the timed loop: replicas pass through every version, so the
 * process that owns an evaluation point copies the parameters there, and the copies are
 * evaluated after the run (spread over the processes and summed with a collective). Times
 * come from rank 0's clock.
 *
 * A peer that dies (or the --kill-rank drill's victim) is survived: the others shrink to a
 * team without it, take the new team rank 0's model and finish on P-1 (sgd_train.c, and
 * FAILURES in pcoll_sgd(1)); later runs use that team.
 *
 * Usage: pcoll-run -n 4 pcoll_sgd [options]   (see --help)
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgd.h"

/* ------------------------------------------------------------------ errors */

int g_rank = -1;

void die(const char *fmt, ...)
{
	char msg[1024];
	int off = snprintf(msg, sizeof(msg), "pcoll_sgd: rank %d: ", g_rank);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + off, sizeof(msg) - (size_t)off - 1, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	fflush(stdout);
	fputs(msg, stderr); /* one write: lines of different ranks do not interleave */
	exit(EXIT_FAILURE);
}

/* Check a pcoll return code: negative is an error, reported with the rank and detail. */
int pcheck(int rc, const char *what)
{
	if (rc < 0)
		die("%s failed: %s (%d): %s", what, pcoll_strerror(rc), rc, pcoll_last_error());
	return rc;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);
	if (!q)
		die("out of memory (%zu bytes)", size);
	return q;
}

/* -------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	opts_t o;
	parse_opts(argc, argv, &o);
	double t_start = now_s(); /* where the launch's time goes: see the times line */

	pcoll_config_t cfg;
	pcoll_config_init(&cfg);
	cfg.provider = o.provider;
	pcoll_ctx_t *ctx = NULL;
	pcheck(pcoll_init(&cfg, &ctx), "pcoll_init");
	double t_init = now_s();
	int rank = pcheck(pcoll_rank(ctx), "pcoll_rank");
	int nprocs = pcheck(pcoll_size(ctx), "pcoll_size");
	g_rank = rank;

	for (int i = 0; i < o.nmodes; i++) {
		mode_spec_t *m = &o.modes[i];
		int q =
		    m->quorum ? m->quorum : (o.quorum ? o.quorum : (nprocs / 2 ? nprocs / 2 : 1));
		if (m->mode == PCOLL_QUORUM && q > nprocs)
			die("quorum %d exceeds the %d processes", q, nprocs);
		if (m->mode == PCOLL_QUORUM) {
			m->quorum = q; /* fixed: the label stays right if the team shrinks */
			snprintf(m->label, sizeof(m->label), "quorum:%d", q);
		} else
			snprintf(m->label, sizeof(m->label), "%s", pcoll_mode_name(m->mode));
	}
	if (o.kill_rank >= nprocs)
		die("--kill-rank %d: the job has %d process%s", o.kill_rank, nprocs,
		    nprocs == 1 ? "" : "es");
	if (o.kill_rank >= 0 && nprocs < 2)
		die("--kill-rank needs at least 2 processes");
	int delayed = o.delayed < 0 ? 0 : (o.delayed ? o.delayed : (nprocs / 2 ? nprocs / 2 : 1));
	if (delayed > nprocs)
		delayed = nprocs;
	o.delayed = delayed;

	wl_t *w = wl_create(&o, rank, nprocs);
	delayer_t dl = {.kind = o.imbalance,
			.delta_ms = o.delay_ms,
			.k = delayed,
			.rank = rank,
			.nprocs = nprocs,
			.slow_rank = (int)(bench_mix64(o.seed ^ TAG_SLOW) % (uint64_t)nprocs),
			.seed = o.seed,
			.perm = xcalloc((size_t)nprocs, sizeof(int))};

	double t_c0 = now_s();
	pcoll_coll_t *ctrl = ctrl_create(ctx, NULL);
	/* The control collective is the context's first: its create makes the connections. */
	if (o.phases)
		fprintf(stderr,
			"pcoll_sgd: rank %d phases: pcoll_init %.3f s, workload %.3f s, control "
			"collective %.3f s\n",
			rank, t_init - t_start, t_c0 - t_init, now_s() - t_c0);

	if (rank == 0) {
		pcoll_ctx_info_t ci;
		pcheck(pcoll_ctx_query(ctx, &ci), "pcoll_ctx_query");
		printf("pcoll_sgd: %d processes, provider %s, wireup %s, progress thread %s\n",
		       nprocs, ci.provider, ci.wireup, ci.progress_thread ? "on" : "off");
		printf("workload %s: %s; %zu float32 parameters (%.2f MiB per round)\n", w->name,
		       w->desc, w->nparams, (double)w->nparams * 4.0 / (1024.0 * 1024.0));
		printf("steps %ld per run, batch %d per process, lr %g, momentum %g, staleness %d, "
		       "seed %" PRIu64 "\n",
		       o.steps, o.batch, o.lr, o.momentum, o.staleness, o.seed);
		printf("imbalance %s", imb_names[o.imbalance]);
		switch (o.imbalance) {
		case IMB_PAPER:
			printf(": %d of %d processes delayed %g ms per step\n", delayed, nprocs,
			       o.delay_ms);
			break;
		case IMB_SLOW:
			printf(": rank %d delayed %g ms per step\n", dl.slow_rank, o.delay_ms);
			break;
		case IMB_TAIL:
			printf(": lognormal delays, median %g ms, capped at %g ms\n",
			       o.delay_ms / 4.0, 20.0 * o.delay_ms);
			break;
		default:
			printf("\n");
		}
		printf("modes:");
		for (int i = 0; i < o.nmodes; i++)
			printf(" %s", o.modes[i].label);
		printf("\n");
		if (o.kill_rank >= 0)
			printf("failure drill: rank %d exits at step %ld of the %s run; the others "
			       "shrink and go on\n",
			       o.kill_rank, o.kill_step, o.modes[0].label);
		printf("\n");
		fflush(stdout);
		if (mkdir_p(o.outdir) != 0)
			die("cannot create the output directory %s: %s", o.outdir, strerror(errno));
	}

	run_ctx_t rc = {.o = &o,
			.ctx = ctx,
			.ctrl = ctrl,
			.w = w,
			.delayer = &dl,
			.job_rank = rank,
			.slow_job = dl.slow_rank,
			.rank = rank,
			.nprocs = nprocs};
	rc.params = xcalloc(w->nparams, sizeof(float));
	rc.vel = xcalloc(w->nparams, sizeof(float));
	rc.grad = xcalloc(w->nparams, sizeof(float));
	run_result_t *res = xcalloc((size_t)o.nmodes, sizeof(run_result_t));
	for (int i = 0; i < o.nmodes; i++) {
		snprintf(res[i].label, sizeof(res[i].label), "%s", o.modes[i].label);
		run_one(&rc, &o.modes[i], i, &res[i]);
	}
	double t_runs = now_s();

	/* Target loss and time to reach it. */
	double target = o.target_loss;
	if (isnan(target))
		for (int i = 0; i < o.nmodes; i++)
			if (o.modes[i].mode == PCOLL_SYNC) {
				target = res[i].final_loss;
				break;
			}
	int all_identical = 1;
	for (int i = 0; i < o.nmodes; i++) {
		run_result_t *r = &res[i];
		r->time_to_target = NAN;
		for (size_t j = 0; !isnan(target) && j < r->npts; j++)
			if (r->pt_loss[j] <= target) {
				r->time_to_target = r->pt_t[j];
				break;
			}
		all_identical &= r->identical;
	}

	char png[PATH_MAX + 64] = "";
	if (rc.rank == 0) { /* team rank 0: job rank 0 may be gone */
		print_table(&o, w, res, o.nmodes, target);
		char path[PATH_MAX + 64];
		const char *sep = o.outdir[strlen(o.outdir) - 1] == '/' ? "" : "/";
		snprintf(path, sizeof(path), "%s%s%s_summary.csv", o.outdir, sep, w->name);
		if (write_summary(&o, w, res, o.nmodes, target, path) == 0)
			printf("summary: %s\n", path);
		snprintf(png, sizeof(png), "%s%s%s_loss.png", o.outdir, sep, w->name);
		printf("replicas identical: %s\n", all_identical ? "yes" : "no");
		fflush(stdout);
	}

	pcheck(pcoll_destroy(rc.ctrl), "pcoll_destroy (control)");
	if (rc.team)
		pcheck(pcoll_team_destroy(rc.team), "pcoll_team_destroy");
	double t_fin0 = now_s();
	int frc = pcoll_finalize(ctx);
	if (frc < 0 && rc.shrinks == 0) /* after a death the job-wide finalize cannot agree */
		pcheck(frc, "pcoll_finalize");
	if (rc.rank == 0) { /* init includes the wait for the last process to start */
		printf("times (rank %d): pcoll_init %.2f s, the runs %.2f s, the summary %.2f s, "
		       "pcoll_finalize %.2f s\n",
		       rank, t_init - t_start, t_runs - t_init, t_fin0 - t_runs, now_s() - t_fin0);
		fflush(stdout);
	}
	if (rc.shrinks) {
		/* Every survivor says so (the test counts these lines). */
		printf("pcoll_sgd: rank %d survived (team rank %d of %d): replicas identical: %s, "
		       "exit %d\n",
		       rank, rc.rank, rc.nprocs, all_identical ? "yes" : "no",
		       all_identical ? 0 : 3);
		fflush(stdout);
	}

	/* Plot after pcoll is gone: fork()ing with registered memory is unsafe on some fabrics. */
	if (rc.rank == 0 && !o.no_plot)
		run_gnuplot(&o, w, res, o.nmodes, target, png);

	for (int i = 0; i < o.nmodes; i++) {
		free(res[i].pt_t);
		free(res[i].pt_loss);
		free(res[i].pt_acc);
		free(res[i].pt_round);
	}
	free(res);
	free(rc.params);
	free(rc.vel);
	free(rc.grad);
	free(rc.recs);
	free(rc.snaps);
	free(dl.perm);
	w->destroy(w);
	return all_identical ? 0 : 3;
}
