/*
 * model_fit.c -- reading measured latencies, the non-negative weighted
 * least-squares fit of (alpha, G, gamma), and the parameter file
 * (model_fit.h).
 */
#include "model_fit.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER                                                                                     \
	"provider,alpha_us,L_us,o_us,g_us,G_us_per_byte,gamma_us_per_byte,split,points,"           \
	"rms_rel_err,max_rel_err"

static int push(struct model_points *pts, const struct model_point *p)
{
	if (pts->n == pts->cap) {
		int cap = pts->cap ? 2 * pts->cap : 64;
		struct model_point *v = realloc(pts->v, (size_t)cap * sizeof(*v));
		if (!v)
			return -1;
		pts->v = v;
		pts->cap = cap;
	}
	pts->v[pts->n++] = *p;
	return 0;
}

/* Split a CSV line in place into at most max fields. */
static int fields(char *line, char **f, int max)
{
	int n = 0;
	line[strcspn(line, "\r\n")] = '\0';
	for (char *s = line; n < max;) {
		f[n++] = s;
		s = strchr(s, ',');
		if (!s)
			break;
		*s++ = '\0';
	}
	return n;
}

int model_read_allreduce(const char *path, struct model_points *pts, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[512], *fl[16];
	int added = 0, lineno = 0;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		int n = fields(line, fl, 16);
		/* bench,impl,mode,provider,P,size,avg_us,min_us,max_us,iters[,shape] */
		if (n < 10 || strcmp(fl[0], "allreduce") != 0)
			continue;
		if (strcmp(fl[1], "pcoll") != 0 || strcmp(fl[2], "sync") != 0 ||
		    (n > 10 && strcmp(fl[10], "osu") != 0))
			continue;
		struct model_point p = {.P = atoi(fl[4]),
					.size = (size_t)strtoull(fl[5], NULL, 10),
					.us = strtod(fl[6], NULL)};
		if (n > 11) /* the schedule that ran (older files: pcoll's pick) */
			p.algo = strcmp(fl[11], "recursive-doubling") == 0	   ? MODEL_RD
				 : strcmp(fl[11], "reduce-scatter-allgather") == 0 ? MODEL_RSAG
				 : strcmp(fl[11], "ring") == 0			   ? MODEL_RING
										   : 0;
		snprintf(p.provider, sizeof(p.provider), "%s", fl[3]);
		if (p.P < 1 || p.size == 0 || !(p.us > 0)) {
			snprintf(err, errlen, "%s:%d: bad allreduce row", path, lineno);
			fclose(f);
			return -1;
		}
		if (push(pts, &p)) {
			snprintf(err, errlen, "out of memory");
			fclose(f);
			return -1;
		}
		added++;
	}
	fclose(f);
	return added;
}

static int cmp_point(const void *a, const void *b)
{
	const struct model_point *x = a, *y = b;
	int c = strcmp(x->provider, y->provider);
	if (c)
		return c;
	if (x->P != y->P)
		return x->P < y->P ? -1 : 1;
	if (x->algo != y->algo)
		return x->algo < y->algo ? -1 : 1;
	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return (x->us > y->us) - (x->us < y->us);
}

void model_median(struct model_points *pts, int best)
{
	int out = 0;
	qsort(pts->v, (size_t)pts->n, sizeof(*pts->v), cmp_point);
	for (int i = 0; i < pts->n;) {
		int j = i;
		while (j < pts->n && strcmp(pts->v[j].provider, pts->v[i].provider) == 0 &&
		       pts->v[j].P == pts->v[i].P && pts->v[j].algo == pts->v[i].algo &&
		       pts->v[j].size == pts->v[i].size)
			j++;
		struct model_point m = pts->v[i];
		int k = j - i;
		if (best) /* sorted by latency within the group */
			m.us = pts->v[i].us;
		else
			m.us = k % 2 ? pts->v[i + k / 2].us
				     : 0.5 * (pts->v[i + k / 2 - 1].us + pts->v[i + k / 2].us);
		pts->v[out++] = m;
		i = j;
	}
	pts->n = out;
}

int model_provider_match(const char *provider, const char *want)
{
	size_t l = strlen(want);
	return strcmp(provider, want) == 0 ||
	       (strncmp(provider, want, l) == 0 && provider[l] == ';');
}

/* Least squares min |A x - b| for the columns in mask, by modified
 * Gram-Schmidt on unit-scaled columns. x gets 0 outside mask. */
static int lsq(const double *A, const double *b, int n, unsigned mask, double x[3])
{
	int cols[3], k = 0;
	double *Q = malloc(sizeof(double) * (size_t)n * 3), R[3][3] = {{0}}, scale[3], qb[3];
	if (!Q)
		return -1;
	for (int j = 0; j < 3; j++)
		if (mask & (1u << j))
			cols[k++] = j;
	for (int c = 0; c < k; c++) {
		double s = 0.0;
		for (int i = 0; i < n; i++)
			s += A[i * 3 + cols[c]] * A[i * 3 + cols[c]];
		scale[c] = s > 0 ? sqrt(s) : 1.0;
		for (int i = 0; i < n; i++)
			Q[i * 3 + c] = A[i * 3 + cols[c]] / scale[c];
	}
	for (int c = 0; c < k; c++) {
		for (int d = 0; d < c; d++) {
			double r = 0.0;
			for (int i = 0; i < n; i++)
				r += Q[i * 3 + d] * Q[i * 3 + c];
			R[d][c] = r;
			for (int i = 0; i < n; i++)
				Q[i * 3 + c] -= r * Q[i * 3 + d];
		}
		double nr = 0.0;
		for (int i = 0; i < n; i++)
			nr += Q[i * 3 + c] * Q[i * 3 + c];
		nr = sqrt(nr);
		if (nr < 1e-12) { /* dependent column */
			free(Q);
			return -1;
		}
		R[c][c] = nr;
		for (int i = 0; i < n; i++)
			Q[i * 3 + c] /= nr;
	}
	for (int c = 0; c < k; c++) {
		qb[c] = 0.0;
		for (int i = 0; i < n; i++)
			qb[c] += Q[i * 3 + c] * b[i];
	}
	double y[3];
	for (int c = k - 1; c >= 0; c--) {
		y[c] = qb[c];
		for (int d = c + 1; d < k; d++)
			y[c] -= R[c][d] * y[d];
		y[c] /= R[c][c];
	}
	x[0] = x[1] = x[2] = 0.0;
	for (int c = 0; c < k; c++)
		x[cols[c]] = y[c] / scale[c];
	free(Q);
	return 0;
}

int model_fit(const struct model_points *pts, const char *provider, size_t dtsize, double x[3])
{
	int n = 0;
	double *A = malloc(sizeof(double) * 3 * (size_t)(pts->n + 1));
	double *b = malloc(sizeof(double) * (size_t)(pts->n + 1));
	if (!A || !b) {
		free(A);
		free(b);
		return -1;
	}
	/* Rows weighted by 1 / measured: the fit minimizes relative errors, so
	 * 4 B and 16 MiB count alike. */
	for (int i = 0; i < pts->n; i++) {
		const struct model_point *p = &pts->v[i];
		size_t count = p->size / dtsize;
		if (!model_provider_match(p->provider, provider) || count == 0 || p->P < 2)
			continue;
		model_round_coef(p->P, count, dtsize, p->algo, &A[n * 3]);
		for (int j = 0; j < 3; j++)
			A[n * 3 + j] /= p->us;
		b[n++] = 1.0;
	}
	int rc = -1;
	double best = INFINITY;
	/* Non-negative: the best unconstrained fit over every subset of the
	 * parameters whose values are all >= 0 (2^3 - 1 subsets). */
	for (unsigned mask = 1; n >= 3 && mask < 8; mask++) {
		double t[3], r = 0.0;
		if (lsq(A, b, n, mask, t) || t[0] < 0 || t[1] < 0 || t[2] < 0)
			continue;
		for (int i = 0; i < n; i++) {
			double e =
			    A[i * 3] * t[0] + A[i * 3 + 1] * t[1] + A[i * 3 + 2] * t[2] - b[i];
			r += e * e;
		}
		if (r < best) {
			best = r;
			memcpy(x, t, sizeof(t));
			rc = 0;
		}
	}
	free(A);
	free(b);
	return rc;
}

void model_params_of(const struct model_points *pts, const char *provider, size_t dtsize,
		     const double x[3], double split, struct model_params *mp)
{
	memset(mp, 0, sizeof(*mp));
	snprintf(mp->provider, sizeof(mp->provider), "%s", provider);
	mp->alpha = x[0];
	mp->split = split;
	mp->m.o = split * x[0] / 2.0;
	mp->m.g = mp->m.o;
	mp->m.L = x[0] - 2.0 * mp->m.o;
	mp->m.G = x[1];
	mp->m.gamma = x[2];
	double ss = 0.0;
	for (int i = 0; i < pts->n; i++) {
		const struct model_point *p = &pts->v[i];
		size_t count = p->size / dtsize;
		if (!model_provider_match(p->provider, provider) || count == 0 || p->P < 2)
			continue;
		double e = (model_round_algo(&mp->m, p->P, count, dtsize, p->algo) - p->us) / p->us;
		ss += e * e;
		mp->points++;
		if (fabs(e) > mp->max_rel)
			mp->max_rel = fabs(e);
	}
	mp->rms_rel = mp->points ? sqrt(ss / mp->points) : 0.0;
}

int model_write_params(const char *path, const struct model_params *mp, int n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%s\n", HEADER);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.3f,%d,%.4f,%.4f\n", mp[i].provider,
			mp[i].alpha, mp[i].m.L, mp[i].m.o, mp[i].m.g, mp[i].m.G, mp[i].m.gamma,
			mp[i].split, mp[i].points, mp[i].rms_rel, mp[i].max_rel);
	return fclose(f) ? -1 : 0;
}

int model_read_params(const char *path, struct model_params *mp, int cap, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[512], *fl[16];
	int n = 0, lineno = 0;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (lineno == 1 && strncmp(line, "provider,", 9) == 0)
			continue;
		if (line[0] == '\n' || line[0] == '#')
			continue;
		if (fields(line, fl, 16) < 11 || n == cap) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno,
				 n == cap ? "too many rows" : "expected " HEADER);
			fclose(f);
			return -1;
		}
		struct model_params *p = &mp[n++];
		memset(p, 0, sizeof(*p));
		snprintf(p->provider, sizeof(p->provider), "%s", fl[0]);
		p->alpha = strtod(fl[1], NULL);
		p->m.L = strtod(fl[2], NULL);
		p->m.o = strtod(fl[3], NULL);
		p->m.g = strtod(fl[4], NULL);
		p->m.G = strtod(fl[5], NULL);
		p->m.gamma = strtod(fl[6], NULL);
		p->split = strtod(fl[7], NULL);
		p->points = atoi(fl[8]);
		p->rms_rel = strtod(fl[9], NULL);
		p->max_rel = strtod(fl[10], NULL);
		if (p->m.L < 0 || p->m.o < 0 || p->m.g < 0 || p->m.G < 0 || p->m.gamma < 0) {
			snprintf(err, errlen, "%s:%d: negative parameter", path, lineno);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return n;
}
