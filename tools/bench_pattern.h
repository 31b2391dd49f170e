/*
 * bench_pattern.h -- the imbalance patterns of `pcoll_bench imbalance`: the
 * compute time of every process at every version, drawn from the pattern's
 * index, the seed and the version only, so every process (and pcoll_model,
 * which replays them through the simulators) draws the same times.
 *
 * No pcoll.h here: pcoll_model uses it without the library.
 */
#ifndef PCOLL_BENCH_PATTERN_H
#define PCOLL_BENCH_PATTERN_H

#include <stddef.h>
#include <stdint.h>

enum pat_kind { PAT_RANDOM, PAT_SLOW, PAT_PARETO };

struct pattern {
	const char *name;
	enum pat_kind kind;
	int ndelayed;
	double factor;
	const char *what;
};

/** The patterns, in the order that keys their random streams. */
extern const struct pattern bench_patterns[];
extern const int bench_npatterns;

/** Index of the pattern called name (the first len characters), or -1. */
int bench_pattern_find(const char *name, size_t len);

/** 1 when list (comma-separated names; NULL: all) names pattern name. */
int bench_pattern_selected(const char *list, const char *name);

/** 1 when pattern pi can run on P processes (it delays fewer than P). */
int bench_pattern_fits(int pi, int P);

/**
 * Compute times (ms) of the P processes at version v under pattern pi:
 * c[0..P-1]; perm is scratch of P ints. Identical for identical arguments.
 */
void bench_pattern_times(int pi, uint64_t seed, double base_ms, int P, uint64_t v, double *c,
			 int *perm);

#endif
