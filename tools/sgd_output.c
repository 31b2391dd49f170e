/*
 * sgd_output.c -- pcoll_sgd's results on rank 0: the comparison table, the
 * summary CSV and the loss plot (gnuplot).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "sgd.h"
int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0777) != 0 && errno != EEXIST)
		return -1;
	struct stat st;
	return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static void fmt_num(char *buf, size_t n, const char *fmt, double v)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, fmt, v);
}

/* A CSV field: empty for NaN. */
static void fmt_csv(char *buf, size_t n, const char *fmt, double v)
{
	if (isnan(v))
		buf[0] = '\0';
	else
		snprintf(buf, n, fmt, v);
}

void print_table(const opts_t *o, const wl_t *w, run_result_t *res, int nres, double target)
{
	printf("\n%s, P=%d processes, imbalance %s, target loss ", w->name, w->nprocs,
	       imb_names[o->imbalance]);
	if (isnan(target))
		printf("- (no sync run and no --target-loss)\n");
	else
		printf("%.5f%s\n", target,
		       isnan(o->target_loss) ? " (final held-out loss of the sync run)" : "");
	printf("%-12s %6s %8s %8s %7s %12s %11s %10s %10s %9s %13s %9s\n", "mode", "P", "steps/s",
	       "wall s", "rounds", "s to target", "final loss", "final acc%", "mean stale",
	       "max stale", "contrib/round", "identical");
	int shrunk = 0;
	for (int i = 0; i < nres; i++) {
		run_result_t *r = &res[i];
		char tt[32], acc[32], ms[32], procs[32];
		fmt_num(tt, sizeof(tt), "%.2f", r->time_to_target);
		fmt_num(acc, sizeof(acc), "%.2f", 100.0 * r->final_acc);
		fmt_num(ms, sizeof(ms), "%.2f", r->mean_stale);
		if (r->procs_end != r->procs_start)
			snprintf(procs, sizeof(procs), "%d->%d", r->procs_start, r->procs_end);
		else
			snprintf(procs, sizeof(procs), "%d", r->procs_start);
		printf("%-12s %6s %8.2f %8.2f %7" PRIu64 " %12s %11.5f %10s %10s %9" PRId64
		       " %13.2f %9s\n",
		       r->label, procs, (double)o->steps / r->wall_s, r->wall_s, r->rounds, tt,
		       r->final_loss, acc, ms, r->max_stale, r->mean_contrib,
		       r->identical ? "yes" : "no");
		shrunk |= r->shrinks > 0;
	}
	for (int i = 0; i < nres && shrunk; i++) {
		run_result_t *r = &res[i];
		if (r->shrinks == 0)
			continue;
		printf("%s: P went from %d to %d at step %" PRIu64
		       " (of team rank 0; job rank %s gone); the "
		       "survivors resumed from round %" PRIu64 " with team rank 0's model (%" PRIu64
		       " rounds undone, %" PRIu64 " adopted); replicas identical among the "
		       "survivors: %s\n",
		       r->label, r->procs_start, r->procs_end, r->fail_step, r->lost,
		       r->resume_round, r->rounds_undone, r->rounds_adopted,
		       r->identical ? "yes" : "no");
	}
	printf("steps/s: gradient steps per process per second (every mode does the same %ld);\n"
	       "stale: largest staleness of a round; s to target: first evaluation at or below "
	       "the target\n",
	       o->steps);
	fflush(stdout);
}

int write_summary(const opts_t *o, const wl_t *w, run_result_t *res, int nres, double target,
		  const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "pcoll_sgd: warning: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "workload,mode,processes,staleness,quorum,imbalance,delay_ms,delayed,steps,"
		   "rounds,steps_rank0,wall_s,steps_per_s,target_loss,time_to_target_s,"
		   "final_loss,final_accuracy,mean_staleness,max_staleness,"
		   "mean_contributions,wait_s_rank0,holds_rank0,replicas_identical,csv,"
		   "processes_end,lost_ranks,failure_step,resume_round\n");
	for (int i = 0; i < nres; i++) {
		run_result_t *r = &res[i];
		pcoll_attr_t attr;
		mode_attr(o, &o->modes[i], r->procs_start, NULL, &attr);
		char tl[32], tt[32], acc[32], ms[32];
		fmt_csv(tl, sizeof(tl), "%.9g", target);
		fmt_csv(tt, sizeof(tt), "%.4f", r->time_to_target);
		fmt_csv(acc, sizeof(acc), "%.4f", 100.0 * r->final_acc);
		fmt_csv(ms, sizeof(ms), "%.4f", r->mean_stale);
		fprintf(f,
			"%s,%s,%d,%d,%d,%s,%g,%d,%ld,%" PRIu64 ",%" PRIu64
			",%.4f,%.4f,%s,%s,%.9g,%s,%s,%" PRId64 ",%.4f,%.4f,%" PRIu64
			",%s,%s,%d,%s,%" PRIu64 ",%" PRIu64 "\n",
			w->name, r->label, r->procs_start,
			attr.mode == PCOLL_SYNC ? 0 : attr.staleness,
			attr.mode == PCOLL_QUORUM ? attr.quorum : 0, imb_names[o->imbalance],
			o->delay_ms, o->imbalance == IMB_PAPER ? o->delayed : 0, o->steps,
			r->rounds, r->steps_rank0, r->wall_s, (double)o->steps / r->wall_s, tl, tt,
			r->final_loss, acc, ms, r->max_stale, r->mean_contrib, r->wait_s_rank0,
			r->holds_rank0, r->identical ? "yes" : "no", r->csv, r->procs_end, r->lost,
			r->fail_step, r->resume_round);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "pcoll_sgd: warning: error writing %s\n", path);
		return -1;
	}
	return 0;
}

/* The gnuplot script: --plot-script, $PCOLL_SGD_PLOT, or where bench_find_data_file() looks
 * (next to the executable, in $(pkgdatadir) when installed, next to the source). */
static int find_plot_script(const opts_t *o, char *buf, size_t n)
{
	const char *env = getenv(PLOT_ENV);
	if (o->plot_script || (env && *env)) {
		snprintf(buf, n, "%s", o->plot_script ? o->plot_script : env);
		return bench_file_readable(buf);
	}
	return bench_find_data_file(PLOT_SCRIPT_NAME, buf, n) == 0;
}

static int plot_safe(const char *s)
{
	for (; *s; s++)
		if (*s == '\'' || *s == '"' || *s == ' ' || *s == '\\' || *s == '\n')
			return 0;
	return 1;
}

void run_gnuplot(const opts_t *o, const wl_t *w, run_result_t *res, int nres, double target,
		 const char *png)
{
	char script[PATH_MAX];
	if (!find_plot_script(o, script, sizeof(script))) {
		fprintf(stderr,
			"pcoll_sgd: warning: %s not found (use --plot-script or $%s); no plot\n",
			PLOT_SCRIPT_NAME, PLOT_ENV);
		return;
	}
	size_t cap = 1024;
	for (int i = 0; i < nres; i++)
		cap += strlen(res[i].csv) + strlen(res[i].label) + 8;
	cap += strlen(png) + strlen(o->outdir);
	char *e = xcalloc(cap, 1);
	size_t off = (size_t)snprintf(e, cap, "files='");
	for (int i = 0; i < nres; i++) {
		if (!res[i].csv[0] || !plot_safe(res[i].csv)) {
			fprintf(stderr,
				"pcoll_sgd: warning: output path unusable in gnuplot; no plot\n");
			free(e);
			return;
		}
		off += (size_t)snprintf(e + off, cap - off, "%s%s", i ? " " : "", res[i].csv);
	}
	off += (size_t)snprintf(e + off, cap - off, "'; titles='");
	for (int i = 0; i < nres; i++)
		off += (size_t)snprintf(e + off, cap - off, "%s%s", i ? " " : "", res[i].label);
	off += (size_t)snprintf(e + off, cap - off, "'; out='%s'; wl='%s'; procs=%d; ", png,
				w->name, w->nprocs);
	if (!isnan(target))
		snprintf(e + off, cap - off, "target=%.9g", target);
	if (!plot_safe(png)) {
		fprintf(stderr, "pcoll_sgd: warning: output path unusable in gnuplot; no plot\n");
		free(e);
		return;
	}
	int status = bench_gnuplot(e, script, NULL);
	if (status < 0) {
		fprintf(stderr, "pcoll_sgd: warning: %s: %s; no plot\n",
			status == -1 ? "fork" : "waitpid", strerror(errno));
		free(e);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		fprintf(stderr, "pcoll_sgd: warning: gnuplot not found; no plot\n");
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "pcoll_sgd: warning: gnuplot failed (status %d); no plot\n",
			status);
	else
		printf("plot: %s\n", png);
	free(e);
}
