/*
 * sgd_train.c -- one training run of pcoll_sgd: steps, rounds applied as
 * momentum-SGD updates, parameter snapshots, their evaluation after the run,
 * the replica check and the run's CSV.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgd.h"
static void take_snapshot(run_ctx_t *rc, size_t slot)
{
	if (slot % (size_t)rc->nprocs != (size_t)rc->rank)
		return;
	if (rc->nsnaps == rc->capsnaps) {
		rc->capsnaps = rc->capsnaps ? 2 * rc->capsnaps : 16;
		rc->snaps = xrealloc(rc->snaps, rc->capsnaps * sizeof(snap_t));
	}
	snap_t *s = &rc->snaps[rc->nsnaps++];
	s->slot = slot;
	s->params = xcalloc(rc->w->nparams, sizeof(float));
	memcpy(s->params, rc->params, rc->w->nparams * sizeof(float));
}

/* Apply one round: the averaged gradient (sum / P) as a momentum-SGD step. Identical inputs on
 * every process give bit-identical replicas. */
static void apply_round(run_ctx_t *rc, const pcoll_round_t *rd, double t, uint64_t steps)
{
	const float *sum = rd->data;
	float P = (float)rc->nprocs, mom = (float)rc->o->momentum, lr = (float)rc->o->lr;
	size_t n = rc->w->nparams;
	for (size_t i = 0; i < n; i++) {
		rc->vel[i] = mom * rc->vel[i] + sum[i] / P;
		rc->params[i] -= lr * rc->vel[i];
	}
	if (rc->nrecs == rc->caprecs) {
		rc->caprecs = rc->caprecs ? 2 * rc->caprecs : 1024;
		rc->recs = xrealloc(rc->recs, rc->caprecs * sizeof(rec_t));
	}
	rec_t *r = &rc->recs[rc->nrecs++];
	r->t = t;
	r->step = steps;
	r->index = rd->index;
	r->contrib = rd->contributions;
	r->staleness = rd->staleness;
	r->flushed = rd->flushed;
	r->final = rd->final;
	r->digest = digest64(rd->data, n * sizeof(float));
	r->digest = digest64_u64(r->digest, rd->index);
	r->digest = digest64_u64(r->digest, rd->contributions);
	r->digest = digest64_u64(r->digest, (uint64_t)rd->staleness);
	if (rd->index % rc->every == 0)
		take_snapshot(rc, (size_t)(rd->index / rc->every));
}

static uint64_t drain(run_ctx_t *rc, pcoll_coll_t *c, double t0, uint64_t steps, uint64_t version)
{
	pcoll_round_t rd;
	while (pcheck(pcoll_next_round(c, &rd), "pcoll_next_round") == 1) {
		if (rd.index != version + 1)
			die("round %" PRIu64 " given after version %" PRIu64
			    " (rounds must come in order)",
			    rd.index, version);
		version = rd.index;
		apply_round(rc, &rd, now_s() - t0, steps);
	}
	return version;
}

static void write_run_csv(run_ctx_t *rc, run_result_t *res, const double *ev, size_t nslots)
{
	FILE *f = fopen(res->csv, "w");
	if (!f) {
		fprintf(stderr, "pcoll_sgd: warning: cannot write %s: %s\n", res->csv,
			strerror(errno));
		res->csv[0] = '\0';
		return;
	}
	int acc = rc->w->has_accuracy;
	fprintf(f, "time_s,step,round,loss,accuracy,contributions,staleness\n");
	fprintf(f, "%.6f,0,0,%.9g,", 0.0, ev[0]);
	if (acc)
		fprintf(f, "%.4f", 100.0 * ev[1]);
	fprintf(f, ",,\n");
	for (size_t i = 0; i < rc->nrecs; i++) {
		const rec_t *r = &rc->recs[i];
		fprintf(f, "%.6f,%" PRIu64 ",%" PRIu64 ",", r->t, r->step, r->index);
		size_t slot = SIZE_MAX;
		if (i + 1 == rc->nrecs)
			slot = nslots - 1;
		else if (r->index % rc->every == 0)
			slot = (size_t)(r->index / rc->every);
		if (slot != SIZE_MAX) {
			fprintf(f, "%.9g,", ev[2 * slot]);
			if (acc)
				fprintf(f, "%.4f", 100.0 * ev[2 * slot + 1]);
		} else {
			fprintf(f, ",");
		}
		fprintf(f, ",%" PRIu64 ",%" PRId64 "\n", r->contrib, r->staleness);
	}
	if (fclose(f) != 0)
		fprintf(stderr, "pcoll_sgd: warning: error writing %s\n", res->csv);
}

void run_one(run_ctx_t *rc, const mode_spec_t *m, int run_idx, run_result_t *res)
{
	const opts_t *o = rc->o;
	wl_t *w = rc->w;
	size_t n = w->nparams;
	uint64_t N = (uint64_t)o->steps;
	pcoll_attr_t attr;
	mode_attr(o, m, rc->nprocs, &attr);

	pcoll_coll_t *c = NULL;
	pcheck(pcoll_allreduce_create(rc->ctx, n, PCOLL_FLOAT32, &attr, &c),
	       "pcoll_allreduce_create");

	w->init_params(w, rc->params);
	memset(rc->vel, 0, n * sizeof(float));
	rc->nrecs = 0;
	rc->nsnaps = 0;
	rc->every = N / (uint64_t)o->evals ? N / (uint64_t)o->evals : 1;
	take_snapshot(rc, 0);

	uint64_t print_every = N / PROGRESS_LINES ? N / PROGRESS_LINES : 1;
	double loss_sum = 0.0;
	uint64_t loss_n = 0;

	barrier(rc->ctrl);
	double t0 = now_s();
	uint64_t version = 0, steps = 0;
	while (steps < N) {
		double l = w->grad(w, rc->params, steps, rc->grad);
		loss_sum += l;
		loss_n++;
		sleep_ms(delay_for(rc->delayer, steps));
		pcheck(pcoll_step(c, rc->grad), "pcoll_step");
		steps++;
		version = drain(rc, c, t0, steps, version);
		if (rc->rank == 0 && (steps % print_every == 0 || steps == N)) {
			printf("[%-9s] step %6" PRIu64 "/%" PRIu64 "  round %6" PRIu64
			       "  train loss %9.5f  elapsed %7.2f s\n",
			       res->label, steps, N, version, loss_sum / (double)loss_n,
			       now_s() - t0);
			fflush(stdout);
			loss_sum = 0.0;
			loss_n = 0;
		}
	}
	/* Done: flush, taking (and time-stamping) the rounds the others still trigger. */
	pcheck(pcoll_flush_post(c), "pcoll_flush_post");
	while (pcheck(pcoll_flush_test(c), "pcoll_flush_test") == 0) {
		uint64_t v = drain(rc, c, t0, steps, version);
		if (v == version)
			sleep_ms(0.2);
		version = v;
	}
	version = drain(rc, c, t0, steps, version);
	double wall = now_s() - t0;

	pcoll_coll_info_t info;
	pcheck(pcoll_coll_query(c, &info), "pcoll_coll_query");
	if (info.version != version)
		die("pcoll_coll_query: version %" PRIu64 ", but %" PRIu64 " rounds were taken",
		    info.version, version);
	pcheck(pcoll_destroy(c), "pcoll_destroy");

	/* Replicas: hash parameters and momentum; all processes must agree. */
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, rc->params, n * sizeof(float));
	h = fnv1a(h, rc->vel, n * sizeof(float));
	res->identical = all_equal(rc->ctrl, h, rc->nprocs);
	/* Every process must have been given the same number of rounds. */
	int same_rounds = all_equal(rc->ctrl, version, rc->nprocs);
	res->identical &= same_rounds;
	if (!res->identical) {
		/* Diagnose: the first round whose data or metadata differ between processes. */
		if (!same_rounds) {
			const rec_t *r = rc->nrecs ? &rc->recs[rc->nrecs - 1] : NULL;
			fprintf(
			    stderr,
			    "pcoll_sgd: [%s] rank %d: processes were given different numbers of "
			    "rounds; here %" PRIu64 " rounds in %" PRIu64
			    " steps, the last with contributions %" PRIu64
			    ", flushed %u, final %d\n",
			    res->label, rc->rank, version, steps, r ? r->contrib : 0,
			    r ? r->flushed : 0, r ? r->final : 0);
		} else {
			for (size_t i = 0; i < rc->nrecs; i++) {
				if (all_equal(rc->ctrl, rc->recs[i].digest, rc->nprocs))
					continue;
				const rec_t *r = &rc->recs[i];
				fprintf(stderr,
					"pcoll_sgd: [%s] rank %d: round %" PRIu64
					" differs between processes; here: contributions %" PRIu64
					", staleness %" PRId64 ", digest %016" PRIx64 "\n",
					res->label, rc->rank, r->index, r->contrib, r->staleness,
					r->digest);
				break;
			}
		}
	}

	/* Evaluate the owned snapshots, then sum the results over the processes. */
	size_t nslots = (size_t)(version / rc->every) + 2;
	take_snapshot(rc, nslots - 1);
	double *ev = xcalloc(2 * nslots, sizeof(double));
	for (size_t i = 0; i < rc->nsnaps; i++) {
		snap_t *s = &rc->snaps[i];
		double l, a;
		w->eval(w, s->params, &l, &a);
		ev[2 * s->slot] = l;
		ev[2 * s->slot + 1] = isnan(a) ? 0.0 : a;
		free(s->params);
	}
	rc->nsnaps = 0;
	double *evsum;
	if (same_rounds) {
		pcoll_attr_t sattr;
		pcoll_attr_init(&sattr);
		sattr.mode = PCOLL_SYNC;
		pcoll_coll_t *evc = NULL;
		pcheck(pcoll_allreduce_create(rc->ctx, 2 * nslots, PCOLL_FLOAT64, &sattr, &evc),
		       "pcoll_allreduce_create (evaluation)");
		evsum = xcalloc(2 * nslots, sizeof(double));
		sync_allreduce(evc, ev, evsum, 2 * nslots * sizeof(double));
		pcheck(pcoll_destroy(evc), "pcoll_destroy (evaluation)");
		free(ev);
	} else {
		/* The slot counts differ, so no common collective: keep what this process
		 * evaluated (the other points read 0). */
		evsum = ev;
	}

	/* Results (rank 0's view; round metadata is the same everywhere). */
	res->rounds = version;
	res->steps_rank0 = steps;
	res->wall_s = wall;
	res->wait_s_rank0 = info.wait_seconds;
	res->holds_rank0 = info.holds;
	res->final_loss = evsum[2 * (nslots - 1)];
	res->final_acc = w->has_accuracy ? evsum[2 * (nslots - 1) + 1] : NAN;
	double ssum = 0.0, csum = 0.0;
	uint64_t sn = 0;
	res->max_stale = -1;
	for (size_t i = 0; i < rc->nrecs; i++) {
		const rec_t *r = &rc->recs[i];
		csum += (double)r->contrib;
		if (r->staleness >= 0) {
			ssum += (double)r->staleness;
			sn++;
			if (r->staleness > res->max_stale)
				res->max_stale = r->staleness;
		}
	}
	res->mean_stale = sn ? ssum / (double)sn : NAN;
	res->mean_contrib = rc->nrecs ? csum / (double)rc->nrecs : NAN;

	/* Evaluation points in time order: version 0, every `every` rounds, the final state. */
	res->npts = 0;
	res->pt_t = xcalloc(nslots, sizeof(double));
	res->pt_loss = xcalloc(nslots, sizeof(double));
	res->pt_acc = xcalloc(nslots, sizeof(double));
	res->pt_round = xcalloc(nslots, sizeof(uint64_t));
	res->pt_t[0] = 0.0;
	res->pt_loss[0] = evsum[0];
	res->pt_acc[0] = evsum[1];
	res->pt_round[0] = 0;
	res->npts = 1;
	for (size_t i = 0; i < rc->nrecs; i++) {
		const rec_t *r = &rc->recs[i];
		size_t slot;
		if (i + 1 == rc->nrecs)
			slot = nslots - 1;
		else if (r->index % rc->every == 0)
			slot = (size_t)(r->index / rc->every);
		else
			continue;
		res->pt_t[res->npts] = r->t;
		res->pt_loss[res->npts] = evsum[2 * slot];
		res->pt_acc[res->npts] = evsum[2 * slot + 1];
		res->pt_round[res->npts] = r->index;
		res->npts++;
	}

	if (rc->rank == 0) {
		const char *sep =
		    o->outdir[0] && o->outdir[strlen(o->outdir) - 1] == '/' ? "" : "/";
		int dup = 0;
		for (int i = 0; i < run_idx; i++)
			if (strcmp(o->modes[i].label, m->label) == 0)
				dup = 1;
		char safe[sizeof(m->label)];
		snprintf(safe, sizeof(safe), "%s", m->label);
		for (char *p = safe; *p; p++)
			if (*p == ':')
				*p = '-';
		int len;
		if (dup)
			len = snprintf(res->csv, sizeof(res->csv), "%s%s%s_%s_%d.csv", o->outdir,
				       sep, w->name, safe, run_idx + 1);
		else
			len = snprintf(res->csv, sizeof(res->csv), "%s%s%s_%s.csv", o->outdir, sep,
				       w->name, safe);
		if (len < 0 || (size_t)len >= sizeof(res->csv))
			res->csv[0] = '\0';
		else
			write_run_csv(rc, res, evsum, nslots);
		printf("[%-9s] done: %" PRIu64 " steps, %" PRIu64 " rounds, %.2f s, %.2f steps/s, "
		       "held-out loss %.5f",
		       res->label, res->steps_rank0, res->rounds, res->wall_s,
		       (double)o->steps / res->wall_s, res->final_loss);
		if (w->has_accuracy)
			printf(", accuracy %.2f%%", 100.0 * res->final_acc);
		printf(", replicas identical: %s\n", res->identical ? "yes" : "no");
		fflush(stdout);
	}
	free(evsum);
}
