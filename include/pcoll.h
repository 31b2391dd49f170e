/*
 * pcoll.h -- partial collectives over libfabric RDMA.
 *
 * This is the only header users include. Every handle is opaque and comes in
 * create/destroy pairs; attribute and configuration structs are filled with
 * defaults by their *_init function first; every function returns 0 (or a
 * documented non-negative value) on success and a negative PCOLL_ERR_* code on
 * failure, which pcoll_strerror() turns into text. pcoll_last_error() gives the
 * detailed message of the last failure on the calling thread.
 *
 * Semantics in brief (see README.md and docs/DESIGN.md for the full contract):
 * a collective is a persistent SUM-allreduce of one flat buffer on the P
 * processes of the job. It proceeds in global rounds 1, 2, 3, ...; every process
 * is given every round, in order, exactly once, with bit-identical data. A
 * process's version v is the number of rounds it has been given.
 * pcoll_step(g) adds g (computed on version v) to the process's pending
 * accumulator, marks the process as arrived at v, and blocks until round v+1
 * has completed. A round is triggered by the processes that have arrived
 * (all of them in PCOLL_SYNC, the first in PCOLL_SOLO, a shared-seed random
 * initiator in PCOLL_MAJORITY, any k in PCOLL_QUORUM); when it is triggered,
 * every process contributes its whole pending accumulator (late contributions
 * go into the next round, never dropped). No contribution is ever staler than
 * attr.staleness rounds.
 *
 * Threading: cfg.thread_level chooses. PCOLL_THREAD_SERIALIZED (the default):
 * calls on one context and its collectives come from one thread at a time.
 * PCOLL_THREAD_MULTIPLE: different threads may drive different collectives
 * of one context at once; a large reduction of one (64 KiB or more,
 * PCOLL_UNLOCKED_REDUCE_BYTES) runs outside the context's lock, so it does
 * not hold up the others. pcoll runs one progress thread per context, which
 * moves the rounds other processes trigger while the caller computes.
 */
#ifndef PCOLL_H
#define PCOLL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The header's version. A library with the same major accepts callers built
 * against any header with a minor up to its own: structs carry their size
 * (set by their init functions), so fields added at the end default for
 * callers that did not know them. pcoll_version() gives the library's. */
#define PCOLL_VERSION_MAJOR			0
#define PCOLL_VERSION_MINOR			4
#define PCOLL_VERSION_PATCH			0
#define PCOLL_VERSION_CODE(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#define PCOLL_VERSION                                                                              \
	PCOLL_VERSION_CODE(PCOLL_VERSION_MAJOR, PCOLL_VERSION_MINOR, PCOLL_VERSION_PATCH)

/**
 * The run-time library's version; any pointer may be NULL. Returns
 * PCOLL_VERSION_CODE of it, so a caller can compare it with PCOLL_VERSION.
 */
int pcoll_version(int *major, int *minor, int *patch);

/* ---------------------------------------------------------------- errors */

/** Return codes. Success is 0; every error is negative. */
enum pcoll_error {
	PCOLL_SUCCESS = 0,
	PCOLL_ERR_INVAL = -1,	     /**< invalid argument (NULL, count 0, out of range) */
	PCOLL_ERR_NOMEM = -2,	     /**< out of memory */
	PCOLL_ERR_FABRIC = -3,	     /**< libfabric call failed */
	PCOLL_ERR_PMIX = -4,	     /**< PMIx wireup failed */
	PCOLL_ERR_MISMATCH = -5,     /**< processes disagree on collective parameters */
	PCOLL_ERR_STATE = -6,	     /**< call not valid in the current state */
	PCOLL_ERR_TIMEOUT = -7,	     /**< a peer stopped answering for longer than the timeout */
	PCOLL_ERR_PEER = -8,	     /**< a peer failed (fabric error on its endpoint) */
	PCOLL_ERR_FINALIZED = -9,    /**< the collective's context was finalized */
	PCOLL_ERR_PENDING = -10,     /**< destroyed with completed rounds never taken */
	PCOLL_ERR_UNSUPPORTED = -11, /**< the fabric cannot do what was asked */
	PCOLL_ERR_INTERNAL = -12,    /**< internal invariant broken (a bug; please report) */
	PCOLL_ERR_WIREUP = -13	     /**< no way to find the other processes, or the host's
					  oob allgather failed */
};

/** Short description of a return code; never NULL. */
const char *pcoll_strerror(int err);

/** Detailed message of the last error on the calling thread ("" if none). */
const char *pcoll_last_error(void);

/* ------------------------------------------------------------- datatypes */

/** Element types. The reduction is always SUM. */
typedef enum pcoll_datatype {
	PCOLL_FLOAT32 = 0,
	PCOLL_FLOAT64 = 1,
	PCOLL_FLOAT16 = 2,  /**< IEEE binary16; summed in float, rounded to nearest even */
	PCOLL_BFLOAT16 = 3, /**< bfloat16; summed in float, rounded to nearest even */
	PCOLL_INT32 = 4,    /**< two's complement, wraps on overflow */
	PCOLL_INT64 = 5,
	PCOLL_DATATYPE_COUNT
} pcoll_datatype_t;

/** Size in bytes of one element, or 0 for an invalid datatype. */
size_t pcoll_datatype_size(pcoll_datatype_t dt);

/** Name of a datatype ("float32", ...), or "invalid". */
const char *pcoll_datatype_name(pcoll_datatype_t dt);

/* --------------------------------------------------------------- context */

typedef struct pcoll_ctx pcoll_ctx_t;

/** How a write is announced to its target. */
typedef enum pcoll_notify {
	PCOLL_NOTIFY_AUTO = 0,	/**< by capability; PCOLL_NOTIFY=cntr|cqdata overrides */
	PCOLL_NOTIFY_CNTR = 1,	/**< remote completion counter (FI_RMA_EVENT); refused on
				     sockets, whose counters stall its writes */
	PCOLL_NOTIFY_CQDATA = 2 /**< remote CQ data (fi_writedata) */
} pcoll_notify_t;

/**
 * Out-of-band bootstrap, in the manner of UCC's oob: the host library (an MPI
 * program, a framework's process group) lends its own allgather, and pcoll
 * uses it where it would ask PMIx: to exchange endpoint addresses and the
 * keys of the context's team at init, and to meet at finalize. No PMIx
 * server is needed then.
 */
typedef struct pcoll_oob {
	/** Blocking allgather over the oob.size processes: every process passes
	 * `bytes` bytes in `send`; `recv` receives size*bytes bytes, rank order.
	 * Return 0 on success, anything else on failure (pcoll then fails with
	 * PCOLL_ERR_WIREUP). Called only from pcoll_init and pcoll_finalize, by
	 * the thread that calls them, on every process: creates, destroys and
	 * team splits exchange over the fabric, not through the host. NULL: no
	 * oob (PMIx or singleton). */
	int (*allgather)(const void *send, void *recv, size_t bytes, void *arg);
	void *arg; /**< passed to allgather */
	int rank;  /**< this process's rank among the oob's processes, [0, size) */
	int size;  /**< number of processes taking part */
} pcoll_oob_t;

/** What the caller may do from several threads (as MPI_Init_thread's level). */
typedef enum pcoll_thread_level {
	/** One thread at a time calls into a context and its collectives (the
	 * default, like MPI_THREAD_SERIALIZED); the caller serializes. */
	PCOLL_THREAD_SERIALIZED = 0,
	/** Threads may call concurrently on different collectives of one
	 * context (each collective still driven by one thread at a time);
	 * create, destroy and finalize stay serialized, in the same order on
	 * every process. */
	PCOLL_THREAD_MULTIPLE = 1
} pcoll_thread_level_t;

/** Context configuration. Fill with pcoll_config_init() first. */
typedef struct pcoll_config {
	/** sizeof(pcoll_config_t) of the caller's header, set by
	 * pcoll_config_init(); a struct not filled by it is refused. */
	size_t size;
	/** libfabric provider name ("shm", "tcp", "tcp;ofi_rxm", ...). NULL:
	 * PCOLL_PROVIDER, then FI_PROVIDER, then libfabric's first choice. */
	const char *provider;
	/** Notification path; AUTO prefers remote CQ data where the provider has it
	 * (measured faster here) and remote counters otherwise. */
	pcoll_notify_t notify;
	/** Milliseconds a blocked call waits without any progress from the peers
	 * before it fails with PCOLL_ERR_TIMEOUT. 0: PCOLL_TIMEOUT_MS or 300000.
	 * Negative: wait forever. Also bounds PMIx fences. */
	int timeout_ms;
	/** Run a progress thread (default 1). With 0, rounds move only inside pcoll
	 * calls, so other processes wait while this one computes. */
	int progress_thread;
	/** Place the progress thread with hwloc (default 1): next to the caller's
	 * binding, on an SMT sibling where there is one. */
	int bind_progress_thread;
	/** Longest sleep, in microseconds, of an idle progress thread on providers
	 * without a blocking wait object (shm). 0: PCOLL_IDLE_SLEEP_US or 1000;
	 * at most 1000000. */
	unsigned idle_sleep_max_us;
	/** Wireup by the host (see pcoll_oob_t); zeroed by pcoll_config_init. */
	pcoll_oob_t oob;
	/** Thread level (default PCOLL_THREAD_SERIALIZED). */
	pcoll_thread_level_t thread_level;
} pcoll_config_t;

/** Fill a configuration with defaults. */
void pcoll_config_init(pcoll_config_t *cfg);

/**
 * Start pcoll: wireup (rank, size, endpoint addresses), libfabric endpoint,
 * progress thread. Collective over the job. The wireup is cfg->oob when its
 * allgather is set, else the launcher's PMIx server. Without either the
 * process runs alone (size 1) -- unless the environment says the job has
 * more processes (PMI_SIZE, SLURM_STEP_NUM_TASKS, OMPI_COMM_WORLD_SIZE,
 * MPI_LOCALNRANKS, WORLD_SIZE > 1: a launcher that speaks no PMIx, or srun
 * without --mpi=pmix): then it fails with PCOLL_ERR_WIREUP naming the
 * variable, rather than run P silent singletons. PCOLL_WIREUP=singleton runs
 * alone anyway; PCOLL_WIREUP=pmix insists on PMIx. cfg may be NULL for
 * defaults.
 */
int pcoll_init(const pcoll_config_t *cfg, pcoll_ctx_t **ctx);

/**
 * Stop pcoll. Collective. Collectives still open are invalidated: their
 * pcoll_step/pcoll_flush/pcoll_next_round return PCOLL_ERR_FINALIZED and
 * pcoll_destroy only frees their memory. Returns 0 or an error; ctx is freed in
 * every case (once its last collective is destroyed).
 */
int pcoll_finalize(pcoll_ctx_t *ctx);

/**
 * Local teardown for a process that wants to exit at once (after an error,
 * or on a signal): not collective, waits for no peer. Stops the progress
 * thread, closes the endpoint and frees the context as pcoll_finalize does;
 * collectives still open are invalidated (pcoll_destroy only frees them).
 * The peers see this process as gone (PCOLL_ERR_PEER or the timeout).
 */
int pcoll_abort(pcoll_ctx_t *ctx);

/** This process's rank in [0, size), or PCOLL_ERR_INVAL for NULL. */
int pcoll_rank(const pcoll_ctx_t *ctx);

/** Number of processes, or PCOLL_ERR_INVAL for NULL. */
int pcoll_size(const pcoll_ctx_t *ctx);

/** What pcoll_init chose, for tools such as pcoll_info. */
typedef struct pcoll_ctx_info {
	char provider[64];	  /**< libfabric provider, e.g. "shm" or "tcp;ofi_rxm" */
	char fabric[64];	  /**< fabric name */
	char domain[64];	  /**< domain name (the NIC, for NIC-backed providers) */
	char endpoint[128];	  /**< this endpoint's address, printable */
	char nic[64];		  /**< NIC found by hwloc near this process and whether
				       it chose the domain ("eth0 (used)", "eth0 (not
				       offered)"), "mlx5_0 (PCOLL_NIC)", or "none" */
	char wireup[32];	  /**< "pmix", "oob" or "singleton" */
	char wait[32];		  /**< how an idle progress thread waits: "fd" or "sleep" */
	char progress_cpuset[64]; /**< hwloc cpuset of the progress thread, or "unbound" */
	pcoll_notify_t notify;	  /**< notification path in use */
	int progress_thread;	  /**< 1 when a progress thread runs */
	int manual_progress;	  /**< 1 when the provider needs the target to poll */
	int rma_event;		  /**< 1 when the provider offers remote counters */
	int cq_data;		  /**< 1 when the provider offers remote CQ data */
	int timeout_ms;		  /**< timeout in force (-1: none) */
	unsigned idle_sleep_max_us;
} pcoll_ctx_info_t;

/** Fill info with what this context uses. */
int pcoll_ctx_query(const pcoll_ctx_t *ctx, pcoll_ctx_info_t *info);

/* ------------------------------------------------------------------ teams */

/**
 * A team: an ordered subset of the context's processes that collectives run
 * on, in the manner of an MPI communicator or a UCC team. Team rank t is job
 * rank pcoll_team_job_rank(team, t). Collectives on different teams (even
 * overlapping ones) are in flight at once, each with its own mode and S.
 */
typedef struct pcoll_team pcoll_team_t;

/** The color of a process that joins no team in pcoll_team_split. */
#define PCOLL_UNDEFINED (-32766)

/**
 * Split the context into teams, as MPI_Comm_split: collective over the
 * context (every process calls it, in the same order relative to the other
 * collective calls). Processes passing the same color form one team, ranked
 * by key, then by job rank; color PCOLL_UNDEFINED gives *team = NULL. color
 * must be >= 0 or PCOLL_UNDEFINED (else PCOLL_ERR_INVAL, on every process).
 * The exchange runs over the fabric (no PMIx fence).
 */
int pcoll_team_split(pcoll_ctx_t *ctx, int color, int key, pcoll_team_t **team);

/**
 * Continue without the dead (ULFM's MPI_Comm_shrink, NCCL's ncclCommShrink):
 * after a peer failure, the live members of team (NULL: the whole context)
 * agree on the set of processes that are gone and each gets the same new
 * team of the others, in their old order (*survivors; destroy it with
 * pcoll_team_destroy). Collective over the survivors. Rounds completed
 * before the failure stay as they were; the old team and its collectives
 * stay failed (destroy them: that is local and immediate); the pending
 * contribution of a dead process is lost, the survivors' next steps go to
 * collectives created on the new team. The agreement is uniform: deaths
 * during it and survivors that learn of them late still get the same team
 * everywhere; a process that died meanwhile may be in it, and the team then
 * fails like any team that lost a member (shrink it again). PCOLL_ERR_PEER
 * when the others count this process as gone; PCOLL_ERR_TIMEOUT when a live
 * member never takes part. Teams of up to 1664.
 */
int pcoll_team_shrink(pcoll_ctx_t *ctx, pcoll_team_t *team, pcoll_team_t **survivors);

/** This process's rank in the team, or PCOLL_ERR_INVAL for NULL. */
int pcoll_team_rank(const pcoll_team_t *team);

/** Number of processes in the team, or PCOLL_ERR_INVAL for NULL. */
int pcoll_team_size(const pcoll_team_t *team);

/** Job rank (pcoll_rank) of team rank t, or PCOLL_ERR_INVAL out of range. */
int pcoll_team_job_rank(const pcoll_team_t *team, int t);

/**
 * Destroy a team. Collective over its members. PCOLL_ERR_STATE while
 * collectives on it are open (destroy them first). After a peer failure it
 * is local and returns at once; the memory is freed in every case but that.
 */
int pcoll_team_destroy(pcoll_team_t *team);

/* ------------------------------------------------------------ collective */

typedef struct pcoll_coll pcoll_coll_t;

/** Who triggers a round. */
typedef enum pcoll_mode {
	PCOLL_SYNC = 0,	    /**< all processes (a plain allreduce, staleness 0) */
	PCOLL_SOLO = 1,	    /**< the first process to arrive */
	PCOLL_MAJORITY = 2, /**< a shared-seed random initiator per round */
	PCOLL_QUORUM = 3,   /**< any attr.quorum processes */
	PCOLL_MODE_COUNT
} pcoll_mode_t;

/** Largest staleness bound accepted (each unit costs one result buffer). */
#define PCOLL_STALENESS_MAX 1024

/** Collective attributes. Fill with pcoll_attr_init() first. */
typedef struct pcoll_attr {
	/** sizeof(pcoll_attr_t) of the caller's header, set by pcoll_attr_init(). */
	size_t size;
	pcoll_mode_t mode; /**< default PCOLL_SYNC */
	int quorum;	   /**< k for PCOLL_QUORUM, in [1, P]; ignored otherwise */
	/** Staleness bound S in [0, PCOLL_STALENESS_MAX]; default 2. Forced to 0
	 * in PCOLL_SYNC. */
	int staleness;
	uint64_t seed; /**< seed of the majority initiator sequence; same on all */
	/** The processes the collective runs on: a team from pcoll_team_split
	 * (ranks, P, quorum and initiators are the team's), or NULL for the
	 * whole context (the default). Since 0.3. */
	pcoll_team_t *team;
} pcoll_attr_t;

/** Fill attributes with defaults. */
void pcoll_attr_init(pcoll_attr_t *attr);

/** Name of a mode ("sync", "solo", "majority", "quorum"), or "invalid". */
const char *pcoll_mode_name(pcoll_mode_t mode);

/**
 * Create a persistent partial allreduce of count elements of datatype dt.
 * Collective: every process must call it with the same count, datatype,
 * mode, quorum, staleness and seed; if they disagree (or one passes invalid
 * arguments) every process gets an error (PCOLL_ERR_INVAL where the argument
 * was bad, PCOLL_ERR_MISMATCH elsewhere) and *coll is NULL. attr may be NULL
 * for defaults.
 */
int pcoll_allreduce_create(pcoll_ctx_t *ctx, size_t count, pcoll_datatype_t dt,
			   const pcoll_attr_t *attr, pcoll_coll_t **coll);

/**
 * Destroy a collective. Collective. Flushes first if the collective has open
 * rounds (so call it on every process). Completed rounds that were never
 * taken with pcoll_next_round are discarded and reported with
 * PCOLL_ERR_PENDING; the memory is freed in every case.
 */
int pcoll_destroy(pcoll_coll_t *coll);

/** One completed round as handed to a process. */
typedef struct pcoll_round {
	uint64_t index;		/**< round number, 1, 2, 3, ... (never wraps) */
	const void *data;	/**< count elements: SUM of what was taken; valid
				     until the next pcoll call on this collective */
	uint64_t contributions; /**< number of step() contributions summed in it */
	int64_t staleness;	/**< largest staleness among them; -1 if none */
	uint32_t flushed;	/**< processes that had flushed when they joined */
	int final;		/**< 1 for the round that completes a flush */
} pcoll_round_t;

/**
 * Contribute and advance. contribution (count elements, computed on the
 * current version v) is added to the pending accumulator; then the call blocks
 * until round v+1 has completed, driving progress itself. Returns the number
 * (>= 1) of completed rounds now waiting for pcoll_next_round, or an error.
 */
int pcoll_step(pcoll_coll_t *coll, const void *contribution);

/**
 * Nonblocking step: contribute and arrive, return at once. Follow with
 * pcoll_test() until it returns >= 1.
 */
int pcoll_step_post(pcoll_coll_t *coll, const void *contribution);

/**
 * Drive progress once. Returns the number of completed rounds waiting for
 * pcoll_next_round when the last posted step's round v+1 has completed (>= 1),
 * 0 when it has not yet, or an error.
 */
int pcoll_test(pcoll_coll_t *coll);

/**
 * Take the next completed round not yet given to this process: returns 1 and
 * fills *round, 0 when there is none, or an error. The process's version
 * becomes round->index. After a flush, rounds are given up to and including
 * the final round; rounds that eager peers start after it are given once this
 * process steps or flushes again, so every process sees the epoch end at the
 * same round.
 */
int pcoll_next_round(pcoll_coll_t *coll, pcoll_round_t *round);

/**
 * As pcoll_next_round, but copies the round's count elements into `out`
 * (caller memory, count elements of the collective's datatype) and sets
 * round->data = out, so the data stays valid as long as the caller keeps
 * `out` -- one copy, for callers that keep rounds or hand them to another
 * runtime. Returns 1, 0 when there is no round (out untouched), or an error;
 * PCOLL_ERR_INVAL when out or round is NULL.
 */
int pcoll_next_round_into(pcoll_coll_t *coll, void *out, pcoll_round_t *round);

/**
 * The meeting point: this process has nothing newer to contribute. Blocks
 * until every process has flushed and a final synchronous round has emptied
 * every pending accumulator, and returns 0. Rounds completed meanwhile
 * (including the final one) wait for pcoll_next_round. Afterwards the
 * collective may be stepped again (a new epoch).
 *
 * Memory stays at the S+1 result buffers: when rounds this process has not
 * taken fill them while others still step, the engine holds the next round
 * and pcoll_flush returns early with the number of rounds waiting (> 0); the
 * flush stays posted. Take them with pcoll_next_round and call pcoll_flush
 * again (a loop: `while ((rc = pcoll_flush(c)) > 0) take rounds;`). While a
 * flush is polled with pcoll_flush_test the same hold applies: take rounds
 * between polls.
 */
int pcoll_flush(pcoll_coll_t *coll);

/** Nonblocking flush: mark flushed and return; complete with pcoll_flush_test. */
int pcoll_flush_post(pcoll_coll_t *coll);

/** 1 when the flush posted by pcoll_flush_post has completed, 0 if not yet. */
int pcoll_flush_test(pcoll_coll_t *coll);

/**
 * The initiator of round `round` of a PCOLL_MAJORITY collective: the rank
 * whose arrival triggers it (the same answer on every process, from the
 * shared seed). PCOLL_ERR_INVAL for other modes or round 0.
 */
int pcoll_round_initiator(const pcoll_coll_t *coll, uint64_t round);

/**
 * Counters and memory of one collective on this process. Fields are only ever
 * added at the end: pcoll_coll_query fills as much as the caller's struct
 * (of the header it was built against) has room for.
 */
typedef struct pcoll_coll_info {
	uint64_t version;	   /**< rounds given to this process */
	uint64_t completed;	   /**< rounds completed on this process */
	uint64_t steps;		   /**< step() calls */
	uint64_t rounds_initiated; /**< rounds this process triggered */
	uint64_t holds;		   /**< times the engine held a round for staleness */
	double wait_seconds;	   /**< time spent blocked in step/flush */
	size_t count;
	pcoll_datatype_t datatype;
	pcoll_mode_t mode;
	int quorum;
	int staleness;
	/** "recursive-doubling", "reduce-scatter-allgather" or "ring" */
	const char *algorithm;
	/**
	 * (0.4) Bytes this collective holds on this process: its registered
	 * regions (S+1 result buffers, two pending accumulators, the receive
	 * area, scratch for recursive doubling, flags), its bookkeeping, and any
	 * rounds copied out of a full result ring (only while a blocking call is
	 * inside pcoll). At most (S+4) times count * datatype size plus a few
	 * KiB above 16 KiB (README: "Memory").
	 */
	size_t memory_bytes;
} pcoll_coll_info_t;

/**
 * Fill the first info_size bytes of info for coll: pass
 * sizeof(pcoll_coll_info_t). Sizes down to that of 0.3's struct (without
 * memory_bytes) are accepted; smaller ones are PCOLL_ERR_INVAL. Since 0.4.
 */
int pcoll_coll_query_sized(const pcoll_coll_t *coll, pcoll_coll_info_t *info, size_t info_size);

/**
 * Fill info for coll. Since 0.4 a macro over pcoll_coll_query_sized with the
 * caller's struct size; the function of that name remains for programs built
 * against 0.3 and fills 0.3's fields.
 */
int pcoll_coll_query(const pcoll_coll_t *coll, pcoll_coll_info_t *info);
#define pcoll_coll_query(coll, info) pcoll_coll_query_sized((coll), (info), sizeof(*(info)))

#ifdef __cplusplus
}
#endif
#endif /* PCOLL_H */
