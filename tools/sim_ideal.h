/*
 * sim_ideal.h -- the true ideal of a partial allreduce: per-process compute
 * times replayed through pcoll's round and staleness rules (DESIGN.md
 * "Semantics", lib/round.h) with zero communication cost.
 *
 * Each process loops like `pcoll_bench imbalance`: compute for
 * compute(version, p), pcoll_step, take every completed round (its version
 * becomes the last of them), until it has been given round `rounds`. Then it
 * flushes: it counts as arrived at every version and never holds a round.
 *
 * The rules, restated: rounds are global and complete in order. A process
 * stepping at version v has arrived at v and blocks until round v+1 has
 * completed. Round r is triggered by A_r, the processes that arrived at a
 * version >= r-1: sync all P, solo any one, majority the round's initiator,
 * quorum any k. A process's engine joins round r once r is triggered, r-1 has
 * completed and its newest arrival is at most S versions old
 * (last_arrival >= r-1-S; S = 0 in sync). A round completes when all P have
 * joined: at zero cost, when the last one joins.
 *
 * Uses no library code: only pcoll.h's mode constants.
 */
#ifndef PCOLL_SIM_IDEAL_H
#define PCOLL_SIM_IDEAL_H

#include <stdint.h>

#include <pcoll.h>

struct sim_cfg {
	pcoll_mode_t mode;
	int P;		 /**< processes, >= 1 */
	int S;		 /**< staleness bound (ignored in sync) */
	int k;		 /**< quorum size (quorum only), 1..P */
	uint64_t rounds; /**< N: each process runs until it is given round N */
	/** Compute time of process p at version v (any unit; >= 0). */
	double (*compute)(void *arg, uint64_t version, int p);
	/** Initiator of round r (majority only), in [0, P). */
	int (*initiator)(void *arg, uint64_t round);
	void *arg;
};

struct sim_result {
	double t_first; /**< time the first process was given round N */
	double t_mean;	/**< mean over processes of that time */
	double t_last;	/**< time the last process was given round N */
	uint64_t steps; /**< steps taken by all processes until t_last */
	uint64_t holds; /**< rounds delayed by the staleness bound (triggered, not joinable) */
};

/**
 * Run the simulation. Returns 0, or -1 on bad arguments, on out of memory
 * or when the rules deadlock (cannot happen with valid arguments).
 */
int sim_ideal(const struct sim_cfg *cfg, struct sim_result *res);

#endif
