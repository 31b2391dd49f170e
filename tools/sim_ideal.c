/*
 * sim_ideal.c -- the zero-cost replay of the round and staleness rules
 * described in sim_ideal.h: a discrete-event simulation whose only events
 * are arrivals (steps); rounds complete at the arrival that makes them
 * completable, and blocked processes are woken at that instant.
 */
#include "sim_ideal.h"

#include <stdlib.h>

enum { COMPUTING, BLOCKED, DONE };

struct proc {
	int state;
	uint64_t version;     /* rounds taken */
	int64_t last_arrival; /* version of the newest step; -1 before the first */
	uint64_t target;      /* BLOCKED: the round its step waits for */
	double next;	      /* COMPUTING: time of its next step */
};

/* Is round r (the one after the last completed) triggered, and may everyone
 * join it, given the arrivals so far? A process that is done has flushed: it
 * never holds a round, and counts as arrived at every version except in solo,
 * where only a step triggers (lib/round.c: pc_rs_joinable in sync,
 * pc_rs_self_initiate in majority, pc_rs_quorum_ready in quorum). */
static int completable(const struct sim_cfg *c, const struct proc *pr, uint64_t r, int *held)
{
	int64_t need = (int64_t)r - 1, S = c->mode == PCOLL_SYNC ? 0 : c->S;
	int n = 0, init = c->mode == PCOLL_MAJORITY ? c->initiator(c->arg, r) : -1, init_in = 0;
	int hold = 0;

	for (int p = 0; p < c->P; p++) {
		int in =
		    (pr[p].state == DONE && c->mode != PCOLL_SOLO) || pr[p].last_arrival >= need;
		n += in;
		init_in |= in && p == init;
		hold |= pr[p].state != DONE && pr[p].last_arrival < need - S;
	}
	int trig = c->mode == PCOLL_SYNC       ? n == c->P
		   : c->mode == PCOLL_SOLO     ? n >= 1
		   : c->mode == PCOLL_MAJORITY ? init_in
					       : n >= c->k;
	*held = trig && hold;
	return trig && !hold;
}

int sim_ideal(const struct sim_cfg *c, struct sim_result *res)
{
	if (!c || !res || c->P < 1 || c->rounds < 1 || !c->compute ||
	    (c->mode == PCOLL_MAJORITY && !c->initiator) ||
	    (c->mode == PCOLL_QUORUM && (c->k < 1 || c->k > c->P)) ||
	    (c->mode != PCOLL_SYNC && c->S < 0))
		return -1;
	struct proc *pr = calloc((size_t)c->P, sizeof(*pr));
	if (!pr)
		return -1;
	uint64_t completed = 0, held_round = 0;
	int done = 0, rc = 0;
	double sum = 0.0;

	*res = (struct sim_result){0};
	for (int p = 0; p < c->P; p++) {
		pr[p].last_arrival = -1;
		pr[p].next = c->compute(c->arg, 0, p);
	}
	while (done < c->P) {
		int p = -1;
		for (int q = 0; q < c->P; q++)
			if (pr[q].state == COMPUTING && (p < 0 || pr[q].next < pr[p].next))
				p = q;
		if (p < 0) { /* everyone waits on a round nobody can trigger */
			rc = -1;
			break;
		}
		double now = pr[p].next;
		/* The step: arrive at the current version, wait for the next round. */
		res->steps++;
		pr[p].last_arrival = (int64_t)pr[p].version;
		pr[p].target = pr[p].version + 1;
		pr[p].state = BLOCKED;
		/* Every round this arrival makes completable completes now, in order;
		 * every process whose round completed takes all of them; one that is
		 * done flushes, which may complete more rounds: until nothing moves. */
		for (int moved = 1; moved;) {
			int held = 0;
			moved = 0;
			while (done < c->P && completable(c, pr, completed + 1, &held))
				completed++;
			if (held && held_round != completed + 1) {
				held_round = completed + 1;
				res->holds++;
			}
			for (int q = 0; q < c->P; q++) {
				if (pr[q].state != BLOCKED || pr[q].target > completed)
					continue;
				moved = 1;
				pr[q].version = completed;
				if (completed < c->rounds) {
					pr[q].state = COMPUTING;
					pr[q].next = now + c->compute(c->arg, completed, q);
					continue;
				}
				pr[q].state = DONE;
				if (done++ == 0)
					res->t_first = now;
				res->t_last = now;
				sum += now;
			}
		}
	}
	res->t_mean = sum / c->P;
	free(pr);
	return rc;
}
