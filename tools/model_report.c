/*
 * model_report.c -- pcoll_model's commands (model_report.h): the fit's
 * table and parameter file, the prediction sweep over P, the validation
 * against measured runs, and the plot.
 */
#define _GNU_SOURCE
#include "model_report.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench_common.h"
#include "bench_pattern.h"

#define PROG	      "pcoll_model"
#define MAX_PROVIDERS 16
#define VALIDATE_RUNS 64

static const char *const mode_names[] = {"sync", "solo", "majority", "quorum"};

/* ------------------------------------------------------------------ fit */

int model_cmd_fit(const struct model_opts *o)
{
	struct model_points pts = {0};
	struct model_params mp[MAX_PROVIDERS];
	char err[512];
	int np = 0, rc = 1;
	double split = o->split < 0 ? 0.5 : o->split;
	FILE *csv = NULL;

	for (int i = 0; i < o->nfiles; i++)
		if (model_read_allreduce(o->files[i], &pts, err, sizeof(err)) < 0) {
			fprintf(stderr, PROG ": %s\n", err);
			goto out;
		}
	if (o->size_set) { /* -m: only the sizes asked for */
		int k = 0;
		for (int i = 0; i < pts.n; i++)
			if (pts.v[i].size >= o->size_min && pts.v[i].size <= o->size)
				pts.v[k++] = pts.v[i];
		pts.n = k;
	}
	model_median(&pts, o->best);
	if (o->csv && !(csv = fopen(o->csv, "w"))) {
		fprintf(stderr, PROG ": cannot write %s: %m\n", o->csv);
		goto out;
	}
	if (csv)
		fprintf(csv, "bench,provider,P,algorithm,size,us_measured,us_model,rel_err\n");
	printf("# pcoll_model fit: LogGP per transport from pcoll_bench allreduce (sync, OSU "
	       "shape),\n# the %s per size over %d file(s), sizes %zu to %zu B; weighted "
	       "least squares,\n# parameters >= 0. alpha = L + 2o is what a round pays per "
	       "message; split\n# 2o/alpha = %.2f and g = o are assumed (no allreduce latency "
	       "tells them apart).\n# G, gamma in ns/byte.\n",
	       o->best ? "minimum" : "median", o->nfiles, o->size_set ? o->size_min : 0,
	       o->size_set ? o->size : SIZE_MAX, split);
	printf("%-16s%8s%10s%8s%8s%8s%10s%12s%8s%10s%10s\n", "# provider", "points", "alpha(us)",
	       "L(us)", "o(us)", "g(us)", "G(ns/B)", "gamma(ns/B)", "GB/s", "rms err", "max err");
	for (int i = 0; i < pts.n; i++) {
		int seen = 0;
		for (int j = 0; j < np; j++)
			seen |= strcmp(mp[j].provider, pts.v[i].provider) == 0;
		if (seen)
			continue;
		if (np == MAX_PROVIDERS) {
			fprintf(stderr, PROG ": more than %d providers\n", MAX_PROVIDERS);
			goto out;
		}
		double x[3];
		if (model_fit(&pts, pts.v[i].provider, o->dtsize, x)) {
			fprintf(stderr, PROG ": %s: too few latencies to fit (need 3 sizes)\n",
				pts.v[i].provider);
			goto out;
		}
		struct model_params *p = &mp[np++];
		model_params_of(&pts, pts.v[i].provider, o->dtsize, x, split, p);
		char bw[16] = "-"; /* 1/G: the bandwidth of the wire alone */
		if (p->m.G > 0)
			snprintf(bw, sizeof(bw), "%.2f", 1e-3 / p->m.G);
		printf("%-16s%8d%10.3f%8.3f%8.3f%8.3f%10.4f%12.4f%8s%9.1f%%%9.1f%%\n", p->provider,
		       p->points, p->alpha, p->m.L, p->m.o, p->m.g, p->m.G * 1e3, p->m.gamma * 1e3,
		       bw, 100 * p->rms_rel, 100 * p->max_rel);
		for (int j = 0; j < pts.n; j++) {
			const struct model_point *q = &pts.v[j];
			if (strcmp(q->provider, p->provider) || q->P < 2 || q->size < o->dtsize)
				continue;
			int algo = model_algo_want(q->P, q->size / o->dtsize, o->dtsize, q->algo);
			const char *an = algo == MODEL_RD     ? "rd"
					 : algo == MODEL_RSAG ? "rsag"
							      : "ring";
			double us =
			    model_round_algo(&p->m, q->P, q->size / o->dtsize, o->dtsize, q->algo);
			if (o->full)
				printf("#   P=%d %-4s %9zu B  measured %10.2f us  model %10.2f us  "
				       "%+6.1f%%\n",
				       q->P, an, q->size, q->us, us, 100 * (us - q->us) / q->us);
			if (csv)
				fprintf(csv, "fit,%s,%d,%s,%zu,%.3f,%.3f,%.4f\n", p->provider, q->P,
					an, q->size, q->us, us, (us - q->us) / q->us);
		}
	}
	if (np == 0) {
		fprintf(stderr, PROG ": no pcoll sync OSU-shape allreduce rows in the files\n");
		goto out;
	}
	if (model_write_params(o->params, mp, np)) {
		fprintf(stderr, PROG ": cannot write %s: %m\n", o->params);
		goto out;
	}
	printf("# wrote %s\n", o->params);
	rc = 0;
out:
	if (csv && fclose(csv)) {
		fprintf(stderr, PROG ": writing %s failed: %m\n", o->csv);
		rc = 1;
	}
	free(pts.v);
	return rc;
}

/* ---------------------------------------------------------- parameters */

static int load_params(const struct model_opts *o, struct model_params *mp, int *n)
{
	char err[512];
	*n = 0;
	if (o->zero)
		return 0;
	*n = model_read_params(o->params, mp, MAX_PROVIDERS, err, sizeof(err));
	if (*n < 0) {
		fprintf(stderr, PROG ": %s (run '" PROG " fit' first, or --zero)\n", err);
		return -1;
	}
	for (int i = 0; i < *n && o->split >= 0; i++) {
		mp[i].split = o->split;
		mp[i].m.o = mp[i].m.g = o->split * mp[i].alpha / 2.0;
		mp[i].m.L = mp[i].alpha - 2.0 * mp[i].m.o;
	}
	return 0;
}

/* The parameters of provider (exact, or the part before ';' either way). */
static const struct model_params *params_for(const struct model_params *mp, int n,
					     const char *provider)
{
	for (int i = 0; i < n; i++)
		if (strcmp(mp[i].provider, provider) == 0)
			return &mp[i];
	for (int i = 0; i < n; i++)
		if (model_provider_match(mp[i].provider, provider) ||
		    model_provider_match(provider, mp[i].provider))
			return &mp[i];
	return NULL;
}

static void print_params(const struct model_params *p)
{
	if (!p) {
		printf("# zero communication cost\n");
		return;
	}
	printf("# %s: alpha=%.3f us (L=%.3f o=%.3f g=%.3f, split %.2f), G=%.4f ns/B, "
	       "gamma=%.4f ns/B\n",
	       p->provider, p->alpha, p->m.L, p->m.o, p->m.g, p->split, p->m.G * 1e3,
	       p->m.gamma * 1e3);
}

/* ------------------------------------------------------------ predict */

static int quorum_k(const struct model_opts *o, int k_label, int P)
{
	if (k_label)
		return k_label;
	return o->quorum ? o->quorum : (P + 1) / 2;
}

/* The case over seeds seed .. seed + K - 1: the mean steps/s. */
static int run_seeds(struct model_case *c, int K, struct model_out *out)
{
	struct model_out r;
	uint64_t seed = c->seed;
	double sm = 0.0, si = 0.0, h = 0.0;
	for (int j = 0; j < K; j++) {
		c->seed = seed + (uint64_t)j;
		if (model_run_case(c, &r)) {
			c->seed = seed;
			return -1;
		}
		sm += r.sps_model;
		si += r.sps_ideal;
		h += (double)r.holds;
	}
	c->seed = seed;
	*out = r;
	out->sps_model = sm / K;
	out->sps_ideal = si / K;
	out->holds = (uint64_t)llround(h / K);
	return 0;
}

int model_cmd_predict(const struct model_opts *o)
{
	struct model_params mp[MAX_PROVIDERS];
	int np;
	FILE *csv = NULL;
	if (load_params(o, mp, &np))
		return 1;
	const struct model_params *p = o->zero ? NULL : params_for(mp, np, o->provider);
	if (!o->zero && !p) {
		fprintf(stderr, PROG ": %s: no parameters for provider '%s'\n", o->params,
			o->provider);
		return 1;
	}
	if (o->csv && !(csv = fopen(o->csv, "w"))) {
		fprintf(stderr, PROG ": cannot write %s: %m\n", o->csv);
		return 1;
	}
	if (csv)
		fprintf(csv, "bench,provider,P,size,pattern,base_ms,steps,staleness,mode,sps_model,"
			     "sps_ideal,model_over_ideal,speedup_model,speedup_ideal,round_us,"
			     "learn_max_us,holds,seeds\n");
	printf("# pcoll_model predict: size=%zu B, base=%.1f ms, rounds=%llu, S=%d, seed=%llu%s\n",
	       o->size, o->base_ms, (unsigned long long)o->rounds, o->staleness,
	       (unsigned long long)o->seed, o->seeds > 1 ? " and on (mean steps/s)" : "");
	if (o->seeds > 1)
		printf("# over %d seeds of the pattern\n", o->seeds);
	print_params(p);
	printf("# Steps/s as pcoll_bench imbalance counts them: model (with the costs) / ideal "
	       "(zero cost);\n# xSync: the model's speedup over the model's sync. Round: one "
	       "round, all joining\n# together; Act: the last process to learn of a round "
	       "(activation)\n");
	int rc = 0;
	for (int pi = 0; pi < bench_npatterns && !rc; pi++) {
		if (!bench_pattern_selected(o->patterns, bench_patterns[pi].name))
			continue;
		printf("\n# %s: %s\n%-7s%10s%9s", bench_patterns[pi].name, bench_patterns[pi].what,
		       "# P", "Round(us)", "Act(us)");
		for (int mi = 0; mi < o->nmodes; mi++)
			printf("%18s%7s", o->modes[mi], "xSync");
		printf("\n");
		for (int i = 0; i < o->nprocs && !rc; i++) {
			int P = o->procs[i];
			struct model_out out[MODEL_MAX_MODES];
			int ok[MODEL_MAX_MODES] = {0};
			double sync_model = NAN, sync_ideal = NAN;
			if (!bench_pattern_fits(pi, P))
				continue;
			for (int mi = 0; mi < o->nmodes; mi++) {
				struct model_case c = {.m = p ? &p->m : NULL,
						       .P = P,
						       .count = o->size / o->dtsize,
						       .dtsize = o->dtsize,
						       .pattern = pi,
						       .base_ms = o->base_ms,
						       .seed = o->seed,
						       .S = o->staleness,
						       .rounds = o->rounds};
				int kl;
				model_parse_mode(o->modes[mi], &c.mode, &kl);
				c.k = quorum_k(o, kl, P);
				if (c.mode == PCOLL_SYNC)
					c.S = 0;
				if (c.mode == PCOLL_QUORUM && c.k > P)
					continue;
				if (run_seeds(&c, o->seeds, &out[mi])) {
					fprintf(stderr, PROG ": the simulation failed (P=%d)\n", P);
					rc = 1;
					break;
				}
				ok[mi] = 1;
				if (c.mode == PCOLL_SYNC) {
					sync_model = out[mi].sps_model;
					sync_ideal = out[mi].sps_ideal;
				}
			}
			if (rc)
				break;
			int f = 0;
			while (f < o->nmodes && !ok[f])
				f++;
			if (f == o->nmodes)
				continue;
			printf("%-7d%10.1f%9.1f", P, out[f].round_us, out[f].learn_max_us);
			for (int mi = 0; mi < o->nmodes; mi++) {
				char cell[32];
				if (!ok[mi]) {
					printf("%18s%7s", "-", "");
					continue;
				}
				const struct model_out *r = &out[mi];
				snprintf(cell, sizeof(cell), "%.2f/%.2f", r->sps_model,
					 r->sps_ideal);
				if (isnan(sync_model)) /* sync not asked for: no ratio */
					printf("%18s%7s", cell, "-");
				else
					printf("%18s%6.2fx", cell, r->sps_model / sync_model);
				if (!csv)
					continue;
				int kl;
				pcoll_mode_t m;
				char label[32];
				model_parse_mode(o->modes[mi], &m, &kl);
				if (m == PCOLL_QUORUM)
					snprintf(label, sizeof(label), "quorum:%d",
						 quorum_k(o, kl, P));
				else
					snprintf(label, sizeof(label), "%s", mode_names[m]);
				fprintf(
				    csv,
				    "model,%s,%d,%zu,%s,%.3f,%llu,%d,%s,%.4f,%.4f,%.5f,%.4f,%.4f,"
				    "%.3f,%.3f,%llu,%d\n",
				    p ? p->provider : "zero", P, o->size, bench_patterns[pi].name,
				    o->base_ms, (unsigned long long)o->rounds,
				    m == PCOLL_SYNC ? 0 : o->staleness, label, r->sps_model,
				    r->sps_ideal, r->sps_model / r->sps_ideal,
				    r->sps_model / sync_model, r->sps_ideal / sync_ideal,
				    r->round_us, r->learn_max_us, (unsigned long long)r->holds,
				    o->seeds);
			}
			printf("\n");
		}
	}
	if (csv && fclose(csv)) {
		fprintf(stderr, PROG ": writing %s failed: %m\n", o->csv);
		rc = 1;
	}
	return rc;
}

/* ----------------------------------------------------------- validate */

static int same_cell(const struct model_meas *a, const struct model_meas *b)
{
	return strcmp(a->provider, b->provider) == 0 && strcmp(a->mode, b->mode) == 0 &&
	       strcmp(a->pattern, b->pattern) == 0 && a->P == b->P && a->S == b->S &&
	       a->size == b->size && a->base_ms == b->base_ms && a->rounds == b->rounds;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Cells in the order of a table: transport, P, pattern, mode. */
static int cmp_meas(const void *a, const void *b)
{
	const struct model_meas *x = a, *y = b;
	pcoll_mode_t mx = PCOLL_SYNC, my = PCOLL_SYNC;
	int kx, ky, c = strcmp(x->provider, y->provider);
	if (c)
		return c;
	if (x->P != y->P)
		return x->P < y->P ? -1 : 1;
	c = bench_pattern_find(x->pattern, strlen(x->pattern)) -
	    bench_pattern_find(y->pattern, strlen(y->pattern));
	if (c)
		return c;
	model_parse_mode(x->mode, &mx, &kx);
	model_parse_mode(y->mode, &my, &ky);
	return mx != my ? (int)mx - (int)my : strcmp(x->mode, y->mode);
}

int model_cmd_validate(const struct model_opts *o)
{
	struct model_params mp[MAX_PROVIDERS];
	struct model_meas *v = NULL;
	int n = 0, cap = 0, np, rc = 1, cells = 0;
	char err[512];
	FILE *csv = NULL;
	double ratios[4096];
	int nratios = 0, ratio_P[4096], ratio_sync[4096];
	const char *ratio_prov[4096];

	if (load_params(o, mp, &np))
		return 1;
	for (int i = 0; i < o->nfiles; i++)
		if (model_read_imbalance(o->files[i], &v, &n, &cap, err, sizeof(err)) < 0) {
			fprintf(stderr, PROG ": %s\n", err);
			goto out;
		}
	qsort(v, (size_t)n, sizeof(*v), cmp_meas);
	if (o->csv && !(csv = fopen(o->csv, "w"))) {
		fprintf(stderr, PROG ": cannot write %s: %m\n", o->csv);
		goto out;
	}
	if (csv)
		fprintf(csv, "bench,provider,P,size,pattern,base_ms,steps,staleness,mode,runs,"
			     "sps_measured,sps_measured_min,sps_measured_max,sps_model,ratio,"
			     "ratio_min,ratio_max,sps_ideal,ratio_ideal,round_us\n");
	printf("# pcoll_model validate: %d measured cells from %d file(s); Ratio = measured / "
	       "model\n# (median over the runs, [min-max]); Ideal: the zero-cost replay of the "
	       "same times\n",
	       n, o->nfiles);
	printf("%-4s%-12s%-11s%5s%24s%10s%20s%10s%9s\n", "# P", " pattern", " mode", "runs",
	       "measured [min-max]", "model", "ratio [min-max]", "ideal", "meas/id");
	for (int i = 0; i < n; i++) {
		int first = 1;
		for (int j = 0; j < i && first; j++)
			first = !same_cell(&v[i], &v[j]);
		if (!first)
			continue;
		double sps[VALIDATE_RUNS];
		int runs = 0;
		for (int j = i; j < n && runs < VALIDATE_RUNS; j++)
			if (same_cell(&v[i], &v[j]))
				sps[runs++] = v[j].sps;
		const struct model_meas *m = &v[i];
		const struct model_params *p = o->zero ? NULL : params_for(mp, np, m->provider);
		int pi = bench_pattern_find(m->pattern, strlen(m->pattern)), kl;
		struct model_case c = {.m = p ? &p->m : NULL,
				       .P = m->P,
				       .count = m->size / o->dtsize,
				       .dtsize = o->dtsize,
				       .pattern = pi,
				       .base_ms = m->base_ms,
				       .seed = o->seed,
				       .S = m->S,
				       .rounds = m->rounds};
		struct model_out r;
		if ((!o->zero && !p) || pi < 0 || model_parse_mode(m->mode, &c.mode, &kl)) {
			fprintf(stderr, PROG ": skipped %s P=%d %s %s: %s\n", m->provider, m->P,
				m->pattern, m->mode,
				!p && !o->zero ? "no parameters for it"
					       : "unknown pattern or mode");
			continue;
		}
		c.k = kl ? kl : (m->P + 1) / 2;
		if (model_run_case(&c, &r)) {
			fprintf(stderr, PROG ": the simulation failed (P=%d %s %s)\n", m->P,
				m->pattern, m->mode);
			goto out;
		}
		if (fabs(r.sps_ideal - m->sps_ideal) > 1e-3 * m->sps_ideal + 2e-3)
			fprintf(stderr,
				PROG
				": P=%d %s %s: the file's ideal %.3f is not this replay's %.3f "
				"(another -s seed?)\n",
				m->P, m->pattern, m->mode, m->sps_ideal, r.sps_ideal);
		double med = median(sps, runs), lo = sps[0], hi = sps[runs - 1];
		char a[48], b[48];
		snprintf(a, sizeof(a), "%.2f [%.2f-%.2f]", med, lo, hi);
		snprintf(b, sizeof(b), "%.3f [%.3f-%.3f]", med / r.sps_model, lo / r.sps_model,
			 hi / r.sps_model);
		printf("%-4d%-12s%-11s%5d%24s%10.2f%20s%10.2f%9.3f\n", m->P, m->pattern, m->mode,
		       runs, a, r.sps_model, b, r.sps_ideal, med / r.sps_ideal);
		if (nratios < (int)(sizeof(ratios) / sizeof(ratios[0]))) {
			ratio_P[nratios] = m->P;
			ratio_prov[nratios] = m->provider;
			ratio_sync[nratios] = c.mode == PCOLL_SYNC;
			ratios[nratios++] = med / r.sps_model;
		}
		cells++;
		if (csv)
			fprintf(csv,
				"validate,%s,%d,%zu,%s,%.3f,%llu,%d,%s,%d,%.3f,%.3f,%.3f,%.3f,%.4f,"
				"%.4f,%.4f,%.3f,%.4f,%.3f\n",
				m->provider, m->P, m->size, m->pattern, m->base_ms,
				(unsigned long long)m->rounds, m->S, m->mode, runs, med, lo, hi,
				r.sps_model, med / r.sps_model, lo / r.sps_model, hi / r.sps_model,
				r.sps_ideal, med / r.sps_ideal, r.round_us);
	}
	/* Per P, sync apart from the partial modes (cells sorted by P), then all. */
	for (int i = 0; i < nratios;) {
		int j = i;
		while (j < nratios && ratio_P[j] == ratio_P[i] &&
		       strcmp(ratio_prov[j], ratio_prov[i]) == 0)
			j++;
		for (int sync = 1; sync >= 0; sync--) {
			double sel[4096], lo = INFINITY, hi = -INFINITY;
			int k = 0;
			for (int q = i; q < j; q++)
				if (ratio_sync[q] == sync) {
					sel[k++] = ratios[q];
					lo = ratios[q] < lo ? ratios[q] : lo;
					hi = ratios[q] > hi ? ratios[q] : hi;
				}
			if (k)
				printf("# %s P=%d %s: %d cells, measured / model median %.3f, "
				       "range %.3f-%.3f\n",
				       ratio_prov[i], ratio_P[i], sync ? "sync" : "partial modes",
				       k, median(sel, k), lo, hi);
		}
		i = j;
	}
	if (cells) {
		double lo = ratios[0], hi = ratios[0];
		for (int i = 1; i < nratios; i++) {
			lo = ratios[i] < lo ? ratios[i] : lo;
			hi = ratios[i] > hi ? ratios[i] : hi;
		}
		printf("# %d cells: measured / model median %.3f, range %.3f-%.3f\n", cells,
		       median(ratios, nratios), lo, hi);
	}
	rc = cells ? 0 : 1;
	if (!cells)
		fprintf(stderr, PROG ": no pcoll imbalance rows to validate against\n");
out:
	if (csv && fclose(csv)) {
		fprintf(stderr, PROG ": writing %s failed: %m\n", o->csv);
		rc = 1;
	}
	free(v);
	return rc;
}

/* --------------------------------------------------------------- plot */

int model_plot(const struct model_opts *o)
{
	char script[PATH_MAX], expr[4 * PATH_MAX];
	const char *m = o->measured ? o->measured : "";
	if (strchr(o->csv, '\'') || strchr(o->plot, '\'') || strchr(m, '\'')) {
		fprintf(stderr, PROG ": file names with a single quote are not supported\n");
		return 1;
	}
	if (bench_find_data_file("plot_model.gp", script, sizeof(script))) {
		fprintf(stderr, PROG ": plot_model.gp not found (next to the executable, in the "
				     "pkgdatadir, in $top_srcdir/tools)\n");
		return 1;
	}
	/* The left panels show the first pattern asked for. */
	char pattern[32];
	snprintf(pattern, sizeof(pattern), "%.*s", (int)strcspn(o->patterns, ","), o->patterns);
	snprintf(expr, sizeof(expr), "csv='%s'; out='%s'; measured='%s'; pattern='%s'", o->csv,
		 o->plot, m, pattern);
	int status = bench_gnuplot(expr, script, PROG);
	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, PROG ": gnuplot %s failed\n", script);
		return 1;
	}
	return 0;
}
