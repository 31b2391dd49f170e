/*
 * check_sim.c -- unit tests of the ideal simulator (tools/sim_ideal.c): the
 * zero-cost replay of the round and staleness rules against what the rules
 * imply by hand (DESIGN.md "Semantics"): sync runs at the slowest process's
 * pace, solo with a large S at the fastest's, solo with S = 0 at sync's, a
 * persistent straggler that steps every T lets S+2 rounds pass per 2T,
 * quorum:1 is solo and quorum:P is sync, majority follows its initiator.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim_ideal.h"

#define EPS 1e-9

/* Per-process constant compute times, or seeded random ones. */
struct times {
	int P;
	double c[16];
	int random;    /* 1: c[p] * (1 + 4u), u uniform per (version, p) */
	int initiator; /* majority: the initiator of every round; -1: r % P */
};

static double hash01(uint64_t v, int p)
{
	uint64_t z = v * 0x9e3779b97f4a7c15ull + (uint64_t)p * 0xbf58476d1ce4e5b9ull + 1;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static double compute(void *arg, uint64_t v, int p)
{
	const struct times *t = arg;
	return t->random ? t->c[p] * (1.0 + 4.0 * hash01(v, p)) : t->c[p];
}

static int initiator(void *arg, uint64_t r)
{
	const struct times *t = arg;
	return t->initiator >= 0 ? t->initiator : (int)(r % (uint64_t)t->P);
}

static struct sim_result run(pcoll_mode_t mode, int S, int k, uint64_t N, struct times *t)
{
	struct sim_cfg cfg = {mode, t->P, S, k, N, compute, initiator, t};
	struct sim_result r;
	ck_assert_int_eq(sim_ideal(&cfg, &r), 0);
	ck_assert(r.t_first <= r.t_mean + EPS && r.t_mean <= r.t_last + EPS);
	return r;
}

static struct times equal(int P, double c)
{
	struct times t = {.P = P, .initiator = -1};
	for (int p = 0; p < P; p++)
		t.c[p] = c;
	return t;
}

START_TEST(test_equal_compute)
{
	/* Everyone arrives together: every mode runs at 1 / compute. */
	struct times t = equal(4, 2.0);
	for (int m = 0; m < PCOLL_MODE_COUNT; m++) {
		struct sim_result r = run((pcoll_mode_t)m, 2, 2, 50, &t);
		ck_assert_double_eq_tol(r.t_first, 100.0, EPS);
		ck_assert_double_eq_tol(r.t_last, 100.0, EPS);
		ck_assert_int_eq(r.steps, 200);
	}
}
END_TEST

START_TEST(test_single_process)
{
	struct times t = equal(1, 3.0);
	for (int m = 0; m < PCOLL_MODE_COUNT; m++)
		ck_assert_double_eq_tol(run((pcoll_mode_t)m, 0, 1, 10, &t).t_first, 30.0, EPS);
}
END_TEST

START_TEST(test_sync_slowest)
{
	struct times t = equal(4, 1.0);
	t.c[3] = 3.0;
	struct sim_result r = run(PCOLL_SYNC, 5, 0, 40, &t);
	ck_assert_double_eq_tol(r.t_first, 120.0, EPS);
	ck_assert_double_eq_tol(r.t_last, 120.0, EPS);
}
END_TEST

START_TEST(test_solo_large_S)
{
	/* S >= N: nobody ever holds; the fast processes run at their own pace. */
	struct times t = equal(4, 1.0);
	t.c[2] = 2.0;
	struct sim_result r = run(PCOLL_SOLO, 1000, 0, 60, &t);
	ck_assert_double_eq_tol(r.t_first, 60.0, EPS);
	ck_assert_int_eq(r.holds, 0);
}
END_TEST

START_TEST(test_solo_S0_is_sync)
{
	struct times t = equal(4, 1.0);
	t.c[1] = 2.5;
	ck_assert_double_eq_tol(run(PCOLL_SOLO, 0, 0, 30, &t).t_first, 75.0, EPS);
	t.random = 1;
	struct sim_result a = run(PCOLL_SOLO, 0, 0, 100, &t), b = run(PCOLL_SYNC, 0, 0, 100, &t);
	ck_assert_double_eq_tol(a.t_first, b.t_first, EPS);
	ck_assert_double_eq_tol(a.t_last, b.t_last, EPS);
}
END_TEST

START_TEST(test_solo_straggler_rate)
{
	/* A straggler stepping every T arrives on the version it took a step
	 * earlier: each step lets the others run to (that version) + 1 + S, so
	 * the rounds advance by S+2 per two steps of it, (S+2)/(2T) per unit. */
	for (int S = 0; S <= 6; S++) {
		struct times t = equal(2, 1e-3);
		t.c[1] = 1.0;
		uint64_t N = 400;
		double rate = S == 0 ? 1.0 : (S + 2) / 2.0;
		double want = (double)N / rate;
		double got = run(PCOLL_SOLO, S, 0, N, &t).t_first;
		ck_assert_msg(fabs(got - want) <= 2.0, "S=%d: t_first %.3f, expected %.3f +- 2", S,
			      got, want);
	}
}
END_TEST

START_TEST(test_quorum_extremes)
{
	struct times t = equal(5, 1.0);
	t.c[4] = 1.7;
	t.random = 1;
	for (int S = 0; S <= 4; S += 2) {
		struct sim_result q1 = run(PCOLL_QUORUM, S, 1, 80, &t);
		struct sim_result solo = run(PCOLL_SOLO, S, 0, 80, &t);
		struct sim_result qP = run(PCOLL_QUORUM, S, 5, 80, &t);
		struct sim_result sync = run(PCOLL_SYNC, S, 0, 80, &t);
		ck_assert_double_eq_tol(q1.t_first, solo.t_first, EPS);
		ck_assert_double_eq_tol(qP.t_first, sync.t_first, EPS);
		ck_assert_double_eq_tol(qP.t_last, sync.t_last, EPS);
	}
}
END_TEST

START_TEST(test_majority_initiator)
{
	/* The initiator is always the slow process: nothing starts before it. */
	struct times t = equal(3, 1.0);
	t.c[2] = 4.0;
	t.initiator = 2;
	ck_assert_double_eq_tol(run(PCOLL_MAJORITY, 100, 0, 25, &t).t_first, 100.0, EPS);
	/* Always a fast one, S large: the fast pace. */
	t.initiator = 0;
	ck_assert_double_eq_tol(run(PCOLL_MAJORITY, 100, 0, 25, &t).t_first, 25.0, EPS);
}
END_TEST

START_TEST(test_order_random)
{
	/* Under random compute: sync <= quorum:k <= solo in steps/s. (More
	 * staleness is not strictly monotone: the compute time depends on the
	 * version a process computes at, which S changes.) */
	struct times t = equal(8, 1.0);
	t.random = 1;
	double solo = 0.0, sync = run(PCOLL_SYNC, 0, 0, 200, &t).t_first;
	for (int S = 0; S <= 8; S++) {
		solo = run(PCOLL_SOLO, S, 0, 200, &t).t_first;
		double q4 = run(PCOLL_QUORUM, S, 4, 200, &t).t_first;
		ck_assert(solo <= q4 + EPS && q4 <= sync + EPS);
	}
	ck_assert(solo < 0.5 * sync);
}
END_TEST

START_TEST(test_bad_args)
{
	struct times t = equal(2, 1.0);
	struct sim_cfg cfg = {PCOLL_QUORUM, 2, 1, 3, 10, compute, initiator, &t};
	struct sim_result r;
	ck_assert_int_eq(sim_ideal(&cfg, &r), -1); /* k > P */
	cfg.k = 0;
	ck_assert_int_eq(sim_ideal(&cfg, &r), -1);
	cfg.mode = PCOLL_MAJORITY;
	cfg.initiator = NULL;
	ck_assert_int_eq(sim_ideal(&cfg, &r), -1);
	cfg.mode = PCOLL_SOLO;
	cfg.rounds = 0;
	ck_assert_int_eq(sim_ideal(&cfg, &r), -1);
	cfg.rounds = 1;
	cfg.P = 0;
	ck_assert_int_eq(sim_ideal(&cfg, &r), -1);
	ck_assert_int_eq(sim_ideal(NULL, &r), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim_ideal");
	TCase *tc = tcase_create("rules");
	tcase_add_test(tc, test_equal_compute);
	tcase_add_test(tc, test_single_process);
	tcase_add_test(tc, test_sync_slowest);
	tcase_add_test(tc, test_solo_large_S);
	tcase_add_test(tc, test_solo_S0_is_sync);
	tcase_add_test(tc, test_solo_straggler_rate);
	tcase_add_test(tc, test_quorum_extremes);
	tcase_add_test(tc, test_majority_initiator);
	tcase_add_test(tc, test_order_random);
	tcase_add_test(tc, test_bad_args);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
