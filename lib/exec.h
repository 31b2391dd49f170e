/*
 * The executor runs one round of a schedule as a re-entrant state machine:
 * pc_exec_run() performs ops until one would block (a flag not yet set, sends
 * not yet complete) and returns, to be called again by whoever drives
 * progress. The transport is reached only through the env callbacks, so the
 * unit tests run the real executor over an in-memory transport.
 */
#ifndef PCOLL_EXEC_H
#define PCOLL_EXEC_H

#include <sys/uio.h>

#include "pcoll.h"
#include "schedule.h"

typedef struct pc_exec_env {
	void *buf[PC_BUF_COUNT]; /* data start of WORK, WORK2, RES; base of RX */
	pc_hdr_t *res_hdr;	 /* header in front of RES data */
	pc_hdr_t *hdr_tx;	 /* nsends header snapshots (registered memory) */
	pcoll_datatype_t dt;
	/* Post a send; the op says where. Returns 0 or a negative error. */
	int (*send)(void *arg, const pc_op_t *op, const struct iovec *iov, int iovcnt,
		    uint64_t round);
	/* 1 when the local flag slot shows this round's write has landed. */
	int (*flag_ready)(void *arg, uint32_t slot, uint64_t round);
	/* Sends of this round whose local completion has been seen. */
	uint64_t (*tx_done)(void *arg);
	void *arg;
	/* Reductions of at least this many bytes are handed back to the caller
	 * (PC_EXEC_REDUCE) to run outside its lock; 0: never. */
	size_t split_bytes;
} pc_exec_env_t;

typedef struct pc_exec {
	const pc_sched_t *s;
	size_t pc;	/* next op */
	uint64_t round; /* 0: idle */
	size_t nsent;
	pc_hdr_t acc;	      /* header accumulated so far */
	pc_hdr_t mine;	      /* this process's own (PC_HDR_FORWARD starts from it) */
	const pc_op_t *split; /* a reduction handed back, not yet done */
} pc_exec_t;

/* pc_exec_run's return: the next reduction is the caller's to run, with
 * pc_exec_reduce_split(), before it calls pc_exec_run again. */
#define PC_EXEC_REDUCE 2

/** Begin round `round` with this process's own header (its contribution). */
void pc_exec_start(pc_exec_t *x, const pc_sched_t *s, uint64_t round, const pc_hdr_t *mine);

/** Run until blocked: 1 when the round is complete, 0 when blocked,
 * PC_EXEC_REDUCE when a reduction of at least env->split_bytes is next (its
 * header is already checked and merged), <0 error. */
int pc_exec_run(pc_exec_t *x, const pc_exec_env_t *env);

/** The data part of the reduction that pc_exec_run handed back. It touches
 * only the round's buffers, none of x's bookkeeping, so it may run while
 * others hold the lock that guards everything else (not this collective's
 * schedule, which nobody may run meanwhile). */
void pc_exec_reduce_split(pc_exec_t *x, const pc_exec_env_t *env);

/** Merge header b into a (SUM contributions and flushed, MAX staleness). */
void pc_hdr_merge(pc_hdr_t *a, const pc_hdr_t *b);

#endif
