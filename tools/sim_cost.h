/*
 * sim_cost.h -- the replay of sim_ideal.h with communication cost: the same
 * processes, rounds and rules, but a round takes time.
 *
 * Round r is triggered at the moment its rule is met (sync: the last
 * arrival, solo: the first, majority: the initiator's, quorum: the k-th
 * arrival's write reaching rank 0). Process p knows it `learn` later (the
 * activation tree from the root: the first arriver, the initiator, rank 0;
 * in sync and in solo a process also knows at its own arrival) and joins at
 * J_p = max(completion of round r-1, the moment it knows, the moment its
 * staleness stops holding it). The round completes everywhere at
 * max_p J_p + `round`: every result depends on every contribution, and every
 * path through a recursive-doubling or reduce-scatter + allgather round has
 * the same number of steps. With every cost zero this is sim_ideal exactly
 * (tests/check_model.c checks it).
 */
#ifndef PCOLL_SIM_COST_H
#define PCOLL_SIM_COST_H

#include "sim_ideal.h"

struct sim_cost {
	double round;  /**< last join to completion of a round (unit of compute) */
	double notify; /**< quorum: an arrival's write reaching rank 0 */
	/** Delays from the root's initiation until each process knows the
	 * round: t[0..P-1]. NULL: none. */
	void (*learn)(void *arg, int root, double *t);
	void *arg;
};

/**
 * Run the costed replay; cost NULL is zero cost. Returns 0, or -1 on bad
 * arguments, on out of memory or when the rules deadlock.
 */
int sim_cost(const struct sim_cfg *cfg, const struct sim_cost *cost, struct sim_result *res);

#endif
