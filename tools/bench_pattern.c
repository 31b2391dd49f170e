/*
 * bench_pattern.c -- the imbalance patterns (bench_pattern.h): 1 or 2 random
 * processes per version delayed to a factor of the base (the paper's), one
 * persistently slow process, and Pareto-tailed delays.
 */
#include "bench_pattern.h"

#include <math.h>
#include <string.h>

#include "bench_common.h"

#define PARETO_ALPHA 2.0
#define PARETO_CAP   20.0

const struct pattern bench_patterns[] = {
    {"paper-1x2", PAT_RANDOM, 1, 2.0, "1 random process per round at 2x"},
    {"paper-1x5", PAT_RANDOM, 1, 5.0, "1 random process per round at 5x"},
    {"paper-1x10", PAT_RANDOM, 1, 10.0, "1 random process per round at 10x"},
    {"paper-2x2", PAT_RANDOM, 2, 2.0, "2 random processes per round at 2x"},
    {"paper-2x5", PAT_RANDOM, 2, 5.0, "2 random processes per round at 5x"},
    {"paper-2x10", PAT_RANDOM, 2, 10.0, "2 random processes per round at 10x"},
    {"slow-1x2", PAT_SLOW, 1, 2.0, "the last rank always at 2x"},
    {"pareto", PAT_PARETO, 0, PARETO_CAP, "every process x Pareto(xm=1, alpha=2), capped at 20x"},
};
const int bench_npatterns = (int)(sizeof(bench_patterns) / sizeof(bench_patterns[0]));

int bench_pattern_find(const char *name, size_t len)
{
	for (int i = 0; i < bench_npatterns; i++)
		if (strlen(bench_patterns[i].name) == len &&
		    strncmp(bench_patterns[i].name, name, len) == 0)
			return i;
	return -1;
}

int bench_pattern_selected(const char *list, const char *name)
{
	const char *p = list;
	size_t len = strlen(name);
	if (!p)
		return 1;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);
		if (l == len && strncmp(p, name, len) == 0)
			return 1;
		p += l;
		if (*p == ',')
			p++;
	}
	return 0;
}

int bench_pattern_fits(int pi, int P)
{
	const struct pattern *p = &bench_patterns[pi];
	return !((p->kind == PAT_RANDOM && p->ndelayed >= P) || (p->kind == PAT_SLOW && P < 2));
}

void bench_pattern_times(int pi, uint64_t seed, double base_ms, int P, uint64_t v, double *c,
			 int *perm)
{
	const struct pattern *p = &bench_patterns[pi];
	uint64_t key = seed * 1000003u + (uint64_t)pi;
	for (int r = 0; r < P; r++)
		c[r] = base_ms;
	switch (p->kind) {
	case PAT_RANDOM:
		for (int r = 0; r < P; r++)
			perm[r] = r;
		for (int j = 0; j < p->ndelayed && j < P; j++) {
			int idx = j + (int)(bench_hash3(key, v, (uint64_t)j) % (uint64_t)(P - j));
			int tmp = perm[j];
			perm[j] = perm[idx];
			perm[idx] = tmp;
			c[perm[j]] = base_ms * p->factor;
		}
		break;
	case PAT_SLOW:
		c[P - 1] = base_ms * p->factor;
		break;
	case PAT_PARETO:
		for (int r = 0; r < P; r++) {
			double u = 1.0 - bench_uniform3(key, v, (uint64_t)r); /* (0, 1] */
			double x = pow(u, -1.0 / PARETO_ALPHA);
			c[r] = base_ms * (x < PARETO_CAP ? x : PARETO_CAP);
		}
		break;
	}
}
