/*
 * sgd_train.c -- one training run of pcoll_sgd: steps, rounds applied as
 * momentum-SGD updates, parameter snapshots, their evaluation after the run,
 * the replica check and the run's CSV; a peer that dies during the run is survived
 * (pcoll_team_shrink, then the model of the new team rank 0 for everyone).
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
#include <unistd.h>

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

/* The state of one run that a shrink replaces (the collective) or re-bases (the numbering). */
typedef struct run_state {
	pcoll_coll_t *c;
	uint64_t version; /* rounds applied, numbered across the run's collectives */
	uint64_t base;	  /* rounds before the current collective: its round i is round base+i */
	uint64_t steps;	  /* pcoll_step calls that succeeded */
	double t0;
	double wait_s; /* pcoll_coll_query of the run's collectives already destroyed */
	uint64_t holds;
} run_state_t;

/* Take and apply every waiting round: 0, or the error of pcoll_next_round. */
static int drain(run_ctx_t *rc, run_state_t *st)
{
	pcoll_round_t rd;
	int r;
	while ((r = pcoll_next_round(st->c, &rd)) == 1) {
		rd.index += st->base;
		if (rd.index != st->version + 1)
			die("round %" PRIu64 " given after version %" PRIu64
			    " (rounds must come in order)",
			    rd.index, st->version);
		st->version = rd.index;
		apply_round(rc, &rd, now_s() - st->t0, st->steps);
	}
	return r;
}

/*
 * A peer died: the run's collective returned PCOLL_ERR_PEER (any other error ends the
 * process). Destroy the failed collectives (local, immediate), shrink to the survivors, move
 * the control collective to their team, and agree on one state: the survivors took rounds in
 * order, but a round that completed on one may not have completed on another when the peer
 * died, so each may stand at a different version. The new team rank 0's parameters and
 * momentum are re-broadcast (a SYNC sum of its vectors and zeros elsewhere: bit-exact) with
 * its version; survivors that were ahead undo their extra rounds, those behind adopt the
 * missing ones. Then the run's collective is re-created on the new team and numbered on from
 * that version. The dead process's pending contribution is lost, and so are this process's
 * contributions to rounds that had not completed (the step that failed is made again, on the
 * resynced model).
 */
static void survive(run_ctx_t *rc, run_state_t *st, const mode_spec_t *m, run_result_t *res,
		    int err, const char *what)
{
	if (err != PCOLL_ERR_PEER)
		pcheck(err, what);
	char why[512];
	snprintf(why, sizeof(why), "%s", pcoll_last_error());
	double t_fail = now_s();
	pcoll_coll_info_t info;
	if (pcoll_coll_query(st->c, &info) == 0) {
		st->wait_s += info.wait_seconds;
		st->holds += info.holds;
	}
	(void)pcoll_destroy(st->c); /* failed: local and immediate; its error is expected */
	st->c = NULL;
	(void)pcoll_destroy(rc->ctrl);
	rc->ctrl = NULL;

	int old_p = rc->nprocs;
	int *old_job = xcalloc((size_t)old_p, sizeof(int));
	for (int t = 0; t < old_p; t++)
		old_job[t] = rc->team ? pcoll_team_job_rank(rc->team, t) : t;
	pcoll_team_t *alive = NULL;
	pcheck(pcoll_team_shrink(rc->ctx, rc->team, &alive), "pcoll_team_shrink");
	if (rc->team)
		(void)pcoll_team_destroy(rc->team); /* local after the failure */
	rc->team = alive;
	rc->rank = pcheck(pcoll_team_rank(alive), "pcoll_team_rank");
	rc->nprocs = pcheck(pcoll_team_size(alive), "pcoll_team_size");
	rc->shrinks++;
	for (int t = 0, a = 0; t < old_p; t++) {
		if (a < rc->nprocs && pcoll_team_job_rank(alive, a) == old_job[t]) {
			a++;
			continue;
		}
		size_t len = strlen(res->lost);
		snprintf(res->lost + len, sizeof(res->lost) - len, "%s%d", len ? " " : "",
			 old_job[t]);
	}
	free(old_job);
	delayer_t *d = rc->delayer;
	d->rank = rc->rank;
	d->nprocs = rc->nprocs;
	d->slow_rank = -1;
	for (int t = 0; t < rc->nprocs; t++)
		if (pcoll_team_job_rank(alive, t) == rc->slow_job)
			d->slow_rank = t;
	rc->ctrl = ctrl_create(rc->ctx, alive);

	/* One version and one model: team rank 0's. */
	int64_t in[CTRL_COUNT] = {0}, v0s[CTRL_COUNT], diff[CTRL_COUNT];
	if (rc->rank == 0) {
		in[0] = (int64_t)st->version;
		in[1] = (int64_t)st->steps;
	}
	sync_allreduce(rc->ctrl, in, v0s, sizeof(v0s));
	uint64_t v0 = (uint64_t)v0s[0];
	memset(in, 0, sizeof(in));
	in[0] = st->version > v0 ? (int64_t)(st->version - v0) : 0;
	in[1] = v0 > st->version ? (int64_t)(v0 - st->version) : 0;
	in[2] = st->version != v0;
	sync_allreduce(rc->ctrl, in, diff, sizeof(diff));

	size_t n = rc->w->nparams;
	float *mine = xcalloc(2 * n, sizeof(float)), *got = xcalloc(2 * n, sizeof(float));
	if (rc->rank == 0) {
		memcpy(mine, rc->params, n * sizeof(float));
		memcpy(mine + n, rc->vel, n * sizeof(float));
	}
	pcoll_attr_t ba;
	pcoll_attr_init(&ba);
	ba.mode = PCOLL_SYNC;
	ba.team = alive;
	pcoll_coll_t *bc = NULL;
	pcheck(pcoll_allreduce_create(rc->ctx, 2 * n, PCOLL_FLOAT32, &ba, &bc),
	       "pcoll_allreduce_create (resync)");
	sync_allreduce(bc, mine, got, 2 * n * sizeof(float));
	pcheck(pcoll_destroy(bc), "pcoll_destroy (resync)");
	memcpy(rc->params, got, n * sizeof(float));
	memcpy(rc->vel, got + n, n * sizeof(float));
	free(mine);
	free(got);

	/* Records and snapshots of undone rounds go; the pre-shrink records of the survivors
	 * may differ in number (the rounds adopted), so checks compare only those after. */
	while (rc->nrecs && rc->recs[rc->nrecs - 1].index > v0)
		rc->nrecs--;
	rc->rec_base = rc->nrecs;
	size_t keep = 0;
	for (size_t i = 0; i < rc->nsnaps; i++) {
		if ((uint64_t)rc->snaps[i].slot * rc->every <= v0)
			rc->snaps[keep++] = rc->snaps[i];
		else
			free(rc->snaps[i].params);
	}
	rc->nsnaps = keep;
	st->version = st->base = v0;

	pcoll_attr_t attr;
	mode_attr(rc->o, m, rc->nprocs, rc->team, &attr);
	pcheck(pcoll_allreduce_create(rc->ctx, n, PCOLL_FLOAT32, &attr, &st->c),
	       "pcoll_allreduce_create (after the shrink)");

	double t_shrink = now_s() - t_fail;
	res->shrinks++;
	res->procs_end = rc->nprocs;
	res->fail_step = (uint64_t)v0s[1];
	res->resume_round = v0;
	res->rounds_undone += (uint64_t)diff[0];
	res->rounds_adopted += (uint64_t)diff[1];
	if (rc->rank == 0) {
		printf("[%-9s] %s: %s\n", res->label, what, why);
		printf("[%-9s] P %d -> %d (job rank %s gone) at step %" PRIu64
		       ": shrink and resync %.1f ms; resuming from round %" PRIu64
		       " (team rank 0's model, re-broadcast; %" PRId64 " of %d survivors "
		       "differed: %" PRId64 " rounds undone, %" PRId64 " adopted)\n",
		       res->label, old_p, rc->nprocs, res->lost, res->fail_step, 1e3 * t_shrink, v0,
		       diff[2], rc->nprocs, diff[0], diff[1]);
		fflush(stdout);
	}
}

/* An evaluation field of the run CSV: empty where the point was lost. */
static void fmt_ev(FILE *f, const char *fmt, double v)
{
	if (!isnan(v))
		fprintf(f, fmt, v);
}

static void write_run_csv(run_ctx_t *rc, run_result_t *res, const double *loss, const double *acc,
			  size_t nslots)
{
	FILE *f = fopen(res->csv, "w");
	if (!f) {
		fprintf(stderr, "pcoll_sgd: warning: cannot write %s: %s\n", res->csv,
			strerror(errno));
		res->csv[0] = '\0';
		return;
	}
	int has_acc = rc->w->has_accuracy;
	fprintf(f, "time_s,step,round,loss,accuracy,contributions,staleness\n");
	fprintf(f, "%.6f,0,0,", 0.0);
	fmt_ev(f, "%.9g", loss[0]);
	fprintf(f, ",");
	if (has_acc)
		fmt_ev(f, "%.4f", 100.0 * acc[0]);
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
			fmt_ev(f, "%.9g", loss[slot]);
			fprintf(f, ",");
			if (has_acc)
				fmt_ev(f, "%.4f", 100.0 * acc[slot]);
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
	mode_attr(o, m, rc->nprocs, rc->team, &attr);
	res->procs_start = res->procs_end = rc->nprocs;

	run_state_t st = {0};
	double ph0 = now_s();
	pcheck(pcoll_allreduce_create(rc->ctx, n, PCOLL_FLOAT32, &attr, &st.c),
	       "pcoll_allreduce_create");
	double ph1 = now_s();

	w->init_params(w, rc->params);
	memset(rc->vel, 0, n * sizeof(float));
	rc->nrecs = 0;
	rc->rec_base = 0;
	rc->nsnaps = 0;
	rc->every = N / (uint64_t)o->evals ? N / (uint64_t)o->evals : 1;
	take_snapshot(rc, 0);

	uint64_t print_every = N / PROGRESS_LINES ? N / PROGRESS_LINES : 1;
	double loss_sum = 0.0;
	uint64_t loss_n = 0;

	double ph1b = now_s();
	barrier(rc->ctrl);
	st.t0 = now_s();
	for (;;) {
		while (st.steps < N) {
			if (rc->job_rank == o->kill_rank && st.steps == (uint64_t)o->kill_step) {
				fflush(stdout);
				fprintf(stderr,
					"pcoll_sgd: rank %d: --kill-rank: _exit(1) at step %" PRIu64
					" of the %s run\n",
					rc->job_rank, st.steps, res->label);
				_exit(1);
			}
			double l = w->grad(w, rc->params, st.steps, rc->grad);
			sleep_ms(delay_for(rc->delayer, st.steps));
			int r = pcoll_step(st.c, rc->grad);
			if (r < 0) { /* the step is made again on the survivors' model */
				survive(rc, &st, m, res, r, "pcoll_step");
				continue;
			}
			st.steps++;
			loss_sum += l;
			loss_n++;
			if ((r = drain(rc, &st)) < 0)
				survive(rc, &st, m, res, r, "pcoll_next_round");
			if (rc->rank == 0 && (st.steps % print_every == 0 || st.steps == N)) {
				printf("[%-9s] step %6" PRIu64 "/%" PRIu64 "  round %6" PRIu64
				       "  train loss %9.5f  elapsed %7.2f s\n",
				       res->label, st.steps, N, st.version,
				       loss_n ? loss_sum / (double)loss_n : NAN, now_s() - st.t0);
				fflush(stdout);
				loss_sum = 0.0;
				loss_n = 0;
			}
		}
		/* Done: flush, taking (and time-stamping) the rounds the others still trigger. */
		int r = pcoll_flush_post(st.c);
		while (r >= 0 && (r = pcoll_flush_test(st.c)) == 0) {
			uint64_t v = st.version;
			if ((r = drain(rc, &st)) < 0)
				break;
			if (v == st.version)
				sleep_ms(0.2);
		}
		if (r >= 0)
			r = drain(rc, &st);
		if (r < 0) { /* a peer died before every process flushed: flush again after */
			survive(rc, &st, m, res, r, "pcoll_flush");
			continue;
		}
		break;
	}
	uint64_t version = st.version, steps = st.steps;
	double wall = now_s() - st.t0;

	pcoll_coll_info_t info;
	pcheck(pcoll_coll_query(st.c, &info), "pcoll_coll_query");
	if (info.version + st.base != version)
		die("pcoll_coll_query: version %" PRIu64 " after round %" PRIu64 ", but %" PRIu64
		    " rounds were taken",
		    info.version, st.base, version);
	double ph2 = now_s();
	pcheck(pcoll_destroy(st.c), "pcoll_destroy");
	double ph3 = now_s();

	/* Replicas: hash parameters and momentum; all processes must agree. */
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, rc->params, n * sizeof(float));
	h = fnv1a(h, rc->vel, n * sizeof(float));
	res->identical = all_equal(rc->ctrl, h, rc->nprocs);
	/* Every process must have been given the same number of rounds. */
	int same_rounds = all_equal(rc->ctrl, version, rc->nprocs);
	res->identical &= same_rounds;
	if (!res->identical) {
		/* Diagnose: the first round whose data or metadata differ between processes
		 * (since the last shrink: the records before it may differ in number). */
		if (!same_rounds) {
			const rec_t *r = rc->nrecs ? &rc->recs[rc->nrecs - 1] : NULL;
			fprintf(
			    stderr,
			    "pcoll_sgd: [%s] rank %d: processes were given different numbers of "
			    "rounds; here %" PRIu64 " rounds in %" PRIu64
			    " steps, the last with contributions %" PRIu64
			    ", flushed %u, final %d\n",
			    res->label, rc->job_rank, version, steps, r ? r->contrib : 0,
			    r ? r->flushed : 0, r ? r->final : 0);
		} else {
			for (size_t i = rc->rec_base; i < rc->nrecs; i++) {
				if (all_equal(rc->ctrl, rc->recs[i].digest, rc->nprocs))
					continue;
				const rec_t *r = &rc->recs[i];
				fprintf(stderr,
					"pcoll_sgd: [%s] rank %d: round %" PRIu64
					" differs between processes; here: contributions %" PRIu64
					", staleness %" PRId64 ", digest %016" PRIx64 "\n",
					res->label, rc->job_rank, r->index, r->contrib,
					r->staleness, r->digest);
				break;
			}
		}
	}

	/* Evaluate the owned snapshots, then sum the results over the processes: loss, accuracy
	 * and a count per slot (0: the snapshot was lost with a dead process, or with rounds
	 * undone after a shrink; that point is left out). */
	double ph4 = now_s();
	size_t nslots = (size_t)(version / rc->every) + 2;
	take_snapshot(rc, nslots - 1);
	double *ev = xcalloc(3 * nslots, sizeof(double));
	for (size_t i = 0; i < rc->nsnaps; i++) {
		snap_t *s = &rc->snaps[i];
		double l, a;
		w->eval(w, s->params, &l, &a);
		ev[3 * s->slot] = l;
		ev[3 * s->slot + 1] = isnan(a) ? 0.0 : a;
		ev[3 * s->slot + 2] = 1.0;
		free(s->params);
	}
	rc->nsnaps = 0;
	double *evsum;
	double ph5 = now_s();
	if (same_rounds) {
		pcoll_attr_t sattr;
		pcoll_attr_init(&sattr);
		sattr.mode = PCOLL_SYNC;
		sattr.team = rc->team;
		pcoll_coll_t *evc = NULL;
		pcheck(pcoll_allreduce_create(rc->ctx, 3 * nslots, PCOLL_FLOAT64, &sattr, &evc),
		       "pcoll_allreduce_create (evaluation)");
		evsum = xcalloc(3 * nslots, sizeof(double));
		sync_allreduce(evc, ev, evsum, 3 * nslots * sizeof(double));
		pcheck(pcoll_destroy(evc), "pcoll_destroy (evaluation)");
		free(ev);
	} else {
		/* The slot counts differ, so no common collective: keep what this process
		 * evaluated (the other points are left out). */
		evsum = ev;
	}
	double ph6 = now_s();
	if (o->phases)
		fprintf(
		    stderr,
		    "pcoll_sgd: rank %d phases [%s]: create %.3f s, setup %.3f s, barrier %.3f s, "
		    "steps and flush %.3f s, destroy %.3f s, checks %.3f s, evaluation %.3f s, "
		    "its sum %.3f s\n",
		    rc->job_rank, res->label, ph1 - ph0, ph1b - ph1, st.t0 - ph1b, ph2 - st.t0,
		    ph3 - ph2, ph4 - ph3, ph5 - ph4, ph6 - ph5);
	double *loss = xcalloc(nslots, sizeof(double)), *acc = xcalloc(nslots, sizeof(double));
	for (size_t s = 0; s < nslots; s++) {
		double k = evsum[3 * s + 2];
		loss[s] = k > 0 ? evsum[3 * s] / k : NAN;
		acc[s] = k > 0 ? evsum[3 * s + 1] / k : NAN;
	}
	free(evsum);

	/* Results (team rank 0's view; round metadata is the same everywhere). */
	res->rounds = version;
	res->steps_rank0 = steps;
	res->wall_s = wall;
	res->wait_s_rank0 = st.wait_s + info.wait_seconds;
	res->holds_rank0 = st.holds + info.holds;
	res->final_loss = loss[nslots - 1];
	res->final_acc = w->has_accuracy ? acc[nslots - 1] : NAN;
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
	if (!isnan(loss[0])) {
		res->pt_t[0] = 0.0;
		res->pt_loss[0] = loss[0];
		res->pt_acc[0] = acc[0];
		res->pt_round[0] = 0;
		res->npts = 1;
	}
	for (size_t i = 0; i < rc->nrecs; i++) {
		const rec_t *r = &rc->recs[i];
		size_t slot;
		if (i + 1 == rc->nrecs)
			slot = nslots - 1;
		else if (r->index % rc->every == 0)
			slot = (size_t)(r->index / rc->every);
		else
			continue;
		if (isnan(loss[slot]))
			continue;
		res->pt_t[res->npts] = r->t;
		res->pt_loss[res->npts] = loss[slot];
		res->pt_acc[res->npts] = acc[slot];
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
			write_run_csv(rc, res, loss, acc, nslots);
		printf("[%-9s] done: %" PRIu64 " steps, %" PRIu64 " rounds, %.2f s, %.2f steps/s, "
		       "held-out loss %.5f",
		       res->label, res->steps_rank0, res->rounds, res->wall_s,
		       (double)o->steps / res->wall_s, res->final_loss);
		if (w->has_accuracy)
			printf(", accuracy %.2f%%", 100.0 * res->final_acc);
		if (res->procs_end != res->procs_start)
			printf(", P %d -> %d", res->procs_start, res->procs_end);
		printf(", replicas identical: %s\n", res->identical ? "yes" : "no");
		fflush(stdout);
	}
	free(loss);
	free(acc);
}
