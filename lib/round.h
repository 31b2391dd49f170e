/*
 * The round and staleness state machine of one process, without any
 * transport: what a step, a flush, an activation or a completed round change,
 * and when this process's engine may join the next round. Unit-tested alone.
 *
 * Rounds are global and completed in order. `version` is the number of rounds
 * given to the user; `last_arrival` the version at which it last stepped. The
 * engine joins round r only when r is triggered and the process's newest
 * contribution is at most S versions old by then (last_arrival >= r-1-S), or
 * the process has flushed.
 */
#ifndef PCOLL_ROUND_H
#define PCOLL_ROUND_H

#include <stdint.h>

#include "schedule.h"

enum pc_arrive_action {
	PC_ARRIVE_NONE = 0,   /* round v+1 is already triggered, or not ours to trigger */
	PC_ARRIVE_LOCAL,      /* sync: this arrival triggers v+1 locally, no message */
	PC_ARRIVE_INITIATE,   /* this process initiates v+1: send the activation tree */
	PC_ARRIVE_NOTIFY_ROOT /* quorum: tell the root we arrived for v+1 */
};

typedef struct pc_rs {
	int mode, P, rank, S, k;
	uint64_t seed;
	uint64_t completed;   /* highest round completed here */
	uint64_t triggered;   /* highest round known to be triggered */
	uint64_t version;     /* rounds given to the user */
	int64_t last_arrival; /* version of the newest step; -1 before the first */
	int flushed;	      /* flushed in the current epoch */
	uint64_t epoch;	      /* flushes completed */
	int in_round;
	uint64_t pend_count; /* step contributions in the pending accumulator */
	int64_t pend_oldest; /* version of the oldest of them */
	uint64_t held_round; /* last round counted in `holds` */
	uint64_t holds;
	uint64_t initiated;
	uint64_t steps;
} pc_rs_t;

void pc_rs_init(pc_rs_t *rs, int mode, int P, int rank, int S, int k, uint64_t seed);

/** A step at the current version: account the contribution, return what to do. */
int pc_rs_arrive(pc_rs_t *rs);

/** A flush: the process has nothing newer; it stops holding rounds. */
void pc_rs_flush(pc_rs_t *rs);

/** Round r is known to be triggered (activation or data seen). */
void pc_rs_triggered(pc_rs_t *rs, uint64_t r);

/** 1 when the staleness bound forbids joining round r now. */
int pc_rs_holds(const pc_rs_t *rs, uint64_t r);

/** The engine holds round r (staleness, or no free result buffer): counted
 * once per round in `holds`. */
void pc_rs_hold(pc_rs_t *rs, uint64_t r);

/** The round the engine may join now, or 0. Counts holds. */
uint64_t pc_rs_joinable(pc_rs_t *rs);

/** Join round r: take the pending accumulator's header; marks in_round. */
void pc_rs_take(pc_rs_t *rs, uint64_t r, pc_hdr_t *mine);

/** Round completed with header res. Returns 1 when it was the final round of a flush. */
int pc_rs_complete(pc_rs_t *rs, const pc_hdr_t *res);

/**
 * A round this process should initiate now on its own (not on arrival), or
 * 0: the root once every process has flushed (until the final round), and a
 * flushed majority initiator whose round the others are waiting for.
 * flushslot[p] is the epoch count process p announced (root only, else NULL).
 */
uint64_t pc_rs_self_initiate(pc_rs_t *rs, const volatile uint64_t *flushslot);

/** Quorum root: the round to initiate now given arrival[p] = round p arrived for. */
uint64_t pc_rs_quorum_ready(pc_rs_t *rs, const volatile uint64_t *arrival,
			    const volatile uint64_t *flushslot);

#endif
