/*
 * sgd_workloads.c -- the kernels the workloads share (dense layers, softmax
 * cross-entropy), the hyperplane workload, and wl_create() choosing one.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sgd.h"
/* Global sample indices of this process's shard: rank, rank + P, rank + 2P, ... */
int shard_size(int n_train, int rank, int nprocs)
{
	return n_train > rank ? (n_train - rank + nprocs - 1) / nprocs : 0;
}

/* Z[b][:] = bias + sum_i X[b][i] W[i][:] for b < B; W is nin x nout, row per input. */
void dense_fwd(const float *X, int B, int nin, const float *W, const float *bias, int nout,
	       float *Z)
{
	for (int b = 0; b < B; b++)
		memcpy(Z + (size_t)b * nout, bias, (size_t)nout * sizeof(float));
	for (int i = 0; i < nin; i++) {
		const float *w = W + (size_t)i * nout;
		for (int b = 0; b < B; b++) {
			float xi = X[(size_t)b * nin + i];
			if (xi == 0.0f)
				continue;
			float *z = Z + (size_t)b * nout;
			for (int o = 0; o < nout; o++)
				z[o] += xi * w[o];
		}
	}
}

/* dW += X^T dZ, db += column sums of dZ, and (if dX) dX = dZ W^T using WT (nout x nin). */
void dense_bwd(const float *X, int B, int nin, const float *WT, int nout, const float *dZ,
	       float *dW, float *db, float *dX)
{
	for (int b = 0; b < B; b++) {
		const float *dz = dZ + (size_t)b * nout;
		for (int o = 0; o < nout; o++)
			db[o] += dz[o];
	}
	for (int i = 0; i < nin; i++) {
		float *dw = dW + (size_t)i * nout;
		for (int b = 0; b < B; b++) {
			float xi = X[(size_t)b * nin + i];
			if (xi == 0.0f)
				continue;
			const float *dz = dZ + (size_t)b * nout;
			for (int o = 0; o < nout; o++)
				dw[o] += xi * dz[o];
		}
	}
	if (!dX)
		return;
	memset(dX, 0, (size_t)B * nin * sizeof(float));
	for (int o = 0; o < nout; o++) {
		const float *wt = WT + (size_t)o * nin;
		for (int b = 0; b < B; b++) {
			float g = dZ[(size_t)b * nout + o];
			if (g == 0.0f)
				continue;
			float *dx = dX + (size_t)b * nin;
			for (int i = 0; i < nin; i++)
				dx[i] += g * wt[i];
		}
	}
}

void transpose(const float *A, int rows, int cols, float *AT)
{
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++)
			AT[(size_t)c * rows + r] = A[(size_t)r * cols + c];
}

/* Softmax cross-entropy of B rows of logits; writes dL/dlogits (scaled by 1/scale) into dl if
 * not NULL; returns the summed loss and adds the number of correct argmaxes to *correct. */
double softmax_xent(const float *logits, int B, int nc, const int *y, float *dl, double scale,
		    long *correct)
{
	double loss = 0.0;
	for (int b = 0; b < B; b++) {
		const float *l = logits + (size_t)b * nc;
		int arg = 0;
		for (int c = 1; c < nc; c++)
			if (l[c] > l[arg])
				arg = c;
		double m = l[arg], s = 0.0;
		for (int c = 0; c < nc; c++)
			s += exp((double)l[c] - m);
		loss += log(s) + m - (double)l[y[b]];
		if (correct && arg == y[b])
			(*correct)++;
		if (dl)
			for (int c = 0; c < nc; c++)
				dl[(size_t)b * nc + c] =
				    (float)((exp((double)l[c] - m) / s - (c == y[b])) / scale);
	}
	return loss;
}

void init_normal(float *p, size_t n, double sd, bench_rng_t *r)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (float)(sd * bench_rng_normal(r));
}

/* ---- hyperplane: y = w*.x + b* + noise, MSE */

typedef struct hyper {
	wl_t base;
	int d, n_shard, n_eval;
	float *xs, *ys, *xe, *ye;
} hyper_t;

static void hyper_sample(uint64_t seed, uint64_t idx, int d, const float *wstar, float bstar,
			 double noise, float *x, float *y)
{
	bench_rng_t r = bench_rng_key(seed, TAG_SAMPLE, idx, 0);
	double dot = bstar;
	for (int j = 0; j < d; j++) {
		x[j] = (float)bench_rng_normal(&r);
		dot += (double)wstar[j] * x[j];
	}
	*y = (float)(dot + noise * bench_rng_normal(&r));
}

static void hyper_init_params(wl_t *w, float *params)
{
	memset(params, 0, w->nparams * sizeof(float));
}

static double hyper_grad(wl_t *w, const float *params, uint64_t step, float *grad)
{
	hyper_t *h = (hyper_t *)w;
	int d = h->d;
	memset(grad, 0, w->nparams * sizeof(float));
	bench_rng_t r = bench_rng_key(w->seed, TAG_BATCH, (uint64_t)w->rank, step);
	double loss = 0.0;
	float inv = 2.0f / (float)w->batch;
	for (int b = 0; b < w->batch; b++) {
		int i = (int)bench_rng_below(&r, (uint64_t)h->n_shard);
		const float *x = h->xs + (size_t)i * d;
		float pred = params[d];
		for (int j = 0; j < d; j++)
			pred += params[j] * x[j];
		float err = pred - h->ys[i];
		loss += (double)err * err;
		float g = inv * err;
		for (int j = 0; j < d; j++)
			grad[j] += g * x[j];
		grad[d] += g;
	}
	return loss / w->batch;
}

static void hyper_eval(wl_t *w, const float *params, double *loss, double *acc)
{
	hyper_t *h = (hyper_t *)w;
	int d = h->d;
	double s = 0.0;
	for (int i = 0; i < h->n_eval; i++) {
		const float *x = h->xe + (size_t)i * d;
		float pred = params[d];
		for (int j = 0; j < d; j++)
			pred += params[j] * x[j];
		double err = (double)pred - h->ye[i];
		s += err * err;
	}
	*loss = s / h->n_eval;
	*acc = NAN;
}

static void hyper_destroy(wl_t *w)
{
	hyper_t *h = (hyper_t *)w;
	free(h->xs);
	free(h->ys);
	free(h->xe);
	free(h->ye);
	free(h);
}

wl_t *hyper_create(uint64_t seed, int rank, int nprocs, int quick)
{
	hyper_t *h = xcalloc(1, sizeof(*h));
	int d = quick ? 16 : 512;
	int n_train = quick ? 1024 : 16384;
	double noise = 0.1;
	h->d = d;
	h->n_eval = quick ? 128 : 1024;
	h->base.nparams = (size_t)d + 1;
	h->base.has_accuracy = 0;
	float *wstar = xcalloc((size_t)d, sizeof(float));
	bench_rng_t r = bench_rng_key(seed, TAG_DATA, 0, 0);
	for (int j = 0; j < d; j++)
		wstar[j] = (float)(bench_rng_normal(&r) / sqrt((double)d));
	float bstar = (float)bench_rng_normal(&r);
	h->n_shard = shard_size(n_train, rank, nprocs);
	if (h->n_shard < 1)
		die("hyperplane: no training data for this rank (%d processes)", nprocs);
	h->xs = xcalloc((size_t)h->n_shard * d, sizeof(float));
	h->ys = xcalloc((size_t)h->n_shard, sizeof(float));
	for (int i = 0; i < h->n_shard; i++)
		hyper_sample(seed, (uint64_t)rank + (uint64_t)i * nprocs, d, wstar, bstar, noise,
			     h->xs + (size_t)i * d, &h->ys[i]);
	h->xe = xcalloc((size_t)h->n_eval * d, sizeof(float));
	h->ye = xcalloc((size_t)h->n_eval, sizeof(float));
	for (int i = 0; i < h->n_eval; i++)
		hyper_sample(seed, (uint64_t)n_train + (uint64_t)i, d, wstar, bstar, noise,
			     h->xe + (size_t)i * d, &h->ye[i]);
	free(wstar);
	snprintf(h->base.desc, sizeof(h->base.desc),
		 "linear regression on a random hyperplane, d=%d, noise %.2g, %d training samples, "
		 "%d held out",
		 d, noise, n_train, h->n_eval);
	h->base.name = "hyperplane";
	h->base.init_params = hyper_init_params;
	h->base.grad = hyper_grad;
	h->base.eval = hyper_eval;
	h->base.destroy = hyper_destroy;
	return &h->base;
}
wl_t *wl_create(const opts_t *o, int rank, int nprocs)
{
	wl_t *w;
	switch (o->workload) {
	case WL_HYPERPLANE:
		w = hyper_create(o->seed, rank, nprocs, o->quick);
		break;
	case WL_SEQ:
		w = seq_create(o->seed, rank, nprocs, o->quick);
		break;
	case WL_MLP:
	default:
		w = mlp_create(o->seed, rank, nprocs, o->batch, o->quick);
		break;
	}
	w->seed = o->seed;
	w->rank = rank;
	w->nprocs = nprocs;
	w->batch = o->batch;
	return w;
}
