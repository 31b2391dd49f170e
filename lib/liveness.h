/*
 * Liveness of peers on this kernel: a blocked call that sees no progress
 * looks whether a peer on the same node is still there, so a process killed
 * outright is reported in well under a second even where the fabric (shm)
 * and the launcher (Open MPI 4.1's PMIx, which drops the termination event)
 * say nothing. Peers on other nodes are left to fabric errors and the timeout.
 */
#ifndef PCOLL_LIVENESS_H
#define PCOLL_LIVENESS_H

#include <stdint.h>

typedef struct pc_proc_id {
	uint64_t kernel; /* hash of boot id and pid namespace: pids comparable */
	uint64_t start;	 /* start time in clock ticks: guards against pid reuse */
	int32_t pid;
	int32_t pad;
} pc_proc_id_t;

void pc_liveness_self(pc_proc_id_t *me);
/* 1 when peer runs on this kernel and is gone (no such process, a zombie,
 * or another process under its pid); 0 otherwise. */
int pc_liveness_gone(const pc_proc_id_t *peer, const pc_proc_id_t *me);
/* 1 when peer runs on this kernel and is still there (its pid, with its
 * start time, not a zombie); 0 when gone or when this cannot tell. */
int pc_liveness_alive(const pc_proc_id_t *peer, const pc_proc_id_t *me);

#endif
