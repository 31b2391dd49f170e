/*
 * Teams: ordered subsets of the context's processes. Every team owns a small
 * registered exchange region through which its members run their own
 * allgathers over the fabric (create parameters and keys, destroy barriers,
 * splits, shrink agreement): no PMIx fence after init, and exchanges on
 * different teams never involve processes outside them. The context's own
 * team (ctx->world) is wired up at init with the endpoint addresses.
 */
#ifndef PCOLL_TEAM_H
#define PCOLL_TEAM_H

#include <stddef.h>
#include <stdint.h>

#include "pcoll.h"
#include "transport.h"

/* Flag and slot areas of a team's region: two exchange parities, then two
 * shrink areas (by the parity of the team's shrink count). */
#define PC_X_AREAS	 4
#define PC_X_SHRINK_AREA 2

/* One exchange slot: a header and the payload. */
#define PC_XCHG_SLOT 256
#define PC_XCHG_MAX  (PC_XCHG_SLOT - 16)

/* What an exchange is for: a process that calls another team-collective
 * function than its peers is told so instead of reading their payloads. */
enum pc_xchg_tag {
	PC_X_CREATE = 1,
	PC_X_DESTROY = 2,
	PC_X_SPLIT = 3,
	PC_X_TEAM_FREE = 4,
	PC_X_SHRINK = 5,
	PC_X_TAG_COUNT
};

/* A destroyed collective's value region, registered until every member has
 * been through another exchange on the team (late injected writes). */
typedef struct pc_retired {
	struct pc_retired *next;
	pc_tp_mr_t *mr;
	void *mem;
} pc_retired_t;

struct pcoll_team {
	pcoll_ctx_t *ctx;
	uint32_t id; /* local id: the CQ data of writes into our exchange region */
	int rank, size;
	int *members;	    /* [size] job rank of each team rank */
	uint32_t *peer_ids; /* [size] each member's local id of this team */
	pc_tp_rkey_t *xkeys;
	char *xmem; /* flags [2][size], slots [2][size], our send slot */
	size_t xlen;
	pc_tp_mr_t *xmr;
	volatile uint64_t *xflags;
	volatile uint64_t *notices; /* [size]: the job rank + 1 each member last
				       reported gone (failure notices) */
	volatile uint64_t *bells;   /* [PC_BELLS] doorbells (see PC_BELLS) */
	uint64_t xseq;		    /* exchanges completed */
	uint64_t tx_posted, tx_done;
	int ncolls; /* open collectives on the team */
	pc_retired_t *retired;
	int error;	 /* sticky: a member is gone (or the team failed an exchange) */
	int unreachable; /* the error is pc_team_member_unreachable's */
	char errmsg[256];
	/* pcoll_team_shrink: shrinks begun, messages sent, and the flag of each
	 * member's slot (both areas) as last read */
	uint32_t shrink_epoch;
	uint64_t shrink_sent;
	uint64_t *shrink_flag;
	uint64_t shrink_tx_posted, shrink_tx_done;
	/* Destroyed after a shrink: kept, with its region and id, until the
	 * context is freed (survivors still finishing the agreement may write
	 * into its shrink slots). */
	int parked;
};

/* Allocate a team of size with this process at rank, and its registered
 * exchange region (key published by the caller); members etc. filled later. */
int pc_team_alloc(pcoll_ctx_t *ctx, int size, int rank, pcoll_team_t **out, pc_tp_rkey_t *xkey);
void pc_team_free(pcoll_team_t *t);
/* Under lock, when the context goes: free the teams destroyed after a shrink. */
void pc_team_free_parked(pcoll_ctx_t *ctx);
/* Deregister the team's regions and forget its sends, while the endpoint is
 * open (pc_team_free does it; finalize does it for teams still open). */
void pc_team_release_fabric(pcoll_team_t *t);
/* Bytes of the exchange region of a team of size members. */
size_t pc_team_xlen(int size);

/* Allgather of len (<= PC_XCHG_MAX) bytes over the team's fabric exchange. */
int pc_team_allgather(pcoll_team_t *t, int tag, const void *mine, size_t len, void *all);
int pc_team_barrier(pcoll_team_t *t, int tag);
/* Remote CQ data for team id arrived (under the engine lock): a count for
 * exchange slot idx, or (value) a failure notice. */
void pc_team_notify(pcoll_ctx_t *ctx, uint32_t id, int value, uint64_t idx);
/* Offset of the failure notices in a team's exchange region. */
size_t pc_team_notice_off(const pcoll_team_t *t);
/* Offset of sender's slot in area (0, 1: exchange parities; PC_X_SHRINK_AREA
 * and the next: shrink parities; PC_X_AREAS: our own send slots, sender 0
 * exchange, 1 shrink). */
size_t pc_team_slot_off(const pcoll_team_t *t, int area, int sender);
/* Point xflags and notices into the region for the team's size. */
void pc_team_layout(pcoll_team_t *t);

/* notice.c: failure notices. A process that learns by its own means that a
 * peer is gone (fabric error, same-node liveness, PMIx event) tells every
 * other live process of the context, so that peers on other nodes and peers
 * that never write to the dead one learn it at once, and all name the same
 * rank. Under lock. */
void pc_notice_scan(pcoll_ctx_t *ctx);
void pc_notice_announce(pcoll_ctx_t *ctx);
/* Under lock: mark job rank r gone in every team that has it. */
void pc_team_member_gone(pcoll_ctx_t *ctx, int r, const char *why);
/* Under lock: a write to r failed while r is provably alive: every team with
 * r fails with PCOLL_ERR_FABRIC, and r is not counted gone (a shrink keeps
 * it). */
void pc_team_member_unreachable(pcoll_ctx_t *ctx, int r, const char *why);
/* Under lock: the team's sticky error, else the context's (0 if none). */
int pc_team_failed(const pcoll_team_t *t, const char **msg);
/* Team rank of job rank r in t, or -1. */
int pc_team_find(const pcoll_team_t *t, int r);
/* Free the value regions retired before `upto` was the head (see coll.c). */
void pc_team_reap(pcoll_team_t *t, pc_retired_t *upto);

/* Doorbells (the counter path, where a write names no collective): words
 * after the notices of the context's team region, one per collective id
 * modulo PC_BELLS. A peer that writes what may start a round on an idle
 * collective here (an activation, a quorum arrival, a flush, the data that
 * stands for a skipped activation) then writes a new value into that
 * collective's bell, so that the engine visits only the collectives whose
 * bell changed. Every team region has the area; only the context's is used. */
#define PC_BELLS 256
/* Offset of the doorbells in a team's exchange region. */
size_t pc_team_bell_off(const pcoll_team_t *t);

/* CQ data ids of team exchange regions: collective ids stay below this. */
#define PC_TEAM_ID_BIT (1u << 23)

#endif
