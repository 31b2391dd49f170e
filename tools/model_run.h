/*
 * model_run.h -- one prediction of the scale model: the compute times of a
 * pcoll_bench imbalance pattern replayed through the round and staleness
 * rules twice, at zero cost (pcoll_bench's ideal) and with the LogGP costs of
 * a transport (sim_cost), in steps per second as pcoll_bench counts them
 * (rounds / time until the first process was given the last round).
 * Also: reading the measured imbalance CSVs to validate against.
 */
#ifndef PCOLL_MODEL_RUN_H
#define PCOLL_MODEL_RUN_H

#include <stddef.h>
#include <stdint.h>

#include <pcoll.h>

#include "model_fit.h"

/** pcoll's default seed of the majority initiators (pcoll_attr_init). */
#define MODEL_INIT_SEED 0x5eed

struct model_case {
	const struct loggp *m; /**< NULL: zero cost */
	int P;
	size_t count, dtsize;
	int pattern; /**< index into bench_patterns */
	double base_ms;
	uint64_t seed; /**< of the pattern (pcoll_bench -s) */
	pcoll_mode_t mode;
	int S, k;
	uint64_t rounds;
};

struct model_out {
	double sps_model;    /**< with the costs */
	double sps_ideal;    /**< at zero cost */
	double round_us;     /**< one round, everyone joining at once */
	double learn_max_us; /**< the last process to learn of a round rooted at 0 */
	uint64_t holds;	     /**< rounds held by staleness, with the costs */
};

/** Run both replays. Returns 0, or -1 (bad case, out of memory). */
int model_run_case(const struct model_case *c, struct model_out *o);

/** A mode label as pcoll_bench writes it: sync, solo, majority, quorum:K. */
int model_parse_mode(const char *label, pcoll_mode_t *mode, int *k);

/** One measured imbalance cell (pcoll_bench imbalance -c rows). */
struct model_meas {
	char provider[MODEL_NAME_LEN];
	char mode[24];
	char pattern[24];
	int P, S;
	size_t size;
	double base_ms;
	uint64_t rounds;
	double sps;	  /**< measured */
	double sps_ideal; /**< the ideal pcoll_bench replayed */
};

/** Append the imbalance rows of path to *v (*n of *cap). Returns rows or -1 with err. */
int model_read_imbalance(const char *path, struct model_meas **v, int *n, int *cap, char *err,
			 size_t errlen);

#endif
