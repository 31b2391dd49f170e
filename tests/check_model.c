/*
 * check_model.c -- unit tests of the scale model: the LogGP round costs
 * (tools/model_cost.c) against the library's own schedules and activation
 * tree, by hand-computed cases and by their monotony; the costed replay
 * (tools/sim_cost.c) against the zero-cost one (tools/sim_ideal.c) when every
 * cost is zero and against hand-computed paces when not; and the fit
 * (tools/model_fit.c) on synthetic latencies.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"
#include "model_cost.h"
#include "model_fit.h"
#include "schedule.h"
#include "sim_cost.h"

#define EPS 1e-9

static const struct loggp HAND = {.L = 1.0, .o = 0.5, .g = 2.0, .G = 0.001, .gamma = 0.002};

/* ------------------------------------------------------ against lib/ */

START_TEST(test_algo_matches_lib)
{
	static const size_t counts[] = {1, 2, 3, 7, 100, 1023, 4096, 4097, 5000, 65536, 262147};
	static const size_t dts[] = {1, 2, 4, 8};
	for (int P = 1; P <= 70; P++)
		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
			for (size_t d = 0; d < 4; d++)
				for (int want = 0; want <= 3; want++) { /* auto, rd, rsag, ring */
					pc_sched_t s;
					size_t c = counts[i], dt = dts[d];
					ck_assert_int_eq(pc_sched_build(&s, P, 0, c, dt, want, 0),
							 0);
					ck_assert_msg(s.algo == model_algo_want(P, c, dt, want),
						      "P=%d count=%zu dtsize=%zu want %d", P, c, dt,
						      want);
					pc_sched_free(&s);
				}
}
END_TEST

static size_t op_bytes(const pc_op_t *op, size_t dtsize, int hdr)
{
	return (hdr ? MODEL_HDR_BYTES : 0) + op->cnt * dtsize;
}

/* The model's steps are the largest message (and reduction) of each phase
 * over all ranks of the library's schedules, with the fold around them
 * (recursive doubling, reduce-scatter + allgather) or none (the ring). */
static void check_steps(int P, size_t count, size_t dtsize, int algo)
{
	struct model_step st[MODEL_MAX_STEPS];
	static size_t eb[4096], er[4096]; /* the steps, one by one */
	int ne = 0, nst = model_round_steps(P, count, dtsize, algo, st), pof2 = 1;
	for (int i = 0; i < nst; i++)
		for (int k = 0; k < st[i].times; k++, ne++) {
			ck_assert_int_lt(ne, 4096);
			eb[ne] = st[i].bytes;
			er[ne] = st[i].reduced;
		}
	while (pof2 * 2 <= P)
		pof2 *= 2;
	int ring = model_algo_want(P, count, dtsize, algo) == MODEL_RING;
	int rem = ring ? 0 : P - pof2, first = rem ? 1 : 0, nph = ne - 2 * first;
	size_t sends[4096] = {0}, reds[4096] = {0}, fold = 0, fres = 0;
	int nred_model = 0;
	for (int i = first; i < first + nph; i++)
		nred_model += er[i] > 0;
	for (int rank = 0; rank < P; rank++) {
		pc_sched_t s;
		ck_assert_int_eq(pc_sched_build(&s, P, rank, count, dtsize, algo, 0), 0);
		ck_assert_int_eq(s.algo == PC_ALGO_RING, ring);
		int ns = 0, nr = 0, odd = rank < 2 * rem && rank % 2, even = rank < 2 * rem && !odd;
		size_t last_send = 0;
		for (size_t i = 0; i < s.nops; i++) {
			const pc_op_t *op = &s.ops[i];
			if (op->kind == PC_OP_SEND) {
				size_t b = op_bytes(op, dtsize, op->hdr);
				if (even) {
					fold = b > fold ? b : fold;
					continue;
				}
				last_send = b;
				ck_assert_int_lt(ns, 4096);
				if (b > sends[ns])
					sends[ns] = b;
				ns++;
			} else if (op->kind == PC_OP_REDUCE) {
				size_t b = op->cnt * dtsize;
				if (odd && nr == 0 && op->rx_off == 0) { /* the fold-in */
					odd = 2;
					continue;
				}
				if (b > reds[nr])
					reds[nr] = b;
				nr++;
			}
		}
		if (odd) { /* its last send is the fold result, not a phase */
			ns--;
			fres = last_send > fres ? last_send : fres;
			sends[ns] = 0;
		}
		if (!even) {
			ck_assert_int_eq(ns, nph);
			ck_assert_int_eq(nr, nred_model);
		}
		pc_sched_free(&s);
	}
	for (int i = 0; i < nph; i++)
		ck_assert_msg(sends[i] == eb[first + i], "P=%d count=%zu phase %d: %zu != %zu", P,
			      count, i, sends[i], eb[first + i]);
	for (int i = 0, j = 0; i < nph; i++)
		if (er[first + i])
			ck_assert_uint_eq(reds[j++], er[first + i]);
	if (rem) {
		ck_assert_uint_eq(fold, eb[0]);
		ck_assert_uint_eq(er[0], count * dtsize);
		ck_assert_uint_eq(fres, eb[ne - 1]);
		ck_assert_uint_eq(er[ne - 1], 0);
	}
}

START_TEST(test_steps_match_schedule)
{
	static const size_t counts[] = {1, 5, 1000, 4096, 4099, 70000};
	for (int P = 1; P <= 40; P++)
		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
			for (int algo = PC_ALGO_AUTO; algo <= PC_ALGO_RING; algo++) {
				check_steps(P, counts[i], 4, algo);
				check_steps(P, counts[i], 2, algo);
			}
}
END_TEST

START_TEST(test_tree_and_initiator_match_lib)
{
	for (int P = 1; P <= 40; P++)
		for (int init = 0; init < P; init++)
			for (int r = 0; r < P; r++) {
				int a[32], b[32], slots[32];
				int na = model_act_children(P, r, init, a);
				int nb = pc_act_children(P, r, init, b, slots);
				ck_assert_int_eq(na, nb);
				for (int i = 0; i < na; i++)
					ck_assert_int_eq(a[i], b[i]);
			}
	for (uint64_t seed = 0; seed < 5; seed++)
		for (uint64_t round = 1; round < 200; round++)
			for (int P = 1; P <= 1024; P = P * 3 + 1)
				ck_assert_int_eq(model_initiator(seed * 0x5eed, round, P),
						 pc_initiator(seed * 0x5eed, round, P));
}
END_TEST

/* ----------------------------------------------------- by hand */

START_TEST(test_hand_round)
{
	/* P = 2, 1 MiB float32: reduce-scatter (512 KiB + header, reduce
	 * 512 KiB), allgather (512 KiB): 2 (2o + L) + (524351 + 524287) G +
	 * 524288 gamma. */
	ck_assert_int_eq(model_algo(2, 262144, 4), MODEL_RSAG);
	ck_assert_double_eq_tol(model_round(&HAND, 2, 262144, 4), 2101.214, 1e-6);
	/* P = 3, 4 KiB: fold, one phase, fold result, each 4160 bytes; two
	 * reductions of 4096. */
	ck_assert_int_eq(model_algo(3, 1024, 4), MODEL_RD);
	ck_assert_double_eq_tol(model_round(&HAND, 3, 1024, 4), 6.0 + 3 * 4.159 + 2 * 8.192, 1e-6);
	/* P = 3, 1 MiB: the ring, chunks of ceil(262144 / 3) = 87382 floats: two
	 * reduce-scatter steps of 349528 + 64 bytes (each reduced), two allgather
	 * steps of 349528. */
	ck_assert_int_eq(model_algo(3, 262144, 4), MODEL_RING);
	ck_assert_double_eq_tol(model_round(&HAND, 3, 262144, 4),
				8.0 + 0.001 * (2 * 349591 + 2 * 349527) + 0.002 * 2 * 349528, 1e-6);
	double c[3];
	model_round_coef(2, 262144, 4, 0, c);
	ck_assert_double_eq_tol(c[0], 2, EPS);
	ck_assert_double_eq_tol(c[1], 524351 + 524287, EPS);
	ck_assert_double_eq_tol(c[2], 524288, EPS);
	ck_assert_double_eq_tol(model_round(&HAND, 1, 262144, 4), 0.0, EPS);
	ck_assert_double_eq_tol(model_notify(&HAND), 2.007, 1e-9);
}
END_TEST

START_TEST(test_hand_learn)
{
	/* P = 8, 1 MiB: the root's first data partner, 4, is a leaf and is
	 * skipped: it learns from the 512 KiB message; the tree sends one
	 * activation (2o + L + 15G = 2.015) after another max(o, g) = 2 apart. */
	double t[8];
	model_learn(&HAND, 8, 262144, 4, 0, t);
	double hop = 2.015,
	       want[8] = {0,	       hop,	    2 + hop, 2 * hop, 2 + 524351 * 0.001,
			  2 + 2 * hop, 2 + 2 * hop, 3 * hop};
	for (int p = 0; p < 8; p++)
		ck_assert_msg(fabs(t[p] - want[p]) < 1e-9, "p=%d: %.6f != %.6f", p, t[p], want[p]);
	/* Rooted elsewhere: the same delays by relative rank, except the skip
	 * follows the root's own data partner (5 ^ 4 = 1, relative 4). */
	model_learn(&HAND, 8, 262144, 4, 5, t);
	for (int p = 0; p < 8; p++)
		ck_assert_double_eq_tol(t[p], want[(p - 5 + 8) % 8], 1e-9);
	/* P = 2, 4 KiB: the only other process learns from the data. */
	double t2[2];
	model_learn(&HAND, 2, 1024, 4, 1, t2);
	ck_assert_double_eq_tol(t2[1], 0.0, EPS);
	ck_assert_double_eq_tol(t2[0], 2 + 4159 * 0.001, 1e-9);
}
END_TEST

/* ------------------------------------------------------- monotony */

START_TEST(test_monotone)
{
	static const struct loggp fits[] = {
	    {0.5, 0.5, 0.5, 1e-4, 2e-4}, {4.0, 2.0, 2.0, 3e-4, 1e-4}, {0, 0, 0, 1e-3, 0}};
	for (size_t f = 0; f < sizeof(fits) / sizeof(fits[0]); f++) {
		const struct loggp *m = &fits[f];
		/* In size, within each algorithm (the 16 KiB switch to
		 * reduce-scatter + allgather may lower the time at large P). */
		for (int P = 1; P <= 1024; P *= 2)
			for (size_t b = 4; b < (64u << 20); b *= 2)
				if (model_algo(P, b / 4, 4) == model_algo(P, b / 2, 4))
					ck_assert(model_round(m, P, b / 4, 4) <=
						  model_round(m, P, b / 2, 4));
		/* In P, over powers of two, at any size. */
		for (size_t b = 4; b <= (16u << 20); b *= 4)
			for (int P = 1; P < 1024; P *= 2)
				ck_assert(model_round(m, P, b / 4, 4) <=
					  model_round(m, 2 * P, b / 4, 4));
	}
	/* In every parameter. */
	struct loggp base = {1, 1, 1, 1e-4, 1e-4};
	for (int k = 0; k < 5; k++) {
		struct loggp more = base;
		double *x = k == 0   ? &more.L
			    : k == 1 ? &more.o
			    : k == 2 ? &more.g
			    : k == 3 ? &more.G
				     : &more.gamma;
		*x *= 2;
		double t0[64], t1[64];
		for (int P = 2; P <= 64; P++) {
			ck_assert(model_round(&base, P, 262144, 4) <=
				  model_round(&more, P, 262144, 4));
			model_learn(&base, P, 262144, 4, P / 3, t0);
			model_learn(&more, P, 262144, 4, P / 3, t1);
			for (int p = 0; p < P; p++)
				ck_assert(t0[p] <= t1[p] + EPS);
		}
	}
	/* Not in P in general: folding 3 into 2 costs two steps where 4 pays
	 * one more phase. */
	ck_assert(model_round(&base, 3, 1024, 4) > model_round(&base, 4, 1024, 4));
}
END_TEST

/* ---------------------------------------------------- costed replay */

struct times {
	int P, initiator; /* initiator < 0: random per round */
	double c, spread;
	uint64_t seed;
};

static double hash01(uint64_t seed, uint64_t v, int p)
{
	uint64_t z = seed + v * 0x9e3779b97f4a7c15ull + (uint64_t)p * 0xbf58476d1ce4e5b9ull + 1;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static double compute(void *arg, uint64_t v, int p)
{
	const struct times *t = arg;
	/* spread 0: equal; else a few discrete levels, so ties happen */
	return t->c * (1.0 + t->spread * floor(4.0 * hash01(t->seed, v, p)));
}

static int initiator(void *arg, uint64_t r)
{
	const struct times *t = arg;
	return t->initiator >= 0 ? t->initiator : model_initiator(t->seed, r, t->P);
}

struct fixed_learn {
	double d;
	int P;
};

static void learn_fixed(void *arg, int root, double *t)
{
	const struct fixed_learn *f = arg;
	for (int p = 0; p < f->P; p++)
		t[p] = p == root ? 0.0 : f->d;
}

START_TEST(test_zero_cost_is_ideal)
{
	struct fixed_learn zero = {0.0, 0};
	struct sim_cost k0 = {.round = 0.0, .notify = 0.0, .learn = learn_fixed, .arg = &zero};
	uint64_t seed = 12345;
	for (int trial = 0; trial < 600; trial++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		/* mostly small P (ties are frequent), every sixth up to 64 */
		int P = trial % 6 ? 1 + (int)((seed >> 60) % 10) : 1 + (int)((seed >> 54) % 64);
		struct times t = {.P = P,
				  .initiator = (seed >> 20) % 3 == 0 ? 0 : -1,
				  .c = 1.0,
				  .spread = (double)((seed >> 8) % 4) * 0.5,
				  .seed = seed};
		zero.P = t.P;
		struct sim_cfg cfg = {.mode = (pcoll_mode_t)((seed >> 40) % PCOLL_MODE_COUNT),
				      .P = t.P,
				      .S = (int)((seed >> 44) % 6),
				      .k = 1 + (int)((seed >> 48) % (uint64_t)t.P),
				      .rounds = 1 + (seed >> 52) % 60,
				      .compute = compute,
				      .initiator = initiator,
				      .arg = &t};
		struct sim_result a, b, c;
		ck_assert_int_eq(sim_ideal(&cfg, &a), 0);
		ck_assert_int_eq(sim_cost(&cfg, &k0, &b), 0);
		ck_assert_int_eq(sim_cost(&cfg, NULL, &c), 0);
		ck_assert_msg(
		    fabs(a.t_first - b.t_first) < EPS && fabs(a.t_last - b.t_last) < EPS &&
			fabs(a.t_mean - b.t_mean) < EPS && a.steps == b.steps && a.holds == b.holds,
		    "trial %d mode %d P %d S %d k %d N %llu: ideal %.3f/%.3f %llu steps "
		    "%llu holds, costed %.3f/%.3f %llu steps %llu holds",
		    trial, cfg.mode, cfg.P, cfg.S, cfg.k, (unsigned long long)cfg.rounds, a.t_first,
		    a.t_last, (unsigned long long)a.steps, (unsigned long long)a.holds, b.t_first,
		    b.t_last, (unsigned long long)b.steps, (unsigned long long)b.holds);
		ck_assert(c.t_first == b.t_first && c.steps == b.steps && c.holds == b.holds);
	}
}
END_TEST

static double paced(pcoll_mode_t mode, int P, int S, int k, int init, double R, double notify,
		    double d)
{
	struct times t = {.P = P, .initiator = init, .c = 2.0};
	struct fixed_learn f = {d, P};
	struct sim_cost cost = {.round = R, .notify = notify, .learn = learn_fixed, .arg = &f};
	struct sim_cfg cfg = {mode, P, S, k, 10, compute, initiator, &t};
	struct sim_result r;
	ck_assert_int_eq(sim_cost(&cfg, &cost, &r), 0);
	return r.t_first;
}

START_TEST(test_costed_paces)
{
	/* Equal compute 2, 10 rounds, round cost 0.5, activation 0.3. */
	ck_assert_double_eq_tol(paced(PCOLL_SYNC, 4, 0, 0, 0, 0.5, 0, 0.3), 25.0, EPS);
	/* solo: every process's own step initiates; no activation waited for. */
	ck_assert_double_eq_tol(paced(PCOLL_SOLO, 2, 1, 0, 0, 0.5, 0, 0.3), 25.0, EPS);
	ck_assert_double_eq_tol(paced(PCOLL_SOLO, 2, 0, 0, 0, 0.5, 0, 0.3), 25.0, EPS);
	/* majority: the others wait for the initiator's activation. */
	ck_assert_double_eq_tol(paced(PCOLL_MAJORITY, 2, 8, 0, 1, 0.5, 0, 0.3), 28.0, EPS);
	/* quorum 2 of 3: the second arrival's write reaches rank 0 (0.2), then
	 * the activation (0.3), then the round. */
	ck_assert_double_eq_tol(paced(PCOLL_QUORUM, 3, 8, 2, 0, 0.5, 0.2, 0.3), 30.0, EPS);
	/* A round never completes sooner than at zero cost. */
	struct times t = {.P = 6, .initiator = -1, .c = 1.0, .spread = 1.0, .seed = 7};
	struct fixed_learn f = {0.05, 6};
	struct sim_cost cost = {.round = 0.1, .notify = 0.02, .learn = learn_fixed, .arg = &f};
	for (int m = 0; m < PCOLL_MODE_COUNT; m++) {
		struct sim_cfg cfg = {(pcoll_mode_t)m, 6, 3, 3, 80, compute, initiator, &t};
		struct sim_result a, b;
		ck_assert_int_eq(sim_ideal(&cfg, &a), 0);
		ck_assert_int_eq(sim_cost(&cfg, &cost, &b), 0);
		ck_assert(b.t_last >= a.t_last - EPS);
		ck_assert(b.t_first > a.t_first);
	}
}
END_TEST

/* -------------------------------------------------------------- fit */

START_TEST(test_fit_recovers)
{
	struct model_points pts = {0};
	struct loggp m = {.L = 1.5, .o = 0.5, .G = 1.2e-4, .gamma = 3e-4};
	for (int rep = 0; rep < 3; rep++)
		for (size_t b = 4; b <= (16u << 20); b *= 2) {
			struct model_point p = {.P = 2, .size = b};
			snprintf(p.provider, sizeof(p.provider), "tcp;ofi_rxm");
			/* repeats scattered around the truth: the median is it */
			p.us = model_round(&m, 2, b / 4, 4) * (rep == 0	  ? 1.0
							       : rep == 1 ? 3.0
									  : 0.5);
			if (!pts.n || pts.n == pts.cap) {
				pts.cap = pts.cap ? pts.cap * 2 : 256;
				pts.v = realloc(pts.v, (size_t)pts.cap * sizeof(*pts.v));
			}
			pts.v[pts.n++] = p;
		}
	struct model_points best = {malloc((size_t)pts.n * sizeof(*pts.v)), pts.n, pts.n};
	memcpy(best.v, pts.v, (size_t)pts.n * sizeof(*pts.v));
	model_median(&best, 1);
	ck_assert_int_eq(best.n, 23);
	ck_assert_double_eq_tol(best.v[22].us, 0.5 * model_round(&m, 2, 4u << 20, 4), 1e-9);
	free(best.v);
	model_median(&pts, 0);
	ck_assert_int_eq(pts.n, 23);
	double x[3];
	ck_assert_int_eq(model_fit(&pts, "tcp", 4, x), 0);
	ck_assert_double_eq_tol(x[0], 2.5, 1e-6);
	ck_assert_double_eq_tol(x[1], 1.2e-4, 1e-10);
	ck_assert_double_eq_tol(x[2], 3e-4, 1e-10);
	struct model_params mp;
	model_params_of(&pts, "tcp", 4, x, 0.5, &mp);
	ck_assert_double_eq_tol(mp.m.o, 0.625, 1e-6);
	ck_assert_double_eq_tol(mp.m.L, 1.25, 1e-6);
	ck_assert_double_eq_tol(mp.m.g, mp.m.o, EPS);
	ck_assert(mp.rms_rel < 1e-9 && mp.points == 23);
	/* Both schedules measured at every size (PCOLL_ALGORITHM=rd, rsag): recursive
	 * doubling pays G + gamma per byte, reduce-scatter + allgather G + gamma/2,
	 * so the two per-byte costs come apart even from 64 KiB up only. */
	struct model_points both = {0};
	for (int algo = MODEL_RD; algo <= MODEL_RSAG; algo++)
		for (size_t b = 65536; b <= (1u << 20); b *= 2) {
			struct model_point p = {.P = 2, .size = b, .algo = algo};
			snprintf(p.provider, sizeof(p.provider), "shm");
			p.us = model_round_algo(&m, 2, b / 4, 4, algo);
			if (both.n == both.cap) {
				both.cap = both.cap ? both.cap * 2 : 16;
				both.v = realloc(both.v, (size_t)both.cap * sizeof(*both.v));
			}
			both.v[both.n++] = p;
		}
	model_median(&both, 0);
	ck_assert_int_eq(both.n, 10);
	ck_assert_int_eq(model_fit(&both, "shm", 4, x), 0);
	ck_assert_double_eq_tol(x[0], 2.5, 1e-6);
	ck_assert_double_eq_tol(x[1], 1.2e-4, 1e-10);
	ck_assert_double_eq_tol(x[2], 3e-4, 1e-10);
	free(both.v);
	/* A flat latency: no per-byte cost, and none goes negative. */
	for (int i = 0; i < pts.n; i++)
		pts.v[i].us = 7.0;
	ck_assert_int_eq(model_fit(&pts, "tcp", 4, x), 0);
	ck_assert(x[0] >= 0 && x[1] >= 0 && x[2] >= 0);
	ck_assert_double_eq_tol(x[1], 0.0, 1e-12);
	ck_assert_int_eq(model_fit(&pts, "shm", 4, x), -1); /* no such points */
	free(pts.v);
}
END_TEST

START_TEST(test_files)
{
	char dir[] = "/tmp/check_model.XXXXXX", csv[64], par[64], err[256];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(csv, sizeof(csv), "%s/a.csv", dir);
	snprintf(par, sizeof(par), "%s/p.csv", dir);
	FILE *f = fopen(csv, "w");
	fprintf(f, "bench,impl,mode,provider,P,size,avg_us,min_us,max_us,iters,shape\n"
		   "allreduce,pcoll,sync,shm,2,4,2.0,1,3,1000,osu\n"
		   "allreduce,pcoll,solo,shm,2,4,9.0,1,3,1000,osu\n"
		   "allreduce,pcoll,sync,shm,2,8,9.0,1,3,1000,b2b\n"
		   "allreduce,ompi,sync,shm,2,8,9.0,1,3,1000,osu\n"
		   "allreduce,pcoll,sync,shm,2,8,3.0,1,3,1000\n"
		   "allreduce,pcoll,sync,shm,2,8,5.0,1,3,1000,osu,reduce-scatter-allgather\n"
		   "allreduce,pcoll,sync,shm,2,8,4.0,1,3,1000,osu,recursive-doubling\n"
		   "allreduce,pcoll,sync,shm,3,8,4.0,1,3,1000,osu,ring\n");
	fclose(f);
	struct model_points pts = {0};
	ck_assert_int_eq(model_read_allreduce(csv, &pts, err, sizeof(err)), 5);
	ck_assert_uint_eq(pts.v[1].size, 8);
	ck_assert_double_eq_tol(pts.v[1].us, 3.0, EPS);
	ck_assert_int_eq(pts.v[1].algo, 0);
	ck_assert_int_eq(pts.v[2].algo, MODEL_RSAG);
	ck_assert_int_eq(pts.v[3].algo, MODEL_RD);
	ck_assert_int_eq(pts.v[4].algo, MODEL_RING);
	model_median(&pts, 0); /* a size's schedules apart: not merged */
	ck_assert_int_eq(pts.n, 5);
	struct model_params w[2] = {{.provider = "shm", .m = {1, 0.5, 0.5, 1e-4, 2e-4}},
				    {.provider = "tcp;ofi_rxm", .m = {3, 1, 1, 2e-4, 0}}},
			    r[4];
	ck_assert_int_eq(model_write_params(par, w, 2), 0);
	ck_assert_int_eq(model_read_params(par, r, 4, err, sizeof(err)), 2);
	ck_assert_str_eq(r[1].provider, "tcp;ofi_rxm");
	ck_assert_double_eq_tol(r[0].m.gamma, 2e-4, 1e-12);
	ck_assert(model_provider_match("tcp;ofi_rxm", "tcp") && !model_provider_match("tcp", "t"));
	ck_assert_int_eq(model_read_allreduce("/nonexistent.csv", &pts, err, sizeof(err)), -1);
	unlink(csv);
	unlink(par);
	rmdir(dir);
	free(pts.v);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model");
	TCase *lib = tcase_create("lib"), *cost = tcase_create("cost"), *sim = tcase_create("sim");
	tcase_add_test(lib, test_algo_matches_lib);
	tcase_add_test(lib, test_steps_match_schedule);
	tcase_add_test(lib, test_tree_and_initiator_match_lib);
	tcase_add_test(cost, test_hand_round);
	tcase_add_test(cost, test_hand_learn);
	tcase_add_test(cost, test_monotone);
	tcase_add_test(cost, test_fit_recovers);
	tcase_add_test(cost, test_files);
	tcase_add_test(sim, test_zero_cost_is_ideal);
	tcase_add_test(sim, test_costed_paces);
	suite_add_tcase(s, lib);
	suite_add_tcase(s, cost);
	suite_add_tcase(s, sim);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
