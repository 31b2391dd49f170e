/*
 * check_round.c -- unit tests of the round and staleness state machine
 * (lib/round.c), alone, and of P of them driven together in a discrete-event
 * simulation at the state-machine level (no data, no transport): random step
 * times, message delays, uneven step counts and a final flush, in every mode.
 *
 * Expected values come from the contract in DESIGN.md and lib/round.h,
 * restated here independently (for instance the staleness bound as "a
 * contribution made at version a and reduced in round r has staleness
 * r-1-a, which must not exceed S"), and from an oracle of each process's
 * pending contributions kept by the simulator itself.
 */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "pcoll.h"
#include "round.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Assertions for hot loops (ck_assert_* records every passing check). */
#define REQUIRE(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)

static const int all_modes[] = {PCOLL_SYNC, PCOLL_SOLO, PCOLL_MAJORITY, PCOLL_QUORUM};

static const char *mode_name(int mode)
{
	static const char *const names[] = {"sync", "solo", "majority", "quorum"};
	return mode >= 0 && mode < 4 ? names[mode] : "?";
}

/* A state whose version is v: as if rounds 1..v had completed and been given. */
static void rs_at(pc_rs_t *rs, int mode, int P, int rank, int S, int k, uint64_t seed, uint64_t v)
{
	pc_rs_init(rs, mode, P, rank, S, k, seed);
	rs->completed = v;
	rs->triggered = v;
	rs->version = v;
}

/* ------------------------------------------------------------------- init */

START_TEST(test_init)
{
	for (size_t m = 0; m < NELEM(all_modes); m++) {
		pc_rs_t rs;
		memset(&rs, 0x55, sizeof(rs));
		pc_rs_init(&rs, all_modes[m], 7, 3, 2, 4, 99);
		ck_assert_int_eq(rs.mode, all_modes[m]);
		ck_assert_int_eq(rs.P, 7);
		ck_assert_int_eq(rs.rank, 3);
		ck_assert_int_eq(rs.k, 4);
		ck_assert_uint_eq(rs.seed, 99);
		/* sync is S = 0 whatever was asked */
		ck_assert_int_eq(rs.S, all_modes[m] == PCOLL_SYNC ? 0 : 2);
		ck_assert_uint_eq(rs.completed, 0);
		ck_assert_uint_eq(rs.triggered, 0);
		ck_assert_uint_eq(rs.version, 0);
		ck_assert_int_eq(rs.last_arrival, -1);
		ck_assert_int_eq(rs.flushed, 0);
		ck_assert_uint_eq(rs.epoch, 0);
		ck_assert_int_eq(rs.in_round, 0);
		ck_assert_uint_eq(rs.pend_count, 0);
		ck_assert_uint_eq(rs.holds, 0);
		ck_assert_uint_eq(rs.initiated, 0);
		ck_assert_uint_eq(rs.steps, 0);
		ck_assert_uint_eq(pc_rs_joinable(&rs), 0); /* nothing triggered */
	}
}
END_TEST

/* ----------------------------------------------------------------- arrive */

START_TEST(test_arrive_sync)
{
	for (uint64_t v = 0; v < 6; v++) {
		pc_rs_t rs;
		rs_at(&rs, PCOLL_SYNC, 4, 1, 3, 0, 1, v);
		ck_assert_int_eq(pc_rs_arrive(&rs), PC_ARRIVE_LOCAL);
		ck_assert_uint_eq(rs.triggered, v + 1);
		ck_assert_int_eq(rs.last_arrival, (int64_t)v);
		ck_assert_uint_eq(rs.pend_count, 1);
		ck_assert_int_eq(rs.pend_oldest, (int64_t)v);
		ck_assert_uint_eq(rs.steps, 1);
		ck_assert_uint_eq(rs.initiated, 0);
		ck_assert_uint_eq(pc_rs_joinable(&rs), v + 1);
		/* A second step before the round completes: already triggered. */
		ck_assert_int_eq(pc_rs_arrive(&rs), PC_ARRIVE_NONE);
		ck_assert_uint_eq(rs.triggered, v + 1);
		ck_assert_uint_eq(rs.pend_count, 2);
		ck_assert_int_eq(rs.pend_oldest, (int64_t)v);
		ck_assert_uint_eq(rs.steps, 2);
	}
}
END_TEST

START_TEST(test_arrive_solo)
{
	pc_rs_t rs;
	rs_at(&rs, PCOLL_SOLO, 5, 4, 1, 0, 1, 3);
	ck_assert_int_eq(pc_rs_arrive(&rs), PC_ARRIVE_INITIATE);
	ck_assert_uint_eq(rs.triggered, 4);
	ck_assert_uint_eq(rs.initiated, 1);
	ck_assert_int_eq(pc_rs_arrive(&rs), PC_ARRIVE_NONE);
	ck_assert_uint_eq(rs.initiated, 1);
	/* Someone else triggered the next round first: nothing to do. */
	rs_at(&rs, PCOLL_SOLO, 5, 4, 1, 0, 1, 3);
	pc_rs_triggered(&rs, 4);
	ck_assert_int_eq(pc_rs_arrive(&rs), PC_ARRIVE_NONE);
	ck_assert_uint_eq(rs.initiated, 0);
	ck_assert_uint_eq(rs.pend_count, 1);
}
END_TEST

START_TEST(test_arrive_majority)
{
	const uint64_t seeds[] = {0, 5, UINT64_C(0xfeedface12345678)};
	for (size_t s = 0; s < NELEM(seeds); s++)
		for (int P = 1; P <= 9; P++)
			for (uint64_t v = 0; v < 40; v++) {
				int initiators = 0;
				for (int rank = 0; rank < P; rank++) {
					pc_rs_t rs;
					rs_at(&rs, PCOLL_MAJORITY, P, rank, 2, 0, seeds[s], v);
					int mine = pc_initiator(seeds[s], v + 1, P) == rank;
					int a = pc_rs_arrive(&rs);
					REQUIRE(a == (mine ? PC_ARRIVE_INITIATE : PC_ARRIVE_NONE),
						"P=%d v=%" PRIu64 " rank %d: action %d", P, v, rank,
						a);
					REQUIRE(rs.triggered == (mine ? v + 1 : v),
						"P=%d rank %d: triggered %" PRIu64, P, rank,
						rs.triggered);
					REQUIRE(rs.initiated == (uint64_t)mine, "initiated");
					REQUIRE(rs.pend_count == 1 && rs.last_arrival == (int64_t)v,
						"accounting");
					initiators += a == PC_ARRIVE_INITIATE;
				}
				REQUIRE(initiators == 1, "P=%d v=%" PRIu64 ": %d initiators", P, v,
					initiators);
			}
}
END_TEST

START_TEST(test_arrive_quorum)
{
	for (int rank = 0; rank < 4; rank++) {
		pc_rs_t rs;
		rs_at(&rs, PCOLL_QUORUM, 4, rank, 1, 2, 1, 6);
		ck_assert_int_eq(pc_rs_arrive(&rs), PC_ARRIVE_NOTIFY_ROOT);
		ck_assert_uint_eq(rs.triggered, 6); /* only the root decides */
		ck_assert_uint_eq(rs.initiated, 0);
		ck_assert_uint_eq(rs.pend_count, 1);
		pc_rs_triggered(&rs, 7);
		ck_assert_int_eq(pc_rs_arrive(&rs), PC_ARRIVE_NONE);
		ck_assert_uint_eq(rs.pend_count, 2);
	}
}
END_TEST

/* A late process (rounds completed beyond its version) triggers nothing. */
START_TEST(test_arrive_late)
{
	for (size_t m = 0; m < NELEM(all_modes); m++) {
		pc_rs_t rs;
		rs_at(&rs, all_modes[m], 3, 0, 2, 1, 4, 2);
		rs.completed = 4;
		rs.triggered = 4;
		ck_assert_int_eq(pc_rs_arrive(&rs), PC_ARRIVE_NONE);
		ck_assert_uint_eq(rs.triggered, 4);
		ck_assert_int_eq(rs.last_arrival, 2);
		ck_assert_int_eq(rs.pend_oldest, 2);
	}
}
END_TEST

START_TEST(test_triggered_monotone)
{
	pc_rs_t rs;
	pc_rs_init(&rs, PCOLL_SOLO, 3, 0, 1, 0, 0);
	pc_rs_triggered(&rs, 5);
	ck_assert_uint_eq(rs.triggered, 5);
	pc_rs_triggered(&rs, 3);
	ck_assert_uint_eq(rs.triggered, 5);
	pc_rs_triggered(&rs, 6);
	ck_assert_uint_eq(rs.triggered, 6);
}
END_TEST

/* ------------------------------------------------------------------ holds */

START_TEST(test_holds_table)
{
	for (size_t m = 0; m < NELEM(all_modes); m++)
		for (int S = 0; S <= 3; S++)
			for (int64_t a = -1; a <= 5; a++)
				for (uint64_t r = 1; r <= 10; r++) {
					pc_rs_t rs;
					pc_rs_init(&rs, all_modes[m], 4, 1, S, 2, 3);
					rs.last_arrival = a;
					int effS = all_modes[m] == PCOLL_SYNC ? 0 : S;
					/* The newest contribution, made at version a, would
					 * have staleness r-1-a in round r; never stepped: it
					 * is as if made at version -1. */
					int want = (int64_t)r - 1 - a > effS;
					REQUIRE(pc_rs_holds(&rs, r) == want,
						"mode %d S=%d a=%" PRId64 " r=%" PRIu64
						": holds %d",
						all_modes[m], S, a, r, pc_rs_holds(&rs, r));
					rs.flushed = 1;
					REQUIRE(pc_rs_holds(&rs, r) == 0, "flushed holds");
				}
}
END_TEST

/* --------------------------------------------------------------- joinable */

START_TEST(test_joinable)
{
	pc_rs_t rs;
	/* Not triggered: nothing to join, no hold counted. */
	rs_at(&rs, PCOLL_SOLO, 4, 2, 1, 0, 0, 3);
	rs.last_arrival = 3;
	ck_assert_uint_eq(pc_rs_joinable(&rs), 0);
	ck_assert_uint_eq(rs.holds, 0);
	/* Triggered and fresh enough. */
	pc_rs_triggered(&rs, 4);
	ck_assert_uint_eq(pc_rs_joinable(&rs), 4);
	ck_assert_uint_eq(rs.holds, 0);
	/* Triggered further ahead: still the next round, in order. */
	pc_rs_triggered(&rs, 6);
	ck_assert_uint_eq(pc_rs_joinable(&rs), 4);
	/* In a round: nothing. */
	rs.in_round = 1;
	ck_assert_uint_eq(pc_rs_joinable(&rs), 0);
	rs.in_round = 0;

	/* Staleness bound: last arrival 1, S = 1: round 4 would be 2 stale. */
	rs_at(&rs, PCOLL_SOLO, 4, 2, 1, 0, 0, 3);
	rs.last_arrival = 1;
	pc_rs_triggered(&rs, 4);
	ck_assert_uint_eq(pc_rs_joinable(&rs), 0);
	ck_assert_uint_eq(rs.holds, 1);
	ck_assert_uint_eq(pc_rs_joinable(&rs), 0);
	ck_assert_uint_eq(pc_rs_joinable(&rs), 0);
	ck_assert_uint_eq(rs.holds, 1); /* once per round */
	/* It steps: the hold ends. */
	rs.last_arrival = 3;
	ck_assert_uint_eq(pc_rs_joinable(&rs), 4);
	ck_assert_uint_eq(rs.holds, 1);
	/* The next round is held again: counted again. */
	pc_hdr_t h;
	pc_rs_take(&rs, 4, &h);
	h.flushed = 0;
	pc_rs_complete(&rs, &h);
	pc_rs_triggered(&rs, 5);
	rs.last_arrival = 2;
	ck_assert_uint_eq(pc_rs_joinable(&rs), 0);
	ck_assert_uint_eq(rs.holds, 2);
	/* A flush ends every hold. */
	pc_rs_flush(&rs);
	ck_assert_uint_eq(pc_rs_joinable(&rs), 5);
	ck_assert_uint_eq(rs.holds, 2);

	/* sync: a flushed process joins without a trigger; other modes do not. */
	for (size_t m = 0; m < NELEM(all_modes); m++) {
		rs_at(&rs, all_modes[m], 4, 2, 1, 2, 0, 3);
		rs.last_arrival = 2;
		pc_rs_flush(&rs);
		uint64_t want = all_modes[m] == PCOLL_SYNC ? 4 : 0;
		ck_assert_uint_eq(pc_rs_joinable(&rs), want);
		/* Unflushed in sync, not arrived: not triggered, nothing. */
		rs_at(&rs, all_modes[m], 4, 2, 1, 2, 0, 3);
		rs.last_arrival = 2;
		ck_assert_uint_eq(pc_rs_joinable(&rs), 0);
	}
}
END_TEST

/* ------------------------------------------------------------------- take */

START_TEST(test_take)
{
	pc_rs_t rs;
	pc_hdr_t h;
	/* Nothing pending: no contribution, staleness -1. */
	rs_at(&rs, PCOLL_SOLO, 3, 0, 3, 0, 0, 2);
	pc_rs_triggered(&rs, 3);
	memset(&h, 0x77, sizeof(h));
	pc_rs_take(&rs, 3, &h);
	ck_assert_uint_eq(h.round, 3);
	ck_assert_uint_eq(h.contributions, 0);
	ck_assert_int_eq(h.staleness, -1);
	ck_assert_uint_eq(h.flushed, 0);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(h.pad[i], 0);
	ck_assert_int_eq(rs.in_round, 1);

	/* Steps at versions 2, 2 and 4, taken in round 6: three contributions,
	 * the oldest (version 2) has staleness 6-1-2 = 3. */
	rs_at(&rs, PCOLL_SOLO, 3, 0, 3, 0, 0, 2);
	pc_rs_arrive(&rs);
	pc_rs_arrive(&rs);
	rs.version = 4;
	rs.completed = 5;
	pc_rs_arrive(&rs);
	pc_rs_flush(&rs);
	pc_rs_take(&rs, 6, &h);
	ck_assert_uint_eq(h.round, 6);
	ck_assert_uint_eq(h.contributions, 3);
	ck_assert_int_eq(h.staleness, 3);
	ck_assert_uint_eq(h.flushed, 1);
	ck_assert_uint_eq(rs.pend_count, 0);
	ck_assert_int_eq(rs.in_round, 1);
	ck_assert_uint_ge(rs.triggered, 6); /* joining r means r is triggered */
	/* Reset: the next take is empty. */
	h.flushed = 1;
	pc_rs_complete(&rs, &h); /* P = 3, flushed 1: not final */
	pc_rs_take(&rs, 7, &h);
	ck_assert_uint_eq(h.contributions, 0);
	ck_assert_int_eq(h.staleness, -1);

	/* Fresh step taken in the very next round: staleness 0. */
	rs_at(&rs, PCOLL_SYNC, 2, 1, 0, 0, 0, 9);
	pc_rs_arrive(&rs);
	pc_rs_take(&rs, 10, &h);
	ck_assert_uint_eq(h.contributions, 1);
	ck_assert_int_eq(h.staleness, 0);
}
END_TEST

/* --------------------------------------------------------------- complete */

START_TEST(test_complete)
{
	for (int P = 1; P <= 6; P++)
		for (uint64_t f = 0; f <= (uint64_t)P; f++) {
			pc_rs_t rs;
			rs_at(&rs, PCOLL_MAJORITY, P, 0, 1, 0, 0, 4);
			pc_rs_flush(&rs);
			pc_hdr_t h;
			pc_rs_triggered(&rs, 5);
			pc_rs_take(&rs, 5, &h);
			h.flushed = f;
			h.contributions = 3;
			int fin = pc_rs_complete(&rs, &h);
			int want = f == (uint64_t)P;
			ck_assert_int_eq(fin, want);
			ck_assert_uint_eq(rs.completed, 5);
			ck_assert_int_eq(rs.in_round, 0);
			ck_assert_uint_eq(rs.epoch, (uint64_t)want);
			ck_assert_int_eq(rs.flushed, !want);
			ck_assert_uint_eq(rs.version, 4); /* given only by the caller */
		}
}
END_TEST

/* -------------------------------------------------------- self initiation */

START_TEST(test_self_initiate_root)
{
	const int P = 4;
	volatile uint64_t fs[4];
	pc_rs_t rs;
	for (size_t m = 0; m < NELEM(all_modes); m++) {
		int mode = all_modes[m];
		/* Everyone flushed in epoch 0: the root initiates the next round. */
		rs_at(&rs, mode, P, 0, 1, 2, 0, 7);
		for (int p = 0; p < P; p++)
			fs[p] = 1;
		ck_assert_uint_eq(pc_rs_self_initiate(&rs, fs), 8);
		/* One has not flushed: nothing. */
		for (int q = 0; q < P; q++) {
			fs[q] = 0;
			ck_assert_uint_eq(pc_rs_self_initiate(&rs, fs), 0);
			fs[q] = 1;
		}
		/* A round is already triggered beyond completed: nothing. */
		pc_rs_triggered(&rs, 8);
		ck_assert_uint_eq(pc_rs_self_initiate(&rs, fs), 0);
		/* In a round: nothing. */
		rs_at(&rs, mode, P, 0, 1, 2, 0, 7);
		rs.in_round = 1;
		ck_assert_uint_eq(pc_rs_self_initiate(&rs, fs), 0);
		/* Flush slots count epochs: after epoch 1, slots must show 2. */
		rs_at(&rs, mode, P, 0, 1, 2, 0, 7);
		rs.epoch = 1;
		ck_assert_uint_eq(pc_rs_self_initiate(&rs, fs), 0);
		for (int p = 0; p < P; p++)
			fs[p] = 2;
		ck_assert_uint_eq(pc_rs_self_initiate(&rs, fs), 8);
		/* Not the root (no flush slots): nothing unless majority initiator. */
		rs_at(&rs, mode, P, 1, 1, 2, 0, 7);
		ck_assert_uint_eq(pc_rs_self_initiate(&rs, NULL), 0);
	}
}
END_TEST

START_TEST(test_self_initiate_majority)
{
	const int P = 5;
	for (uint64_t seed = 0; seed < 4; seed++)
		for (uint64_t c = 0; c < 30; c++)
			for (int rank = 1; rank < P; rank++) {
				int mine = pc_initiator(seed, c + 1, P) == rank;
				for (size_t m = 0; m < NELEM(all_modes); m++) {
					pc_rs_t rs;
					rs_at(&rs, all_modes[m], P, rank, 2, 3, seed, c);
					/* Not flushed: the arrival does it, not this. */
					REQUIRE(pc_rs_self_initiate(&rs, NULL) == 0, "unflushed");
					pc_rs_flush(&rs);
					uint64_t want =
					    (all_modes[m] == PCOLL_MAJORITY && mine) ? c + 1 : 0;
					uint64_t got = pc_rs_self_initiate(&rs, NULL);
					REQUIRE(got == want,
						"mode %d seed %" PRIu64 " c=%" PRIu64
						" rank %d: %" PRIu64 ", expected %" PRIu64,
						all_modes[m], seed, c, rank, got, want);
					/* Once triggered, not again. */
					pc_rs_triggered(&rs, c + 1);
					REQUIRE(pc_rs_self_initiate(&rs, NULL) == 0, "twice");
				}
			}
}
END_TEST

/* ----------------------------------------------------------------- quorum */

START_TEST(test_quorum_ready)
{
	const int P = 5;
	volatile uint64_t arr[5], fs[5];
	for (int k = 1; k <= P; k++)
		for (unsigned mask = 0; mask < (1u << P); mask++)
			for (unsigned fmask = 0; fmask < (1u << P); fmask += 3) {
				pc_rs_t rs;
				rs_at(&rs, PCOLL_QUORUM, P, 0, 1, k, 0, 4);
				/* mask: arrived for round 5 (or later); otherwise for
				 * round 4 or never. fmask: flushed in this epoch. */
				int n = 0;
				for (int p = 0; p < P; p++) {
					int a = (mask >> p) & 1, f = (fmask >> p) & 1;
					arr[p] = a ? 5 + (uint64_t)(p & 1) : (p & 2 ? 4 : 0);
					fs[p] = f ? 1 : 0;
					n += a || f;
				}
				uint64_t want = n >= k ? 5 : 0;
				uint64_t got = pc_rs_quorum_ready(&rs, arr, fs);
				REQUIRE(got == want,
					"k=%d mask %x fmask %x: %" PRIu64 ", expected %" PRIu64, k,
					mask, fmask, got, want);
			}
	/* Only the root of a quorum collective decides. */
	for (int p = 0; p < P; p++) {
		arr[p] = 9;
		fs[p] = 0;
	}
	pc_rs_t rs;
	rs_at(&rs, PCOLL_QUORUM, P, 2, 1, 1, 0, 4);
	ck_assert_uint_eq(pc_rs_quorum_ready(&rs, arr, fs), 0);
	for (size_t m = 0; m < 3; m++) {
		rs_at(&rs, all_modes[m], P, 0, 1, 1, 0, 4);
		ck_assert_uint_eq(pc_rs_quorum_ready(&rs, arr, fs), 0);
	}
	/* Counts against the round after the last triggered one. */
	rs_at(&rs, PCOLL_QUORUM, P, 0, 1, 2, 0, 9);
	ck_assert_uint_eq(pc_rs_quorum_ready(&rs, arr, fs), 0);
	arr[1] = 10;
	arr[3] = 12;
	ck_assert_uint_eq(pc_rs_quorum_ready(&rs, arr, fs), 10);
	/* Flush slots of an older epoch do not count. */
	rs_at(&rs, PCOLL_QUORUM, P, 0, 1, 2, 0, 4);
	rs.epoch = 2;
	for (int p = 0; p < P; p++) {
		arr[p] = 0;
		fs[p] = 2;
	}
	ck_assert_uint_eq(pc_rs_quorum_ready(&rs, arr, fs), 0);
	fs[0] = fs[4] = 3;
	ck_assert_uint_eq(pc_rs_quorum_ready(&rs, arr, fs), 5);
}
END_TEST

/* Flushed processes count as arrived at every version, but that must not make
 * the root announce one round after another, each on its own activation
 * tree, on every engine pass: until round completed + 1 completes, there is
 * nothing further to trigger. */
START_TEST(test_quorum_no_runaway)
{
	const int P = 4;
	volatile uint64_t arr[4] = {0}, fs[4] = {1, 1, 1, 0};
	for (int k = 1; k <= 3; k++) {
		pc_rs_t rs;
		rs_at(&rs, PCOLL_QUORUM, P, 0, 1, k, 0, 4);
		ck_assert_uint_eq(pc_rs_quorum_ready(&rs, arr, fs), 5);
		pc_rs_triggered(&rs, 5);
		uint64_t again = pc_rs_quorum_ready(&rs, arr, fs);
		ck_assert_msg(again == 0,
			      "k=%d: round %" PRIu64 " triggered while round 5 is not complete", k,
			      again);
		/* Once round 5 completes, round 6 is due. */
		pc_hdr_t h;
		pc_rs_take(&rs, 5, &h);
		pc_rs_complete(&rs, &h);
		ck_assert_uint_eq(pc_rs_quorum_ready(&rs, arr, fs), 6);
	}
}
END_TEST

/* ------------------------------------------------ whole-run simulation */

#define MAXPROC	  8
#define MAXROUNDS 4096
#define MAXSTEPS  40

enum { PS_COMPUTE, PS_STEP, PS_FLUSH, PS_DONE };
enum { EV_TRIGGER, EV_ARRIVAL, EV_FLUSHSLOT };

typedef struct msg {
	double t;
	int kind, to, from;
	uint64_t v;
} msg_t;

typedef struct proc {
	pc_rs_t rs;
	int state;
	double t_ready;
	int steps_left, steps_total;
	uint64_t step_target;
	double speed;
	/* Oracle: versions of the contributions not yet taken. */
	int64_t pend[MAXSTEPS + 1];
	int npend;
	uint64_t taken; /* contributions this process has had taken */
} proc_t;

typedef struct world {
	int P, mode, S, k;
	uint64_t seed, rng;
	double t;
	proc_t p[MAXPROC];
	volatile uint64_t arrival[MAXPROC], flushslot[MAXPROC];
	msg_t *msgs;
	size_t nmsgs, mcap;
	int taken[MAXROUNDS + 2];
	pc_hdr_t acc[MAXROUNDS + 2];
	uint64_t total_steps, total_contrib, nrounds;
	uint64_t final_round;
	char label[128];
} world_t;

/* What a batch of runs went through, so that the checks above are known not
 * to be vacuous. */
typedef struct wstats {
	uint64_t holds, rounds, max_given, carried, steps;
	int64_t max_stale;
} wstats_t;

static wstats_t stats;

static uint64_t wrng(world_t *w)
{
	uint64_t z = (w->rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double wuni(world_t *w)
{
	return (double)(wrng(w) >> 11) / 9007199254740992.0;
}

static void post(world_t *w, int kind, int from, int to, uint64_t v)
{
	if (w->nmsgs == w->mcap) {
		w->mcap = w->mcap ? 2 * w->mcap : 256;
		w->msgs = realloc(w->msgs, w->mcap * sizeof(*w->msgs));
		ck_assert_ptr_nonnull(w->msgs);
	}
	w->msgs[w->nmsgs++] =
	    (msg_t){.t = w->t + 0.01 + 0.3 * wuni(w), .kind = kind, .to = to, .from = from, .v = v};
}

/* Activation of round r reaches every other process (tree or data). */
static void broadcast_trigger(world_t *w, int from, uint64_t r)
{
	for (int q = 0; q < w->P; q++)
		if (q != from)
			post(w, EV_TRIGGER, from, q, r);
}

static double compute_time(world_t *w, proc_t *p)
{
	double d = p->speed * (0.5 + wuni(w));
	if (wuni(w) < 0.05)
		d *= 10; /* a transient straggler */
	return d;
}

static void complete_round(world_t *w, uint64_t r)
{
	pc_hdr_t *h = &w->acc[r];
	REQUIRE(h->staleness <= w->S, "%s: round %" PRIu64 " staleness %" PRId64, w->label, r,
		h->staleness);
	int finals = 0;
	for (int i = 0; i < w->P; i++) {
		proc_t *p = &w->p[i];
		REQUIRE(p->rs.in_round && p->rs.completed == r - 1,
			"%s: process %d completes round %" PRIu64 " from completed %" PRIu64
			" in_round %d",
			w->label, i, r, p->rs.completed, p->rs.in_round);
		finals += pc_rs_complete(&p->rs, h);
		REQUIRE(p->rs.completed == r, "completed");
	}
	REQUIRE(finals == 0 || finals == w->P, "%s: round %" PRIu64 " final on %d of %d", w->label,
		r, finals, w->P);
	REQUIRE((finals == w->P) == (h->flushed == (uint64_t)w->P),
		"%s: round %" PRIu64 " flushed %" PRIu64 " of %d, final on %d", w->label, r,
		h->flushed, w->P, finals);
	w->total_contrib += h->contributions;
	w->nrounds = r;
	if (finals) {
		REQUIRE(w->final_round == 0, "%s: two final rounds", w->label);
		w->final_round = r;
		for (int i = 0; i < w->P; i++) {
			proc_t *p = &w->p[i];
			REQUIRE(p->state == PS_FLUSH,
				"%s: final round %" PRIu64 " while process %d is in state %d",
				w->label, r, i, p->state);
			p->state = PS_DONE;
		}
	}
}

/* One process takes round r: check its header against the oracle. */
static void take(world_t *w, int i, uint64_t r)
{
	proc_t *p = &w->p[i];
	REQUIRE(r >= 1 && r <= MAXROUNDS, "%s: round %" PRIu64, w->label, r);
	int was_flushed = p->rs.flushed;
	pc_hdr_t h;
	pc_rs_take(&p->rs, r, &h);
	int64_t oldest = INT64_MAX;
	for (int k = 0; k < p->npend; k++)
		if (p->pend[k] < oldest)
			oldest = p->pend[k];
	int64_t want_st = p->npend ? (int64_t)r - 1 - oldest : -1;
	REQUIRE(h.round == r && h.contributions == (uint64_t)p->npend && h.staleness == want_st &&
		    h.flushed == (uint64_t)was_flushed,
		"%s: process %d takes round %" PRIu64 ": contributions %" PRIu64
		" staleness %" PRId64 " flushed %" PRIu64 ", expected %d, %" PRId64 ", %d",
		w->label, i, r, h.contributions, h.staleness, h.flushed, p->npend, want_st,
		was_flushed);
	REQUIRE(h.staleness <= w->S,
		"%s: process %d: staleness %" PRId64 " > S=%d in round %" PRIu64, w->label, i,
		h.staleness, w->S, r);
	if (w->mode == PCOLL_SYNC)
		REQUIRE(h.staleness <= 0 && h.contributions <= 1,
			"%s: sync round %" PRIu64 " process %d: %" PRIu64 " contributions, "
			"staleness %" PRId64,
			w->label, r, i, h.contributions, h.staleness);
	p->taken += h.contributions;
	p->npend = 0;
	if (h.contributions > 1)
		stats.carried++;
	if (h.staleness > stats.max_stale)
		stats.max_stale = h.staleness;
	pc_hdr_t *a = &w->acc[r];
	if (w->taken[r] == 0) {
		*a = h;
	} else {
		a->contributions += h.contributions;
		a->flushed += h.flushed;
		if (h.staleness > a->staleness)
			a->staleness = h.staleness;
	}
	w->taken[r]++;
	/* Its data lands at the peers: they learn that r is triggered. */
	broadcast_trigger(w, i, r);
	if (w->taken[r] == w->P)
		complete_round(w, r);
}

static void initiate(world_t *w, int i, uint64_t r)
{
	pc_rs_triggered(&w->p[i].rs, r);
	broadcast_trigger(w, i, r);
}

/* One pass of process i's progress engine (as lib/engine.c orders it). */
static int engine(world_t *w, int i)
{
	proc_t *p = &w->p[i];
	int moved = 0;
	if (i == 0) {
		uint64_t q = pc_rs_quorum_ready(&p->rs, w->arrival, w->flushslot);
		if (q) {
			p->rs.initiated++;
			initiate(w, i, q);
			moved = 1;
		}
	}
	uint64_t self = pc_rs_self_initiate(&p->rs, i == 0 ? w->flushslot : NULL);
	if (self) {
		if (w->mode != PCOLL_SYNC)
			initiate(w, i, self);
		else
			pc_rs_triggered(&p->rs, self);
		moved = 1;
	}
	for (;;) {
		if (p->rs.in_round)
			break;
		uint64_t r = pc_rs_joinable(&p->rs);
		if (!r)
			break;
		take(w, i, r);
		moved = 1;
	}
	/* Rounds complete everywhere at once here, so no arrival, activation or
	 * data can be for a round beyond completed + 1: announcing one means
	 * triggering rounds nobody asked for (one more per engine pass). */
	REQUIRE(p->rs.triggered <= p->rs.completed + 1,
		"%s: process %d: round %" PRIu64 " triggered with only %" PRIu64 " completed",
		w->label, i, p->rs.triggered, p->rs.completed);
	return moved;
}

static void start_flush(world_t *w, int i)
{
	proc_t *p = &w->p[i];
	pc_rs_flush(&p->rs);
	p->state = PS_FLUSH;
	if (i == 0)
		w->flushslot[0] = p->rs.epoch + 1;
	else
		post(w, EV_FLUSHSLOT, i, 0, p->rs.epoch + 1);
}

/* Hand a blocked process its rounds once round step_target has completed. */
static int unblock(world_t *w, int i)
{
	proc_t *p = &w->p[i];
	if (p->state != PS_STEP || p->rs.completed < p->step_target)
		return 0;
	uint64_t given = p->rs.completed - p->rs.version;
	REQUIRE(given >= 1 && given <= (uint64_t)w->S + 1,
		"%s: process %d handed %" PRIu64 " rounds at once (S=%d)", w->label, i, given,
		w->S);
	p->rs.version = p->rs.completed;
	if (given > stats.max_given)
		stats.max_given = given;
	if (--p->steps_left > 0) {
		p->state = PS_COMPUTE;
		p->t_ready = w->t + compute_time(w, p);
	} else {
		start_flush(w, i);
	}
	return 1;
}

static void do_step(world_t *w, int i)
{
	proc_t *p = &w->p[i];
	REQUIRE(p->npend < MAXSTEPS, "pending overflow");
	p->pend[p->npend++] = (int64_t)p->rs.version;
	w->total_steps++;
	int a = pc_rs_arrive(&p->rs);
	uint64_t next = p->rs.version + 1;
	switch (a) {
	case PC_ARRIVE_LOCAL:
		REQUIRE(w->mode == PCOLL_SYNC, "%s: LOCAL in mode %d", w->label, w->mode);
		break;
	case PC_ARRIVE_INITIATE:
		REQUIRE(w->mode == PCOLL_SOLO || w->mode == PCOLL_MAJORITY,
			"%s: INITIATE in mode %d", w->label, w->mode);
		broadcast_trigger(w, i, next);
		break;
	case PC_ARRIVE_NOTIFY_ROOT:
		REQUIRE(w->mode == PCOLL_QUORUM, "%s: NOTIFY_ROOT in mode %d", w->label, w->mode);
		if (i == 0)
			w->arrival[0] = next;
		else
			post(w, EV_ARRIVAL, i, 0, next);
		break;
	default:
		REQUIRE(a == PC_ARRIVE_NONE, "%s: action %d", w->label, a);
	}
	p->state = PS_STEP;
	p->step_target = next;
}

static void run_world(int mode, int P, int S, int k, uint64_t seed)
{
	world_t *w = calloc(1, sizeof(*w));
	ck_assert_ptr_nonnull(w);
	w->P = P;
	w->mode = mode;
	w->S = mode == PCOLL_SYNC ? 0 : S;
	w->k = k;
	w->seed = seed;
	w->rng = seed * 7919 + (uint64_t)P * 131 + (uint64_t)mode * 17 + (uint64_t)S;
	snprintf(w->label, sizeof(w->label), "mode %s P=%d S=%d k=%d seed %" PRIu64,
		 mode_name(mode), P, S, k, seed);
	for (int i = 0; i < P; i++) {
		proc_t *p = &w->p[i];
		pc_rs_init(&p->rs, mode, P, i, S, k, seed ^ 0x5151);
		/* Uneven data: 0 to MAXSTEPS-10 steps; some processes persistently slow. */
		p->steps_total = (int)(wrng(w) % (MAXSTEPS - 9));
		p->steps_left = p->steps_total;
		p->speed = 1.0 + (wuni(w) < 0.3 ? 2.0 * wuni(w) : 0.0);
		if (p->steps_left > 0) {
			p->state = PS_COMPUTE;
			p->t_ready = compute_time(w, p);
		} else {
			start_flush(w, i);
		}
	}
	long events = 0;
	for (;;) {
		/* Engines and unblocking to quiescence. */
		int passes = 0, moved;
		do {
			moved = 0;
			for (int i = 0; i < P; i++) {
				moved |= engine(w, i);
				moved |= unblock(w, i);
			}
			REQUIRE(++passes < 10000,
				"%s: engines never quiesce (triggered %" PRIu64
				", completed %" PRIu64 ")",
				w->label, w->p[0].rs.triggered, w->p[0].rs.completed);
		} while (moved);
		int alldone = 1;
		for (int i = 0; i < P; i++)
			alldone &= w->p[i].state == PS_DONE;
		/* Next event: a computation ends or a message lands. */
		double tmin = 1e300;
		int who = -1;
		size_t mi = (size_t)-1;
		for (int i = 0; i < P; i++)
			if (w->p[i].state == PS_COMPUTE && w->p[i].t_ready < tmin) {
				tmin = w->p[i].t_ready;
				who = i;
			}
		for (size_t m = 0; m < w->nmsgs; m++)
			if (w->msgs[m].t < tmin) {
				tmin = w->msgs[m].t;
				mi = m;
				who = -1;
			}
		if (who < 0 && mi == (size_t)-1) {
			if (alldone)
				break;
			char st[256];
			int n = 0;
			for (int i = 0; i < P; i++)
				n += snprintf(st + n, sizeof(st) - (size_t)n,
					      " [%d: state %d v%" PRIu64 " c%" PRIu64 " t%" PRIu64
					      " a%" PRId64 " f%d]",
					      i, w->p[i].state, w->p[i].rs.version,
					      w->p[i].rs.completed, w->p[i].rs.triggered,
					      w->p[i].rs.last_arrival, w->p[i].rs.flushed);
			ck_abort_msg("%s: deadlock:%s", w->label, st);
		}
		REQUIRE(++events < 2000000, "%s: runaway", w->label);
		w->t = tmin;
		if (who >= 0) {
			do_step(w, who);
		} else {
			msg_t m = w->msgs[mi];
			w->msgs[mi] = w->msgs[--w->nmsgs];
			switch (m.kind) {
			case EV_TRIGGER:
				pc_rs_triggered(&w->p[m.to].rs, m.v);
				break;
			case EV_ARRIVAL:
				if (m.v > w->arrival[m.from])
					w->arrival[m.from] = m.v;
				break;
			default:
				w->flushslot[m.from] = m.v;
			}
		}
	}
	/* Every process saw the same final round; nothing is left anywhere. */
	REQUIRE(w->final_round > 0, "%s: no final round", w->label);
	REQUIRE(w->nrounds == w->final_round, "%s: rounds after the final one", w->label);
	for (int i = 0; i < P; i++) {
		proc_t *p = &w->p[i];
		REQUIRE(p->rs.completed == w->final_round && p->rs.epoch == 1 && !p->rs.flushed &&
			    !p->rs.in_round && p->rs.pend_count == 0,
			"%s: process %d at the end: completed %" PRIu64 " epoch %" PRIu64
			" flushed %d in_round %d pending %" PRIu64,
			w->label, i, p->rs.completed, p->rs.epoch, p->rs.flushed, p->rs.in_round,
			p->rs.pend_count);
		/* Carried over, never dropped: all of its steps were taken. */
		REQUIRE(p->taken == (uint64_t)p->steps_total && p->npend == 0,
			"%s: process %d stepped %d times, %" PRIu64 " taken", w->label, i,
			p->steps_total, p->taken);
		REQUIRE(p->rs.steps == (uint64_t)p->steps_total, "steps");
	}
	for (uint64_t r = w->final_round + 1; r <= MAXROUNDS; r++)
		REQUIRE(w->taken[r] == 0,
			"%s: round %" PRIu64 " after the final round %" PRIu64 " joined by %d",
			w->label, r, w->final_round, w->taken[r]);
	for (int i = 0; i < P; i++)
		stats.holds += w->p[i].rs.holds;
	stats.rounds += w->final_round;
	stats.steps += w->total_steps;
	/* Conservation. */
	REQUIRE(w->total_contrib == w->total_steps,
		"%s: rounds carry %" PRIu64 " contributions, %" PRIu64 " steps were taken",
		w->label, w->total_contrib, w->total_steps);
	free(w->msgs);
	free(w);
}

static const int sim_P[] = {1, 2, 3, 5, 8};
static const int sim_S[] = {0, 1, 3};

/* _i: index into mode x (quorum k variants). */
static void world_matrix(int mode, int kvariant)
{
	for (size_t a = 0; a < NELEM(sim_P); a++)
		for (size_t b = 0; b < NELEM(sim_S); b++) {
			int P = sim_P[a], S = sim_S[b];
			int k = kvariant == 0 ? 1 : kvariant == 1 ? (P + 1) / 2 : P;
			memset(&stats, 0, sizeof(stats));
			stats.max_stale = -1;
			for (uint64_t seed = 1; seed <= 25; seed++)
				run_world(mode, P, S, k, seed);
			if (getenv("ROUND_SIM_STATS"))
				printf("%s P=%d S=%d k=%d: steps %" PRIu64 " rounds %" PRIu64
				       " holds %" PRIu64 " max given %" PRIu64 " carried %" PRIu64
				       " max staleness %" PRId64 "\n",
				       mode_name(mode), P, S, k, stats.steps, stats.rounds,
				       stats.holds, stats.max_given, stats.carried,
				       stats.max_stale);
			/* The runs reached the cases the checks are about. */
			ck_assert_uint_gt(stats.steps, 0);
			ck_assert_uint_ge(stats.rounds, stats.steps / (uint64_t)P);
			/* sync and quorum:P wait for everyone: nobody runs ahead. */
			int ahead =
			    P > 1 && mode != PCOLL_SYNC && !(mode == PCOLL_QUORUM && k == P);
			if (ahead && S > 0) {
				ck_assert_int_ge(stats.max_stale, 1);
				ck_assert_uint_ge(stats.max_given, 2);
				ck_assert_uint_gt(stats.carried, 0);
			}
			if (ahead || (P > 1 && mode == PCOLL_SYNC))
				ck_assert_uint_gt(stats.holds, 0);
		}
}

START_TEST(test_world_sync)
{
	world_matrix(PCOLL_SYNC, 0);
}
END_TEST

START_TEST(test_world_solo)
{
	world_matrix(PCOLL_SOLO, 0);
}
END_TEST

START_TEST(test_world_majority)
{
	world_matrix(PCOLL_MAJORITY, 0);
}
END_TEST

START_TEST(test_world_quorum)
{
	world_matrix(PCOLL_QUORUM, _i);
}
END_TEST

/* ------------------------------------------------------------------ suite */

static Suite *round_suite(void)
{
	Suite *s = suite_create("round");
	TCase *tc = tcase_create("state");
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_arrive_sync);
	tcase_add_test(tc, test_arrive_solo);
	tcase_add_test(tc, test_arrive_majority);
	tcase_add_test(tc, test_arrive_quorum);
	tcase_add_test(tc, test_arrive_late);
	tcase_add_test(tc, test_triggered_monotone);
	tcase_add_test(tc, test_holds_table);
	tcase_add_test(tc, test_joinable);
	tcase_add_test(tc, test_take);
	tcase_add_test(tc, test_complete);
	tcase_add_test(tc, test_self_initiate_root);
	tcase_add_test(tc, test_self_initiate_majority);
	tcase_add_test(tc, test_quorum_ready);
	tcase_add_test(tc, test_quorum_no_runaway);
	suite_add_tcase(s, tc);

	tc = tcase_create("simulation");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_world_sync);
	tcase_add_test(tc, test_world_solo);
	tcase_add_test(tc, test_world_majority);
	tcase_add_loop_test(tc, test_world_quorum, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(round_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
