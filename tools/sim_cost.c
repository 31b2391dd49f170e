/*
 * sim_cost.c -- the costed replay (sim_cost.h): a discrete-event simulation
 * whose events are steps and round completions. At each event the next round
 * is checked against the rules (as sim_ideal.c does); once it is triggered
 * and nobody holds it, its completion is scheduled. Completions come before
 * steps at the same instant, so at zero cost rounds cascade exactly as in
 * sim_ideal.c.
 */
#include "sim_cost.h"

#include <stdlib.h>

enum { COMPUTING, BLOCKED, DONE };

struct proc {
	int state;
	uint64_t version;     /* rounds taken */
	int64_t last_arrival; /* version of the newest step; -1 before the first */
	uint64_t target;      /* BLOCKED: the round its step waits for */
	double next;	      /* COMPUTING: time of its next step */
	double t_arr;	      /* time of its newest step */
	double t_done;	      /* DONE: when it was given the last round */
};

struct sim {
	const struct sim_cfg *c;
	struct sim_cost k;
	struct sim_result *res;
	struct proc *pr;
	double *learn;	     /* of the current round's root */
	double *tq;	     /* quorum scratch */
	uint64_t completed;  /* rounds completed */
	double t_completed;  /* when the last of them completed */
	int trig, was_held;  /* the next round: triggered; held since */
	double t_trig;	     /* when it was triggered */
	int sched;	     /* its completion is scheduled ... */
	double t_complete;   /* ... at this time */
	uint64_t held_round; /* last round counted in holds */
	int done;	     /* processes given the last round */
	double sum;	     /* of their times */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Is round r = completed + 1 triggered now? Sets t_trig and the learn delays
 * from the root. Arrived as in sim_ideal.c: a step at version >= r-1, or
 * done (flushed) except in solo. */
static int trigger(struct sim *s, double now)
{
	const struct sim_cfg *c = s->c;
	int64_t need = (int64_t)s->completed;
	int n = 0, root = -1;
	for (int p = 0; p < c->P; p++) {
		const struct proc *q = &s->pr[p];
		int in = (q->state == DONE && c->mode != PCOLL_SOLO) || q->last_arrival >= need;
		if (!in)
			continue;
		if (s->tq)
			s->tq[n] =
			    (q->state == DONE ? q->t_done : q->t_arr) + (p ? s->k.notify : 0.0);
		n++;
		if (c->mode == PCOLL_SOLO && (root < 0 || q->t_arr < s->pr[root].t_arr))
			root = p;
	}
	int on;
	switch (c->mode) {
	case PCOLL_SYNC:
		on = n == c->P;
		break;
	case PCOLL_SOLO:
		on = n >= 1;
		break;
	case PCOLL_MAJORITY: {
		root = c->initiator(c->arg, s->completed + 1);
		const struct proc *q = &s->pr[root];
		on = (q->state == DONE) || q->last_arrival >= need;
		break;
	}
	default:
		on = n >= c->k;
		root = 0;
	}
	if (!on)
		return 0;
	s->t_trig = now;
	if (c->mode == PCOLL_QUORUM) {
		qsort(s->tq, (size_t)n, sizeof(double), cmp_double);
		s->t_trig = s->tq[c->k - 1];
	}
	for (int p = 0; p < c->P; p++)
		s->learn[p] = 0.0;
	if (root >= 0 && s->k.learn)
		s->k.learn(s->k.arg, root, s->learn);
	return 1;
}

/* Check the next round; schedule its completion once it is triggered and
 * nobody holds it. */
static void advance(struct sim *s, double now)
{
	const struct sim_cfg *c = s->c;
	if (s->sched || s->done == c->P)
		return;
	uint64_t r = s->completed + 1;
	int64_t need = (int64_t)r - 1, S = c->mode == PCOLL_SYNC ? 0 : c->S;
	if (!s->trig) {
		if (!trigger(s, now))
			return;
		s->trig = 1;
		s->was_held = 0;
	}
	for (int p = 0; p < c->P; p++) {
		if (s->pr[p].state != DONE && s->pr[p].last_arrival < need - S) {
			if (s->held_round != r) {
				s->held_round = r;
				s->res->holds++;
			}
			s->was_held = 1;
			return;
		}
	}
	/* Everyone may join: the last join, then the round's own cost. */
	double start = s->t_completed > s->t_trig ? s->t_completed : s->t_trig, last = start;
	if (s->was_held && now > start)
		start = last = now; /* the last hold ended now */
	for (int p = 0; p < c->P; p++) {
		const struct proc *q = &s->pr[p];
		double know = s->t_trig + s->learn[p];
		/* In solo a process's own step at version r-1 initiates r. */
		if (c->mode == PCOLL_SOLO && q->last_arrival >= need && q->t_arr < know)
			know = q->t_arr;
		else if (c->mode == PCOLL_SOLO && q->state == COMPUTING &&
			 q->version == (uint64_t)need && q->next < know)
			know = q->next;
		if (know > last)
			last = know;
	}
	s->sched = 1;
	s->t_complete = last + s->k.round;
}

/* Every blocked process whose round completed takes all of them. */
static int wake(struct sim *s, double now)
{
	const struct sim_cfg *c = s->c;
	int moved = 0;
	for (int q = 0; q < c->P; q++) {
		struct proc *pq = &s->pr[q];
		if (pq->state != BLOCKED || pq->target > s->completed)
			continue;
		moved = 1;
		pq->version = s->completed;
		if (s->completed < c->rounds) {
			pq->state = COMPUTING;
			pq->next = now + c->compute(c->arg, s->completed, q);
			continue;
		}
		pq->state = DONE;
		pq->t_done = now;
		if (s->done++ == 0)
			s->res->t_first = now;
		s->res->t_last = now;
		s->sum += now;
	}
	return moved;
}

static void complete(struct sim *s, double now)
{
	s->completed++;
	s->t_completed = now;
	s->sched = 0;
	s->trig = 0;
}

/* After an event at now: rounds that complete now complete, in order, then
 * the processes they free move; until nothing moves. */
static void settle(struct sim *s, double now)
{
	for (;;) {
		advance(s, now);
		if (s->sched && s->t_complete <= now) {
			complete(s, now);
			continue;
		}
		if (!wake(s, now))
			break;
	}
}

int sim_cost(const struct sim_cfg *c, const struct sim_cost *cost, struct sim_result *res)
{
	if (!c || !res || c->P < 1 || c->rounds < 1 || !c->compute ||
	    (c->mode == PCOLL_MAJORITY && !c->initiator) ||
	    (c->mode == PCOLL_QUORUM && (c->k < 1 || c->k > c->P)) ||
	    (c->mode != PCOLL_SYNC && c->S < 0))
		return -1;
	struct sim s = {.c = c, .res = res};
	if (cost)
		s.k = *cost;
	s.pr = calloc((size_t)c->P, sizeof(*s.pr));
	s.learn = calloc((size_t)c->P, sizeof(double));
	s.tq = c->mode == PCOLL_QUORUM ? calloc((size_t)c->P, sizeof(double)) : NULL;
	int rc = 0;
	if (!s.pr || !s.learn || (c->mode == PCOLL_QUORUM && !s.tq)) {
		rc = -1;
		goto out;
	}
	*res = (struct sim_result){0};
	for (int p = 0; p < c->P; p++) {
		s.pr[p].last_arrival = -1;
		s.pr[p].next = c->compute(c->arg, 0, p);
	}
	while (s.done < c->P) {
		int p = -1;
		for (int q = 0; q < c->P; q++)
			if (s.pr[q].state == COMPUTING && (p < 0 || s.pr[q].next < s.pr[p].next))
				p = q;
		if (s.sched && (p < 0 || s.t_complete <= s.pr[p].next)) {
			double now = s.t_complete;
			complete(&s, now);
			settle(&s, now);
			continue;
		}
		if (p < 0) { /* everyone waits on a round nobody can trigger */
			rc = -1;
			break;
		}
		double now = s.pr[p].next;
		/* The step: arrive at the current version, wait for the next round. */
		res->steps++;
		s.pr[p].last_arrival = (int64_t)s.pr[p].version;
		s.pr[p].target = s.pr[p].version + 1;
		s.pr[p].t_arr = now;
		s.pr[p].state = BLOCKED;
		settle(&s, now);
	}
	res->t_mean = s.sum / c->P;
out:
	free(s.tq);
	free(s.learn);
	free(s.pr);
	return rc;
}
