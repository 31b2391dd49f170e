/*
 * model_run.c -- one prediction (model_run.h): the pattern's compute times,
 * the majority initiators pcoll draws, the costs of model_cost.c in the
 * simulator's unit (ms), and the two replays.
 */
#include "model_run.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_pattern.h"
#include "sim_cost.h"

struct run_arg {
	const struct model_case *c;
	const double *cm; /* cm[v * P + p]: compute (ms) of p at version v */
};

static double run_compute(void *arg, uint64_t v, int p)
{
	const struct run_arg *a = arg;
	return a->cm[v * (uint64_t)a->c->P + (uint64_t)p];
}

static int run_initiator(void *arg, uint64_t r)
{
	const struct run_arg *a = arg;
	return model_initiator(MODEL_INIT_SEED, r, a->c->P);
}

static void run_learn(void *arg, int root, double *t)
{
	const struct run_arg *a = arg;
	const struct model_case *c = a->c;
	model_learn(c->m, c->P, c->count, c->dtsize, root, t);
	for (int p = 0; p < c->P; p++)
		t[p] *= 1e-3; /* us -> ms */
}

int model_run_case(const struct model_case *c, struct model_out *o)
{
	if (c->P < 1 || c->rounds < 1 || c->count < 1 || c->pattern < 0 ||
	    c->pattern >= bench_npatterns || !bench_pattern_fits(c->pattern, c->P))
		return -1;
	size_t P = (size_t)c->P;
	double *cm = malloc(sizeof(double) * P * (size_t)c->rounds);
	double *t = malloc(sizeof(double) * P);
	int *perm = malloc(sizeof(int) * P);
	int rc = -1;
	if (!cm || !t || !perm)
		goto out;
	for (uint64_t v = 0; v < c->rounds; v++)
		bench_pattern_times(c->pattern, c->seed, c->base_ms, c->P, v, cm + v * P, perm);
	struct run_arg a = {c, cm};
	struct sim_cfg cfg = {c->mode, c->P, c->S, c->k, c->rounds, run_compute, run_initiator, &a};
	struct sim_result ideal, costed;
	memset(o, 0, sizeof(*o));
	/* The ideal: the costed replay at zero cost, which is sim_ideal's to the
	 * last bit (tests/check_model.c) but O(log P) per step, not O(P). */
	if (sim_cost(&cfg, NULL, &ideal))
		goto out;
	struct sim_cost cost = {0};
	if (c->m) {
		cost.round = model_round(c->m, c->P, c->count, c->dtsize) * 1e-3;
		cost.notify = model_notify(c->m) * 1e-3;
		cost.learn = run_learn;
		cost.arg = &a;
		o->round_us = cost.round * 1e3;
		model_learn(c->m, c->P, c->count, c->dtsize, 0, t);
		for (size_t p = 0; p < P; p++)
			o->learn_max_us = t[p] > o->learn_max_us ? t[p] : o->learn_max_us;
	}
	if (sim_cost(&cfg, &cost, &costed))
		goto out;
	o->sps_ideal = (double)c->rounds / (ideal.t_first * 1e-3);
	o->sps_model = (double)c->rounds / (costed.t_first * 1e-3);
	o->holds = costed.holds;
	rc = 0;
out:
	free(perm);
	free(t);
	free(cm);
	return rc;
}

int model_parse_mode(const char *label, pcoll_mode_t *mode, int *k)
{
	static const char *const names[] = {"sync", "solo", "majority", "quorum"};
	size_t len = strcspn(label, ":");
	*k = 0;
	for (int i = 0; i < 4; i++) {
		if (strlen(names[i]) != len || strncmp(label, names[i], len) != 0)
			continue;
		*mode = (pcoll_mode_t)i;
		if (label[len] == ':') {
			char *end;
			long v = strtol(label + len + 1, &end, 10);
			if (i != PCOLL_QUORUM || *end || v < 1 || v > 1 << 30)
				return -1;
			*k = (int)v;
		}
		return 0;
	}
	return -1;
}

int model_read_imbalance(const char *path, struct model_meas **v, int *n, int *cap, char *err,
			 size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int added = 0;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *fl[24];
		int nf = 0;
		line[strcspn(line, "\r\n")] = '\0';
		for (char *s = line; nf < 24;) {
			fl[nf++] = s;
			if (!(s = strchr(s, ',')))
				break;
			*s++ = '\0';
		}
		/* bench,impl,mode,provider,P,size,pattern,base_ms,steps,sps_measured,
		 * sps_ideal,ratio,ideal_basis,sps_mean_rank,sps_last_rank,staleness,... */
		if (nf < 16 || strcmp(fl[0], "imbalance") != 0 || strcmp(fl[1], "pcoll") != 0)
			continue;
		if (*n == *cap) {
			int nc = *cap ? 2 * *cap : 64;
			struct model_meas *nv = realloc(*v, (size_t)nc * sizeof(**v));
			if (!nv) {
				snprintf(err, errlen, "out of memory");
				fclose(f);
				return -1;
			}
			*v = nv;
			*cap = nc;
		}
		struct model_meas *m = &(*v)[(*n)++];
		memset(m, 0, sizeof(*m));
		snprintf(m->mode, sizeof(m->mode), "%s", fl[2]);
		snprintf(m->provider, sizeof(m->provider), "%s", fl[3]);
		m->P = atoi(fl[4]);
		m->size = (size_t)strtoull(fl[5], NULL, 10);
		snprintf(m->pattern, sizeof(m->pattern), "%s", fl[6]);
		m->base_ms = strtod(fl[7], NULL);
		m->rounds = strtoull(fl[8], NULL, 10);
		m->sps = strtod(fl[9], NULL);
		m->sps_ideal = strtod(fl[10], NULL);
		m->S = atoi(fl[15]);
		added++;
	}
	fclose(f);
	return added;
}
