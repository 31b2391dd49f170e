/*
 * sgd_seq.c -- the seq workload: variable-length sequences with long-tailed
 * lengths, so the compute per step is imbalanced by the data itself.
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
/* ---- seq: u_t = tanh(A^T emb[x_t] + a), m = mean_t u_t, logits = Wc^T m + bc */

typedef struct seqset {
	int n;
	int *len, *lab;
	size_t *off;
	int *tok;
} seqset_t;

typedef struct seqwl {
	wl_t base;
	int V, E, H, C, maxlen, n_sig;
	size_t oEmb, oA, oa, oW, ob;
	seqset_t train, test;
	float *U, *mbuf, *lg, *dl, *dm, *dpre, *AT;
	long tokens; /* tokens of the last minibatch */
} seqwl_t;

/* Lengths: lognormal, median 24, sigma 1.3, clipped to [2, maxlen]; tokens: with p 0.2 a
 * signal token (70% of the true class, 30% of a random class), else background, log-uniform. */
static void seq_gen(seqwl_t *s, uint64_t seed, uint64_t idx, int *len, int *lab, int *tok,
		    int count_only)
{
	bench_rng_t r = bench_rng_key(seed, TAG_SAMPLE, idx, 0);
	double l = exp(log(24.0) + 1.3 * bench_rng_normal(&r));
	int L = l < 2.0 ? 2 : (l > (double)s->maxlen ? s->maxlen : (int)lround(l));
	int c = (int)bench_rng_below(&r, (uint64_t)s->C);
	*len = L;
	*lab = c;
	if (count_only)
		return;
	int nsig = s->C * s->n_sig, nbg = s->V - nsig;
	for (int t = 0; t < L; t++) {
		if (bench_rng_uniform(&r) < 0.2) {
			int cc = bench_rng_uniform(&r) < 0.7
				     ? c
				     : (int)bench_rng_below(&r, (uint64_t)s->C);
			tok[t] = cc * s->n_sig + (int)bench_rng_below(&r, (uint64_t)s->n_sig);
		} else {
			int b = (int)(exp(bench_rng_uniform(&r) * log((double)nbg + 1.0)) - 1.0);
			tok[t] = nsig + (b < nbg ? (b < 0 ? 0 : b) : nbg - 1);
		}
	}
}

static void seqset_make(seqwl_t *s, seqset_t *set, uint64_t seed, int n, uint64_t first,
			uint64_t stride)
{
	set->n = n;
	set->len = xcalloc((size_t)n, sizeof(int));
	set->lab = xcalloc((size_t)n, sizeof(int));
	set->off = xcalloc((size_t)n + 1, sizeof(size_t));
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		seq_gen(s, seed, first + (uint64_t)i * stride, &set->len[i], &set->lab[i], NULL, 1);
		set->off[i] = total;
		total += (size_t)set->len[i];
	}
	set->off[n] = total;
	set->tok = xcalloc(total, sizeof(int));
	for (int i = 0; i < n; i++)
		seq_gen(s, seed, first + (uint64_t)i * stride, &set->len[i], &set->lab[i],
			set->tok + set->off[i], 0);
}

static void seqset_free(seqset_t *set)
{
	free(set->len);
	free(set->lab);
	free(set->off);
	free(set->tok);
}

static void seq_init_params(wl_t *w, float *p)
{
	seqwl_t *s = (seqwl_t *)w;
	bench_rng_t r = bench_rng_key(w->seed, TAG_INIT, 2, 0);
	memset(p, 0, w->nparams * sizeof(float));
	init_normal(p + s->oEmb, (size_t)s->V * s->E, 1.0, &r);
	init_normal(p + s->oA, (size_t)s->E * s->H, sqrt(1.0 / s->E), &r);
	init_normal(p + s->oW, (size_t)s->H * s->C, sqrt(1.0 / s->H), &r);
}

/* Forward one sequence: per-token activations into s->U (L x H), pooled into s->mbuf, logits
 * into s->lg. */
static void seq_forward(seqwl_t *s, const float *p, const int *tok, int L)
{
	int E = s->E, H = s->H;
	const float *A = p + s->oA, *a = p + s->oa, *W = p + s->oW, *bc = p + s->ob;
	memset(s->mbuf, 0, (size_t)H * sizeof(float));
	for (int t = 0; t < L; t++) {
		const float *e = p + s->oEmb + (size_t)tok[t] * E;
		float *u = s->U + (size_t)t * H;
		memcpy(u, a, (size_t)H * sizeof(float));
		for (int j = 0; j < E; j++) {
			const float *arow = A + (size_t)j * H;
			float ej = e[j];
			for (int h = 0; h < H; h++)
				u[h] += ej * arow[h];
		}
		for (int h = 0; h < H; h++) {
			u[h] = tanhf(u[h]);
			s->mbuf[h] += u[h];
		}
	}
	float invL = 1.0f / (float)L;
	for (int h = 0; h < H; h++)
		s->mbuf[h] *= invL;
	memcpy(s->lg, bc, (size_t)s->C * sizeof(float));
	for (int h = 0; h < H; h++)
		for (int c = 0; c < s->C; c++)
			s->lg[c] += s->mbuf[h] * W[(size_t)h * s->C + c];
}

static double seq_grad(wl_t *w, const float *p, uint64_t step, float *g)
{
	seqwl_t *s = (seqwl_t *)w;
	int E = s->E, H = s->H, C = s->C, B = w->batch;
	const float *W = p + s->oW;
	float *gEmb = g + s->oEmb, *gA = g + s->oA, *ga = g + s->oa, *gW = g + s->oW;
	float *gb = g + s->ob;
	memset(g, 0, w->nparams * sizeof(float));
	transpose(p + s->oA, E, H, s->AT);
	bench_rng_t r = bench_rng_key(w->seed, TAG_BATCH, (uint64_t)w->rank, step);
	double loss = 0.0;
	s->tokens = 0;
	for (int b = 0; b < B; b++) {
		int i = (int)bench_rng_below(&r, (uint64_t)s->train.n);
		const int *tok = s->train.tok + s->train.off[i];
		int L = s->train.len[i], y = s->train.lab[i];
		s->tokens += L;
		seq_forward(s, p, tok, L);
		loss += softmax_xent(s->lg, 1, C, &y, s->dl, B, NULL);
		for (int h = 0; h < H; h++) {
			float acc = 0.0f;
			for (int c = 0; c < C; c++) {
				gW[(size_t)h * C + c] += s->mbuf[h] * s->dl[c];
				acc += W[(size_t)h * C + c] * s->dl[c];
			}
			s->dm[h] = acc / (float)L;
		}
		for (int c = 0; c < C; c++)
			gb[c] += s->dl[c];
		for (int t = 0; t < L; t++) {
			const float *u = s->U + (size_t)t * H;
			for (int h = 0; h < H; h++)
				s->dpre[h] = s->dm[h] * (1.0f - u[h] * u[h]);
			const float *e = p + s->oEmb + (size_t)tok[t] * E;
			for (int j = 0; j < E; j++) {
				float *garow = gA + (size_t)j * H;
				float ej = e[j];
				for (int h = 0; h < H; h++)
					garow[h] += ej * s->dpre[h];
			}
			for (int h = 0; h < H; h++)
				ga[h] += s->dpre[h];
			float *ge = gEmb + (size_t)tok[t] * E;
			for (int h = 0; h < H; h++) {
				const float *atrow = s->AT + (size_t)h * E;
				float dh = s->dpre[h];
				for (int j = 0; j < E; j++)
					ge[j] += dh * atrow[j];
			}
		}
	}
	return loss / B;
}

static void seq_eval(wl_t *w, const float *p, double *loss, double *acc)
{
	seqwl_t *s = (seqwl_t *)w;
	double l = 0.0;
	long correct = 0;
	for (int i = 0; i < s->test.n; i++) {
		seq_forward(s, p, s->test.tok + s->test.off[i], s->test.len[i]);
		l += softmax_xent(s->lg, 1, s->C, &s->test.lab[i], NULL, 1.0, &correct);
	}
	*loss = l / s->test.n;
	*acc = (double)correct / s->test.n;
}

static void seq_destroy(wl_t *w)
{
	seqwl_t *s = (seqwl_t *)w;
	seqset_free(&s->train);
	seqset_free(&s->test);
	free(s->U);
	free(s->mbuf);
	free(s->lg);
	free(s->dl);
	free(s->dm);
	free(s->dpre);
	free(s->AT);
	free(s);
}

wl_t *seq_create(uint64_t seed, int rank, int nprocs, int quick)
{
	seqwl_t *s = xcalloc(1, sizeof(*s));
	s->V = quick ? 128 : 2048;
	s->E = quick ? 8 : 32;
	s->H = quick ? 8 : 96;
	s->C = 4;
	s->n_sig = quick ? 8 : 16;
	s->maxlen = quick ? 128 : 2048;
	int n_train = quick ? 1024 : 16384;
	int n_eval = quick ? 64 : 256;
	size_t off = 0;
	s->oEmb = off, off += (size_t)s->V * s->E;
	s->oA = off, off += (size_t)s->E * s->H;
	s->oa = off, off += (size_t)s->H;
	s->oW = off, off += (size_t)s->H * s->C;
	s->ob = off, off += (size_t)s->C;
	s->base.nparams = off;
	s->base.has_accuracy = 1;
	int n_shard = shard_size(n_train, rank, nprocs);
	if (n_shard < 1)
		die("seq: no training data for this rank (%d processes)", nprocs);
	seqset_make(s, &s->train, seed, n_shard, (uint64_t)rank, (uint64_t)nprocs);
	seqset_make(s, &s->test, seed, n_eval, (uint64_t)n_train, 1);
	s->U = xcalloc((size_t)s->maxlen * s->H, sizeof(float));
	s->mbuf = xcalloc((size_t)s->H, sizeof(float));
	s->lg = xcalloc((size_t)s->C, sizeof(float));
	s->dl = xcalloc((size_t)s->C, sizeof(float));
	s->dm = xcalloc((size_t)s->H, sizeof(float));
	s->dpre = xcalloc((size_t)s->H, sizeof(float));
	s->AT = xcalloc((size_t)s->E * s->H, sizeof(float));
	snprintf(s->base.desc, sizeof(s->base.desc),
		 "per-token tanh layer + mean pooling, V=%d E=%d H=%d, %d classes, lognormal "
		 "lengths (median 24, max %d), %d training sequences, %d held out",
		 s->V, s->E, s->H, s->C, s->maxlen, n_train, n_eval);
	s->base.name = "seq";
	s->base.init_params = seq_init_params;
	s->base.grad = seq_grad;
	s->base.eval = seq_eval;
	s->base.destroy = seq_destroy;
	return &s->base;
}
