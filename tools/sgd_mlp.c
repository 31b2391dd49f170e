/*
 * sgd_mlp.c -- the mlp workload: a 2-hidden-layer MLP on a Gaussian-mixture
 * classification task (the default workload).
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
/* ---- mlp: in -> h1 -> h2 -> nc, ReLU, softmax cross-entropy, Gaussian-mixture classes */

typedef struct mlp {
	wl_t base;
	int in, h1, h2, nc;
	size_t oW1, ob1, oW2, ob2, oW3, ob3;
	int n_shard, n_eval;
	float *xs, *xe;
	int *ys, *ye;
	/* scratch for up to max(batch, EVAL_CHUNK) rows */
	float *xb, *a1, *a2, *lg, *dl, *d2, *d1, *W2T, *W3T;
	int *yb;
} mlp_t;

static void mlp_sample(uint64_t seed, uint64_t idx, int in, int nc, int k, const float *centers,
		       double sigma, float *x, int *y)
{
	bench_rng_t r = bench_rng_key(seed, TAG_SAMPLE, idx, 0);
	int c = (int)bench_rng_below(&r, (uint64_t)nc);
	int j = (int)bench_rng_below(&r, (uint64_t)k);
	const float *mu = centers + ((size_t)c * k + j) * in;
	for (int i = 0; i < in; i++)
		x[i] = (float)(mu[i] + sigma * bench_rng_normal(&r));
	*y = c;
}

static void mlp_init_params(wl_t *w, float *p)
{
	mlp_t *m = (mlp_t *)w;
	bench_rng_t r = bench_rng_key(w->seed, TAG_INIT, 0, 0);
	memset(p, 0, w->nparams * sizeof(float));
	init_normal(p + m->oW1, (size_t)m->in * m->h1, sqrt(2.0 / m->in), &r);
	init_normal(p + m->oW2, (size_t)m->h1 * m->h2, sqrt(2.0 / m->h1), &r);
	init_normal(p + m->oW3, (size_t)m->h2 * m->nc, sqrt(1.0 / m->h2), &r);
}

/* Forward B rows of m->xb into m->a1, m->a2 (after ReLU) and m->lg. */
static void mlp_forward(mlp_t *m, const float *p, int B)
{
	dense_fwd(m->xb, B, m->in, p + m->oW1, p + m->ob1, m->h1, m->a1);
	for (size_t i = 0; i < (size_t)B * m->h1; i++)
		m->a1[i] = m->a1[i] > 0.0f ? m->a1[i] : 0.0f;
	dense_fwd(m->a1, B, m->h1, p + m->oW2, p + m->ob2, m->h2, m->a2);
	for (size_t i = 0; i < (size_t)B * m->h2; i++)
		m->a2[i] = m->a2[i] > 0.0f ? m->a2[i] : 0.0f;
	dense_fwd(m->a2, B, m->h2, p + m->oW3, p + m->ob3, m->nc, m->lg);
}

static double mlp_grad(wl_t *w, const float *p, uint64_t step, float *g)
{
	mlp_t *m = (mlp_t *)w;
	int B = w->batch;
	bench_rng_t r = bench_rng_key(w->seed, TAG_BATCH, (uint64_t)w->rank, step);
	for (int b = 0; b < B; b++) {
		int i = (int)bench_rng_below(&r, (uint64_t)m->n_shard);
		memcpy(m->xb + (size_t)b * m->in, m->xs + (size_t)i * m->in,
		       (size_t)m->in * sizeof(float));
		m->yb[b] = m->ys[i];
	}
	mlp_forward(m, p, B);
	double loss = softmax_xent(m->lg, B, m->nc, m->yb, m->dl, B, NULL);
	memset(g, 0, w->nparams * sizeof(float));
	transpose(p + m->oW3, m->h2, m->nc, m->W3T);
	transpose(p + m->oW2, m->h1, m->h2, m->W2T);
	dense_bwd(m->a2, B, m->h2, m->W3T, m->nc, m->dl, g + m->oW3, g + m->ob3, m->d2);
	for (size_t i = 0; i < (size_t)B * m->h2; i++)
		if (m->a2[i] <= 0.0f)
			m->d2[i] = 0.0f;
	dense_bwd(m->a1, B, m->h1, m->W2T, m->h2, m->d2, g + m->oW2, g + m->ob2, m->d1);
	for (size_t i = 0; i < (size_t)B * m->h1; i++)
		if (m->a1[i] <= 0.0f)
			m->d1[i] = 0.0f;
	dense_bwd(m->xb, B, m->in, NULL, m->h1, m->d1, g + m->oW1, g + m->ob1, NULL);
	return loss / B;
}

static void mlp_eval(wl_t *w, const float *p, double *loss, double *acc)
{
	mlp_t *m = (mlp_t *)w;
	double s = 0.0;
	long correct = 0;
	for (int i0 = 0; i0 < m->n_eval; i0 += EVAL_CHUNK) {
		int B = m->n_eval - i0 < EVAL_CHUNK ? m->n_eval - i0 : EVAL_CHUNK;
		memcpy(m->xb, m->xe + (size_t)i0 * m->in, (size_t)B * m->in * sizeof(float));
		mlp_forward(m, p, B);
		s += softmax_xent(m->lg, B, m->nc, m->ye + i0, NULL, 1.0, &correct);
	}
	*loss = s / m->n_eval;
	*acc = (double)correct / m->n_eval;
}

static void mlp_destroy(wl_t *w)
{
	mlp_t *m = (mlp_t *)w;
	free(m->xs);
	free(m->xe);
	free(m->ys);
	free(m->ye);
	free(m->xb);
	free(m->a1);
	free(m->a2);
	free(m->lg);
	free(m->dl);
	free(m->d2);
	free(m->d1);
	free(m->W2T);
	free(m->W3T);
	free(m->yb);
	free(m);
}

wl_t *mlp_create(uint64_t seed, int rank, int nprocs, int batch, int quick)
{
	mlp_t *m = xcalloc(1, sizeof(*m));
	m->in = quick ? 16 : 64;
	m->h1 = quick ? 24 : 384;
	m->h2 = quick ? 24 : 576;
	m->nc = quick ? 4 : 10;
	int k = 4; /* clusters per class */
	int n_train = quick ? 2048 : 32768;
	m->n_eval = quick ? 256 : 1024;
	double spread = quick ? 1.0 : 0.5, sigma = 1.0;
	size_t off = 0;
	m->oW1 = off, off += (size_t)m->in * m->h1;
	m->ob1 = off, off += (size_t)m->h1;
	m->oW2 = off, off += (size_t)m->h1 * m->h2;
	m->ob2 = off, off += (size_t)m->h2;
	m->oW3 = off, off += (size_t)m->h2 * m->nc;
	m->ob3 = off, off += (size_t)m->nc;
	m->base.nparams = off;
	m->base.has_accuracy = 1;

	float *centers = xcalloc((size_t)m->nc * k * m->in, sizeof(float));
	bench_rng_t r = bench_rng_key(seed, TAG_DATA, 1, 0);
	init_normal(centers, (size_t)m->nc * k * m->in, spread, &r);
	m->n_shard = shard_size(n_train, rank, nprocs);
	if (m->n_shard < 1)
		die("mlp: no training data for this rank (%d processes)", nprocs);
	m->xs = xcalloc((size_t)m->n_shard * m->in, sizeof(float));
	m->ys = xcalloc((size_t)m->n_shard, sizeof(int));
	for (int i = 0; i < m->n_shard; i++)
		mlp_sample(seed, (uint64_t)rank + (uint64_t)i * nprocs, m->in, m->nc, k, centers,
			   sigma, m->xs + (size_t)i * m->in, &m->ys[i]);
	m->xe = xcalloc((size_t)m->n_eval * m->in, sizeof(float));
	m->ye = xcalloc((size_t)m->n_eval, sizeof(int));
	for (int i = 0; i < m->n_eval; i++)
		mlp_sample(seed, (uint64_t)n_train + (uint64_t)i, m->in, m->nc, k, centers, sigma,
			   m->xe + (size_t)i * m->in, &m->ye[i]);
	free(centers);

	int rows = batch > EVAL_CHUNK ? batch : EVAL_CHUNK;
	m->xb = xcalloc((size_t)rows * m->in, sizeof(float));
	m->a1 = xcalloc((size_t)rows * m->h1, sizeof(float));
	m->a2 = xcalloc((size_t)rows * m->h2, sizeof(float));
	m->lg = xcalloc((size_t)rows * m->nc, sizeof(float));
	m->dl = xcalloc((size_t)rows * m->nc, sizeof(float));
	m->d2 = xcalloc((size_t)rows * m->h2, sizeof(float));
	m->d1 = xcalloc((size_t)rows * m->h1, sizeof(float));
	m->W2T = xcalloc((size_t)m->h1 * m->h2, sizeof(float));
	m->W3T = xcalloc((size_t)m->h2 * m->nc, sizeof(float));
	m->yb = xcalloc((size_t)rows, sizeof(int));
	snprintf(m->base.desc, sizeof(m->base.desc),
		 "MLP %d-%d-%d-%d (ReLU, softmax), %d-class Gaussian mixture (%d clusters/class), "
		 "%d training samples, %d held out",
		 m->in, m->h1, m->h2, m->nc, m->nc, k, n_train, m->n_eval);
	m->base.name = "mlp";
	m->base.init_params = mlp_init_params;
	m->base.grad = mlp_grad;
	m->base.eval = mlp_eval;
	m->base.destroy = mlp_destroy;
	return &m->base;
}
