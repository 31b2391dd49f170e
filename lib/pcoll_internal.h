/* Internal structures shared by lib/ files. Never included by users. */
#ifndef PCOLL_INTERNAL_H
#define PCOLL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "pcoll.h"

#include "error.h"

/* The smallest struct sizes accepted: those of the first header (0.2) that
 * had a size field. Later fields go at the end and default when absent. */
#define PC_ATTR_SIZE_MIN   (offsetof(pcoll_attr_t, seed) + sizeof(uint64_t))
#define PC_CONFIG_SIZE_MIN (offsetof(pcoll_config_t, thread_level) + sizeof(pcoll_thread_level_t))

#ifndef PCOLL_NO_CTX
#include "exec.h"
#include "liveness.h"
#include "remote.h"
#include "round.h"
#include "schedule.h"
#include "team.h"
#include "topo.h"
#include "transport.h"
#include "wireup.h"

typedef struct pcoll_coll pcoll_coll_t;

struct pcoll_ctx {
	int rank, size;
	pcoll_config_t cfg;
	pc_wireup_t wu;
	pc_tp_t *tp;
	pc_topo_t topo;
	pthread_mutex_t lock; /* the engine lock: transport and every collective */
	pthread_cond_t cv;
	pthread_cond_t busy_cv; /* a collective's reduction outside the lock ended */
	int busy_waiters;	/* threads waiting on busy_cv (under lock) */
	pthread_t thread;
	int thread_started;
	atomic_int stop;
	int callers;		 /* user threads driving progress in a blocking call (under lock) */
	int returning;		 /* blocking steps whose round is done: their callers return now */
	int hugepages;		 /* PCOLL_HUGEPAGES: transparent huge pages for large regions */
	int polling;		 /* user calls driving progress in pcoll_test/flush_test */
	uint64_t caller_exit_ns; /* when the last one returned */
	uint64_t caller_enters;	 /* blocking calls entered, ever (under lock) */
	int progress_parked;	 /* the progress thread sleeps out a long wait: wake it on exit */
	uint64_t progress_woke;	 /* its last wake-up, after its stall check (self_stalled) */
	int finalized;
	/* Sticky error of the whole context (an unattributed fabric error, this
	 * process stalled past the timeout, pcoll_abort), reported by the next
	 * call on any collective. A lost peer fails only the teams it is in. */
	int error;
	char errmsg[256];
	pc_proc_id_t *procs; /* [size]: who each rank is, for same-node liveness */
	uint8_t *gone;	     /* [size]: ranks known to be gone */
	int ngone;
	int nunreachable;  /* writes to live peers that failed (their teams failed) */
	uint8_t *announce; /* [size]: found gone here, not yet told to the others */
	uint8_t *relooked; /* [size]: a reset from this live peer was looked at again */
	int nannounce;
	uint64_t send_live_ns; /* last liveness look from a blocked send */
	pcoll_coll_t **colls;  /* by collective id */
	/* The engine's active queue (engine.c): the collectives with work, the
	 * only ones pc_engine_progress visits. */
	pcoll_coll_t *active_head, *active_tail;
	int notify_cntr; /* counter path: a remote write names no collective */
	/* Doorbells (team.h, PC_BELLS), the counter path's: the values this
	 * process rang with, the remote counter at the last look at ours, and
	 * what each of ours held then. */
	uint64_t bell_seq, bell_cntr;
	uint64_t bell_seen[PC_BELLS];
	uint32_t ncolls_cap;
	int live_colls;
	pcoll_team_t *world;  /* the whole context */
	pcoll_team_t **teams; /* by team id (world is 0) */
	uint32_t nteams_cap;
	int live_teams;	      /* user teams not yet destroyed */
	uint64_t next_mr_key; /* requested keys must be unique per process (mr_mode 0) */
	char progress_cpuset[64];
	int mr_local;		/* the provider needs local buffers registered: no zero copy */
	struct pc_trace *trace; /* PCOLL_TRACE (trace.h): NULL when off */
};

/* A doorbell ring that waits for the peer's answer (engine.c): to team rank
 * peer, about round, a quorum arrival's if arrival, since ns. */
#define PC_LAZY_MAX 8
typedef struct pc_lazy {
	int peer, arrival;
	int slot; /* the flag slot of peer's first message to us (-1: none) */
	uint64_t round, ns;
} pc_lazy_t;

/* A completed round that had to leave the ring (only while flushed). */
typedef struct pc_spill {
	struct pc_spill *next;
	pc_hdr_t hdr;
	char data[];
} pc_spill_t;

struct pcoll_coll {
	pcoll_ctx_t *ctx;
	pcoll_team_t *team; /* P and rank are the team's; peers are its members */
	uint32_t id;
	uint32_t *peer_ids;  /* [P] each member's id of this collective (CQ data) */
	int bells;	     /* we rely on our doorbell (PCOLL_DOORBELLS, engine.c) */
	uint8_t *peer_bells; /* [P] which members rely on theirs: we ring those */
	size_t count, dtsize, nbytes;
	pcoll_datatype_t dt;
	pcoll_attr_t attr;
	int P, rank;
	pc_sched_t sched;
	pc_rs_t rs;
	pc_exec_t ex;
	pc_exec_env_t env;

	/* One registered region holds everything peers write and we send from. */
	char *mem;
	size_t memlen;
	pc_tp_mr_t *mr;
	pc_tp_rkey_t *rkeys; /* per peer */
	char *vmem;	     /* value slots: activations, arrivals, flush epochs */
	size_t vmemlen;
	pc_tp_mr_t *vmr;
	pc_tp_rkey_t *vkeys;
	size_t flags_off, act_off, arrival_off, flushslot_off;
	size_t rx_off[2], res_off, res_stride, pend_off[2], work_off, work2_off, hdrtx_off;
	uint32_t nslots_res;	      /* S + 1 result buffers */
	volatile uint64_t *flags;     /* [parity][slot] data flags */
	volatile uint64_t *act;	      /* [slot] {round, initiator} pairs */
	volatile uint64_t *arrival;   /* [P] quorum arrivals (root) */
	volatile uint64_t *flushslot; /* [P] flush epochs announced (root) */
	uint64_t *act_seen;	      /* last round read per activation slot */
	uint64_t act_fwd;	      /* last round whose activation we sent on */
	/* The counter path: our first send of a round we initiated to team rank
	 * bell_peer stands for the activation left out, so it rings that peer's
	 * doorbell. Rounds up to bell_upto left it out; bell_rung has rung. */
	uint64_t bell_upto, bell_rung;
	int bell_peer;
	/* Rings that wait for the peer's answer (engine.c, RING_LATER_NS),
	 * oldest first. */
	pc_lazy_t lazy[PC_LAZY_MAX];
	int nlazy;
	unsigned lazy_visits;

	int pend_cur; /* pending accumulator the user adds to */
	uint64_t tx_posted, tx_done, tx_round_base;

	/* Result queue: rounds (version, completed] live in the ring or spill. */
	pc_spill_t *spill_head, *spill_tail;
	uint64_t spill_first; /* round index of spill_head */
	uint64_t nspill;
	/* A full ring holds the next round (bounded: S+1 buffers) and sets
	 * ring_held, which ends a blocking pcoll_flush early so that its caller
	 * takes rounds. Rounds spill (a copy each) only while a user call of
	 * another collective blocks in pcoll: holding could stop the peers it
	 * waits for. */
	int ring_held;
	int flush_blocking;
	pc_spill_t *given_spill; /* freed at the next call */
	uint64_t given_round;	 /* round whose buffer the user may be reading */

	int step_posted;      /* a step whose round v+1 is awaited */
	int zero_copy;	      /* its round reads the caller's buffer: wait for sends too */
	uint64_t step_target; /* that round */
	int step_blocking;    /* the step is pcoll_step, blocked in pcoll */
	int step_returning;   /* ... and its round is done (counted in ctx->returning) */
	const void *lend;     /* a blocking step's buffer, for the engine's join of
				 step_target (the previous round's sends were still
				 in flight when it arrived) */
	int flush_posted;
	uint64_t flush_epoch_target;
	int error;	    /* sticky error of this collective */
	char errmsg[256];   /* its message (it may have happened on the progress thread) */
	int dead;	    /* context finalized */
	int ready;	    /* create finished: the engine may drive it */
	uint64_t epoch_end; /* final round of the last flush: rounds after it are
			       given only once the user starts the next epoch */
	double wait_s;
	uint64_t last_progress_ns;
	/* In the engine's active queue (engine.c), under lock. */
	pcoll_coll_t *active_next, *active_prev;
	int active; /* in the queue */
	int woken;  /* a peer's write named it since the engine last looked */
	/* A thread runs this collective's reduction outside the lock (engine.c):
	 * until it relocks, nobody else advances the collective or frees it. */
	int busy;
	int fault_delay_us; /* PCOLL_FAULT_REDUCE_DELAY_US: test hook */
};

/* A blocking wait on one object (a collective or a team exchange). */
typedef struct pc_wait {
	int (*done)(void *arg); /* under lock */
	void *arg;
	/* Under lock: the first sticky error that concerns the object (0 if none),
	 * with its message. */
	int (*failed)(void *arg, const char **msg);
	/* The timeout fired: record it (sticky) and return the error. */
	int (*timed_out)(void *arg, int timeout_ms);
	double *wait_s;	    /* time spent blocked is added here (may be NULL) */
	pcoll_coll_t *coll; /* the collective waited for, if one (may be NULL) */
} pc_wait_t;

/* engine.c */
int pc_engine_progress(pcoll_ctx_t *ctx); /* under ctx->lock: returns >0 if anything moved */
int pc_engine_coll(pcoll_coll_t *c);	  /* under lock: advance one collective */
int pc_engine_wait_on(pcoll_ctx_t *ctx, const pc_wait_t *w);
int pc_engine_wait(pcoll_ctx_t *ctx, pcoll_coll_t *c, int (*done)(pcoll_coll_t *));
int pc_engine_start_thread(pcoll_ctx_t *ctx);
void pc_engine_stop_thread(pcoll_ctx_t *ctx);
void pc_coll_notify(void *arg, uint64_t data); /* transport callback for remote CQ data */
/* Under lock: c got work (create finished; also done by every step, in
 * pc_coll_arrive_actions, and flush, in pc_coll_send_flush): into the active
 * queue. It leaves the queue by itself when it has none. */
void pc_engine_activate(pcoll_coll_t *c);
void pc_engine_forget(pcoll_coll_t *c); /* under lock: c goes away: out of the queue */
/* Under lock, counter path: ring c's doorbell at team rank peer (engine.c);
 * pc_engine_sent, after a data write of round r to peer: rings when that
 * write stood for an activation left out, unless the peer has joined r. */
int pc_engine_ring(pcoll_coll_t *c, int peer);
int pc_engine_sent(pcoll_coll_t *c, int peer, uint64_t r);
/* Under lock: wait until no thread runs c's reduction outside the lock. */
void pc_engine_quiesce(pcoll_coll_t *c);
void pc_coll_arrive_actions(pcoll_coll_t *c, int action);
void pc_coll_send_flush(pcoll_coll_t *c);
int pc_coll_join_now(pcoll_coll_t *c, const void *src);
uint64_t pc_coll_ready_rounds(const pcoll_coll_t *c);

/* ctx.c */
void pc_ctx_free(pcoll_ctx_t *ctx);
/* Under lock: mark same-node peers that are gone (failing their teams);
 * returns the number newly found. */
int pc_ctx_check_peers(pcoll_ctx_t *ctx);
/* Under lock: job rank r is gone (why says how we know); unless we learnt
 * it from another process's notice (told), we announce it to the others. */
void pc_ctx_peer_gone(pcoll_ctx_t *ctx, int r, const char *why);
void pc_ctx_peer_told(pcoll_ctx_t *ctx, int r, const char *why);
/* Under lock: the first sticky error of a collective, its team or the context. */
int pc_coll_failed(const pcoll_coll_t *c, const char **msg);

/* coll.c */
void pc_coll_release_fabric(pcoll_coll_t *c);
void pc_coll_free(pcoll_coll_t *c);

/* Encoding of remote CQ data: collective id, flag kind, flag index. */
#define PC_CQ_KIND_COUNT 0ULL /* data flag: increment */
#define PC_CQ_KIND_VALUE 1ULL /* value slot written in place: just look */
static inline uint64_t pc_cq_encode(uint32_t coll, uint64_t kind, uint64_t idx)
{
	return ((uint64_t)coll << 40) | (kind << 39) | (idx & ((1ULL << 39) - 1));
}
#endif

#endif
