/*
 * model_cost.c -- LogGP costs of a round and of its activation
 * (model_cost.h): the message sizes of lib/sched_rd.c and lib/sched_rsag.c
 * and the tree of lib/activation.c, restated.
 */
#include "model_cost.h"

#include <math.h>

#include "bench_common.h"

static void fold_geometry(int P, int *pof2, int *rem)
{
	int p = 1;
	while (p * 2 <= P)
		p *= 2;
	*pof2 = p;
	*rem = P - p;
}

static int log2i(int pof2)
{
	int L = 0;
	while ((1 << L) < pof2)
		L++;
	return L;
}

/* lib/sched.c: pc_sched_newrank, pc_sched_real_rank */
static int newrank(int rank, int rem)
{
	if (rank < 2 * rem)
		return (rank % 2) ? rank / 2 : -1;
	return rank - rem;
}

static int real_rank(int nr, int rem)
{
	return nr < rem ? nr * 2 + 1 : nr + rem;
}

int model_algo_want(int P, size_t count, size_t dtsize, int want)
{
	int pof2, rem;
	fold_geometry(P, &pof2, &rem);
	int algo = want					  ? want
		   : count * dtsize <= MODEL_RD_MAX_BYTES ? MODEL_RD
		   : pof2 == P				  ? MODEL_RSAG
							  : MODEL_RING;
	if (algo == MODEL_RSAG && (count < (size_t)pof2 || pof2 == 1))
		algo = MODEL_RD;
	if (algo == MODEL_RING && (count < (size_t)P || P == 1))
		algo = MODEL_RD;
	return algo;
}

int model_algo(int P, size_t count, size_t dtsize)
{
	return model_algo_want(P, count, dtsize, 0);
}

/* The largest number of elements in d consecutive blocks of an aligned
 * range (lib/sched.c pc_sched_block: the first count % nblocks blocks hold
 * one element more). */
static size_t blocks(size_t count, int nblocks, int d)
{
	size_t base = count / (size_t)nblocks, extra = count % (size_t)nblocks;
	return (size_t)d * base + ((size_t)d < extra ? (size_t)d : extra);
}

int model_round_steps(int P, size_t count, size_t dtsize, int algo, struct model_step *st)
{
	int pof2, rem, n = 0;
	if (P <= 1)
		return 0;
	fold_geometry(P, &pof2, &rem);
	int L = log2i(pof2);
	size_t data = count * dtsize;
	algo = model_algo_want(P, count, dtsize, algo);
	if (algo == MODEL_RING) { /* no fold: chunks of count / P */
		size_t e = blocks(count, P, 1) * dtsize;
		st[n++] = (struct model_step){MODEL_HDR_BYTES + e, e, P - 1};
		st[n++] = (struct model_step){e, 0, P - 1};
		return n;
	}
	if (rem)
		st[n++] = (struct model_step){MODEL_HDR_BYTES + data, data, 1};
	if (algo == MODEL_RD) {
		for (int k = 0; k < L; k++)
			st[n++] = (struct model_step){MODEL_HDR_BYTES + data, data, 1};
	} else {
		for (int j = 0; j < L; j++) {
			size_t e = blocks(count, pof2, pof2 >> (j + 1)) * dtsize;
			st[n++] = (struct model_step){MODEL_HDR_BYTES + e, e, 1};
		}
		for (int j = 0; j < L; j++)
			st[n++] = (struct model_step){blocks(count, pof2, 1 << j) * dtsize, 0, 1};
	}
	if (rem)
		st[n++] = (struct model_step){MODEL_HDR_BYTES + data, 0, 1};
	return n;
}

double model_msg(const struct loggp *m, size_t bytes)
{
	return 2.0 * m->o + m->L + (double)(bytes ? bytes - 1 : 0) * m->G;
}

void model_round_coef(int P, size_t count, size_t dtsize, int algo, double coef[3])
{
	struct model_step st[MODEL_MAX_STEPS];
	int n = model_round_steps(P, count, dtsize, algo, st);
	coef[0] = coef[1] = coef[2] = 0.0;
	for (int i = 0; i < n; i++) {
		coef[0] += st[i].times;
		coef[1] += st[i].times * (double)(st[i].bytes - 1);
		coef[2] += st[i].times * (double)st[i].reduced;
	}
}

double model_round_algo(const struct loggp *m, int P, size_t count, size_t dtsize, int algo)
{
	double c[3];
	model_round_coef(P, count, dtsize, algo, c);
	return c[0] * (m->L + 2.0 * m->o) + c[1] * m->G + c[2] * m->gamma;
}

double model_round(const struct loggp *m, int P, size_t count, size_t dtsize)
{
	return model_round_algo(m, P, count, dtsize, 0);
}

double model_notify(const struct loggp *m)
{
	return model_msg(m, MODEL_NOTIFY_BYTES);
}

int model_act_children(int P, int rank, int initiator, int *peers)
{
	int rel = ((rank - initiator) % P + P) % P, n = 0;
	for (int m = 0; m < 31 && (1 << m) < P; m++) {
		int step = 1 << m;
		if (rel < step && rel + step < P)
			peers[n++] = (int)(((int64_t)initiator + rel + step) % P);
	}
	return n;
}

/* lib/engine.c is_leaf: a child with no children of its own. */
static int is_leaf(int P, int rel)
{
	int q = 1;
	while (q <= rel)
		q <<= 1;
	return rel + q >= P;
}

/* The peer of rank's first send in a round (lib/engine.c first_send_peer). */
static int first_send_peer(int P, size_t count, size_t dtsize, int rank)
{
	int pof2, rem;
	fold_geometry(P, &pof2, &rem);
	int nr = newrank(rank, rem), algo = model_algo(P, count, dtsize);
	if (P == 1)
		return -1;
	if (algo == MODEL_RING)
		return (rank + 1) % P;
	if (nr < 0)
		return rank + 1;
	int bit = algo == MODEL_RD ? 1 : pof2 >> 1;
	return real_rank(nr ^ bit, rem);
}

static int relax(double *t, int p, double v)
{
	if (v < t[p]) {
		t[p] = v;
		return 1;
	}
	return 0;
}

void model_learn(const struct loggp *m, int P, size_t count, size_t dtsize, int root, double *t)
{
	int pof2, rem, peers[32];
	struct model_step st[MODEL_MAX_STEPS];
	double hop = model_msg(m, MODEL_ACT_BYTES), gap = m->g > m->o ? m->g : m->o;

	for (int p = 0; p < P; p++)
		t[p] = INFINITY;
	t[root] = 0.0;
	if (P == 1)
		return;
	fold_geometry(P, &pof2, &rem);
	model_round_steps(P, count, dtsize, 0, st);
	int algo = model_algo(P, count, dtsize), ring = algo == MODEL_RING;
	size_t data = count * dtsize, phase0 = st[rem && !ring ? 1 : 0].bytes;
	int bit = algo == MODEL_RD ? 1 : pof2 >> 1;
	int skip = first_send_peer(P, count, dtsize, root);

	/* The tree: parents have smaller relative ranks than their children. */
	for (int rel = 0; rel < P; rel++) {
		int p = (root + rel) % P;
		int n = model_act_children(P, p, root, peers), i = 0;
		for (int c = 0; c < n; c++) {
			int crel = ((peers[c] - root) % P + P) % P;
			if (rel == 0 && peers[c] == skip && is_leaf(P, crel))
				continue;
			relax(t, peers[c], t[p] + (double)i * gap + hop);
			i++;
		}
	}
	/* Data (and the odd fold rank's poke of its even partner) tells too: relax
	 * until nothing moves. Times only fall and every delay is >= 0, so, as for
	 * shortest paths, P passes suffice; a smaller fixed cap could stop short
	 * on a long chain of processes told by data. */
	for (int changed = 1, pass = 0; changed && pass < P; pass++) {
		changed = 0;
		for (int p = 0; p < P; p++) {
			if (isinf(t[p]))
				continue;
			if (ring) { /* the first write goes to the right neighbour; the
				     * engine pokes as if folding all the same */
				changed |= relax(t, (p + 1) % P, t[p] + model_msg(m, phase0));
				if (p < 2 * rem && p % 2)
					changed |= relax(t, p - 1, t[p] + hop);
				continue;
			}
			int nr = newrank(p, rem);
			if (nr < 0) {
				changed |=
				    relax(t, p + 1, t[p] + model_msg(m, MODEL_HDR_BYTES + data));
				continue;
			}
			double ready = t[p];
			if (p < 2 * rem) { /* odd: pokes, then waits for the fold */
				changed |= relax(t, p - 1, t[p] + hop);
				double in = t[p - 1] + model_msg(m, MODEL_HDR_BYTES + data) +
					    (double)data * m->gamma;
				ready = in > ready ? in : ready;
			}
			changed |= relax(t, real_rank(nr ^ bit, rem), ready + model_msg(m, phase0));
		}
	}
}

int model_initiator(uint64_t seed, uint64_t round, int P)
{
	unsigned __int128 x =
	    (unsigned __int128)bench_mix64(seed ^ bench_mix64(round)) * (uint64_t)P;
	return (int)(x >> 64);
}
