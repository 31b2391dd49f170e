/*
 * sim_cost.c -- the costed replay (sim_cost.h): a discrete-event simulation
 * whose events are steps and round completions. At each event the next round
 * is checked against the rules (as sim_ideal.c does); once it is triggered
 * and nobody holds it, its completion is scheduled. Completions come before
 * steps at the same instant, so at zero cost rounds cascade exactly as in
 * sim_ideal.c.
 *
 * Scale: the next step comes from a heap, blocked processes from a list
 * scanned only when a round completed or a step was stale, and the counts the
 * rules need (arrived, holding) are kept per event and recounted per round,
 * so an event costs O(log P) and a round O(P) (P = 1024 in well under a
 * second).
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
	int *heap, nheap;    /* COMPUTING processes by (next, index) */
	int *blocked, nblk;  /* BLOCKED processes */
	int dirty;	     /* a blocked process may be free to go */
	int nin, nheld;	     /* arrived for, holding the next round */
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

/* ---- the heap of next steps; ties go to the lower index, as in sim_ideal.c */

static int before(const struct sim *s, int a, int b)
{
	double x = s->pr[a].next, y = s->pr[b].next;
	return x < y || (x == y && a < b);
}

static void heap_push(struct sim *s, int p)
{
	int i = s->nheap++;
	while (i > 0 && before(s, p, s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = p;
}

static int heap_pop(struct sim *s)
{
	int top = s->heap[0], last = s->heap[--s->nheap], i = 0;
	for (;;) {
		int c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && before(s, s->heap[c + 1], s->heap[c]))
			c++;
		if (!before(s, s->heap[c], last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->nheap)
		s->heap[i] = last;
	return top;
}

/* ---- the counts of the next round r = completed + 1 */

/* Arrived for r (as sim_ideal.c): a step at version >= r-1, or done
 * (flushed) except in solo. */
static int is_in(const struct sim *s, const struct proc *q)
{
	return (q->state == DONE && s->c->mode != PCOLL_SOLO) ||
	       q->last_arrival >= (int64_t)s->completed;
}

/* Holds r: newest step more than S versions before r-1, not done. */
static int is_held(const struct sim *s, const struct proc *q)
{
	int64_t S = s->c->mode == PCOLL_SYNC ? 0 : s->c->S;
	return q->state != DONE && q->last_arrival < (int64_t)s->completed - S;
}

static void recount(struct sim *s)
{
	s->nin = s->nheld = 0;
	for (int p = 0; p < s->c->P; p++) {
		s->nin += is_in(s, &s->pr[p]);
		s->nheld += is_held(s, &s->pr[p]);
	}
}

/* Around a change of process q: take it out of the counts, then back in. */
static void uncount(struct sim *s, const struct proc *q)
{
	s->nin -= is_in(s, q);
	s->nheld -= is_held(s, q);
}

static void count(struct sim *s, const struct proc *q)
{
	s->nin += is_in(s, q);
	s->nheld += is_held(s, q);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Is round r = completed + 1 triggered now? Sets t_trig and the learn delays
 * from the root. */
static int trigger(struct sim *s, double now)
{
	const struct sim_cfg *c = s->c;
	int on, root = -1;
	switch (c->mode) {
	case PCOLL_SYNC:
		on = s->nin == c->P;
		break;
	case PCOLL_SOLO:
		on = s->nin >= 1;
		break;
	case PCOLL_MAJORITY:
		root = c->initiator(c->arg, s->completed + 1);
		on = is_in(s, &s->pr[root]) || s->pr[root].state == DONE;
		break;
	default:
		on = s->nin >= c->k;
		root = 0;
	}
	if (!on)
		return 0;
	s->t_trig = now;
	if (c->mode == PCOLL_SOLO || c->mode == PCOLL_QUORUM) {
		int n = 0;
		for (int p = 0; p < c->P; p++) {
			const struct proc *q = &s->pr[p];
			if (!is_in(s, q))
				continue;
			if (c->mode == PCOLL_SOLO && (root < 0 || q->t_arr < s->pr[root].t_arr))
				root = p;	     /* the first arrival initiates */
			if (c->mode == PCOLL_QUORUM) /* when its write reaches rank 0 */
				s->tq[n++] = (q->state == DONE ? q->t_done : q->t_arr) +
					     (p ? s->k.notify : 0.0);
		}
		if (c->mode == PCOLL_QUORUM) {
			qsort(s->tq, (size_t)n, sizeof(double), cmp_double);
			s->t_trig = s->tq[c->k - 1];
		}
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
	int64_t need = (int64_t)r - 1;
	if (!s->trig) {
		if (!trigger(s, now))
			return;
		s->trig = 1;
		s->was_held = 0;
	}
	if (s->nheld) {
		if (s->held_round != r) {
			s->held_round = r;
			s->res->holds++;
		}
		s->was_held = 1;
		return;
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
	int moved = 0, kept = 0;
	if (!s->dirty)
		return 0;
	s->dirty = 0;
	for (int i = 0; i < s->nblk; i++) {
		int q = s->blocked[i];
		struct proc *pq = &s->pr[q];
		if (pq->target > s->completed) {
			s->blocked[kept++] = q;
			continue;
		}
		moved = 1;
		pq->version = s->completed;
		if (s->completed < c->rounds) {
			pq->state = COMPUTING;
			pq->next = now + c->compute(c->arg, s->completed, q);
			heap_push(s, q);
			continue;
		}
		uncount(s, pq);
		pq->state = DONE;
		count(s, pq);
		pq->t_done = now;
		if (s->done++ == 0)
			s->res->t_first = now;
		s->res->t_last = now;
		s->sum += now;
	}
	s->nblk = kept;
	return moved;
}

static void complete(struct sim *s, double now)
{
	s->completed++;
	s->t_completed = now;
	s->sched = 0;
	s->trig = 0;
	s->dirty = 1;
	recount(s);
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
	s.tq = calloc((size_t)c->P, sizeof(double));
	s.heap = calloc((size_t)c->P, sizeof(int));
	s.blocked = calloc((size_t)c->P, sizeof(int));
	int rc = 0;
	if (!s.pr || !s.learn || !s.tq || !s.heap || !s.blocked) {
		rc = -1;
		goto out;
	}
	*res = (struct sim_result){0};
	for (int p = 0; p < c->P; p++) {
		s.pr[p].last_arrival = -1;
		s.pr[p].next = c->compute(c->arg, 0, p);
		heap_push(&s, p);
	}
	recount(&s);
	while (s.done < c->P) {
		int p = s.nheap ? s.heap[0] : -1;
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
		heap_pop(&s);
		struct proc *q = &s.pr[p];
		double now = q->next;
		/* The step: arrive at the current version, wait for the next round. */
		res->steps++;
		uncount(&s, q);
		q->last_arrival = (int64_t)q->version;
		q->target = q->version + 1;
		q->t_arr = now;
		q->state = BLOCKED;
		count(&s, q);
		s.blocked[s.nblk++] = p;
		if (q->target <= s.completed)
			s.dirty = 1; /* a stale step: its round is there */
		settle(&s, now);
	}
	res->t_mean = s.sum / c->P;
out:
	free(s.blocked);
	free(s.heap);
	free(s.tq);
	free(s.learn);
	free(s.pr);
	return rc;
}
