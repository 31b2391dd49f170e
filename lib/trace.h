/*
 * PCOLL_TRACE=DIR: a Chrome trace-event file per process (Perfetto and
 * chrome://tracing open it) of its blocking calls, rounds, holds and the
 * rounds it initiated; tools/pcoll_trace merges them and reports stragglers.
 *
 * Events are kept in memory (at most PCOLL_TRACE_EVENTS, then counted as
 * dropped) and written at pcoll_finalize (and so at pcoll_abort). Every hook
 * runs under ctx->lock, from the user's thread or the progress thread; when
 * tracing is off ctx->trace is NULL and a hook costs one branch.
 *
 * Times are CLOCK_REALTIME, so that the files of processes on one host line
 * up; across hosts they line up only as well as the hosts' clocks do.
 */
#ifndef PCOLL_TRACE_H
#define PCOLL_TRACE_H

#include "pcoll_internal.h"

/* A blocking step or flush (t0: its start), or a non-blocking step posted (t0 0). */
enum pc_trace_call { PC_TRACE_STEP, PC_TRACE_FLUSH, PC_TRACE_POST };

/** Check PCOLL_TRACE (a directory, created if missing, writable) and
 * PCOLL_TRACE_EVENTS: 0, or PCOLL_ERR_INVAL naming the variable. */
int pc_trace_check_env(void);

/** The trace of a context of job rank `rank` of `size`, or NULL when off. */
struct pc_trace *pc_trace_open(int rank, int size);

/** Write the file (when `write`) and free the trace. NULL is a no-op. */
void pc_trace_close(struct pc_trace *t, int write);

uint64_t pc_trace_clock(void); /* CLOCK_REALTIME in ns */

/* Under lock, only when ctx->trace: */
void pc_trace_call(pcoll_coll_t *c, int kind, uint64_t t0, int rc);
void pc_trace_initiate(pcoll_coll_t *c, uint64_t r);
void pc_trace_join(pcoll_coll_t *c, uint64_t r, const pc_hdr_t *mine);
void pc_trace_round(pcoll_coll_t *c, const pc_hdr_t *h);
void pc_trace_holds(pcoll_coll_t *c);

/* The hook: one branch on the context's trace pointer when off. */
#define PC_TRACE(ctx, call)                                                                        \
	do {                                                                                       \
		if (__builtin_expect((ctx)->trace != NULL, 0))                                     \
			call;                                                                      \
	} while (0)

/* The start of a blocking call (0 when off). */
static inline uint64_t pc_trace_begin(const pcoll_coll_t *c)
{
	return c && __builtin_expect(c->ctx->trace != NULL, 0) ? pc_trace_clock() : 0;
}

#endif
