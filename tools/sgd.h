/*
 * sgd.h -- what the files of pcoll_sgd share: options, the workload interface, the
 * imbalance injector, the control plane, the training run and its results.
 *
 *   pcoll_sgd.c      main: set-up, one run per mode, the comparison, clean-up
 *   sgd_options.c    command line and per-workload defaults
 *   sgd_workloads.c  dense/softmax kernels, the hyperplane workload, wl_create()
 *   sgd_mlp.c        the MLP workload
 *   sgd_seq.c        the variable-length sequence workload
 *   sgd_control.c    injected delays, the SYNC control collective, replica agreement
 *   sgd_train.c      one training run: steps, rounds, snapshots, evaluation, run CSV
 *   sgd_output.c     the comparison table, summary CSV and gnuplot
 *
 * Timing, the seeded random streams, number parsing and gnuplot come from bench_common.
 */
#ifndef PCOLL_SGD_H
#define PCOLL_SGD_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench_common.h"
#include "pcoll.h"

#define MAX_MODES	 16
#define DEFAULT_OUTDIR	 "pcoll_sgd_out"
#define PLOT_SCRIPT_NAME "plot_sgd.gp"
#define PLOT_ENV	 "PCOLL_SGD_PLOT"
#define CTRL_COUNT	 8 /* int64 elements of the control collective */
#define EVAL_CHUNK	 64
#define PROGRESS_LINES	 10

/* ------------------------------------------------------------------ errors */

/* This process's rank once pcoll is up (-1 before), for messages. */
extern int g_rank;

/* Print "pcoll_sgd: rank R: MESSAGE" in one write and exit(EXIT_FAILURE). */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Check a pcoll return code: negative is an error, reported with the rank and detail. */
int pcheck(int rc, const char *what);

void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);

/* Monotonic seconds. */
static inline double now_s(void)
{
	return 1e-6 * bench_now_us();
}

static inline void sleep_ms(double ms)
{
	bench_sleep_us(1000.0 * ms);
}

/* Keys of the seeded random streams (bench_rng_key(seed, TAG_..., ...)): every process
 * derives the same numbers from (seed, keys). */
enum {
	TAG_INIT = 1,
	TAG_DATA = 2,
	TAG_SAMPLE = 3,
	TAG_EVAL = 4,
	TAG_BATCH = 5,
	TAG_DELAY = 6,
	TAG_SLOW = 7,
};

/* ---------------------------------------------------------------- options */

typedef enum wl_kind { WL_HYPERPLANE, WL_MLP, WL_SEQ } wl_kind_t;
typedef enum imbalance { IMB_PAPER, IMB_SLOW, IMB_TAIL, IMB_NONE } imbalance_t;

extern const char *const wl_names[];
extern const char *const imb_names[];

typedef struct mode_spec {
	pcoll_mode_t mode;
	int quorum; /* 0: the -k value */
	char label[24];
} mode_spec_t;

typedef struct opts {
	wl_kind_t workload;
	mode_spec_t modes[MAX_MODES];
	int nmodes;
	int staleness;
	int quorum;	 /* 0: max(1, P/2) */
	long steps;	 /* rounds per run; 0: workload default */
	double delay_ms; /* < 0: workload default */
	int delayed;	 /* k of "paper"; 0: max(1, P/2) */
	imbalance_t imbalance;
	uint64_t seed;
	const char *outdir;
	double target_loss; /* NaN: the sync run's final loss */
	int quick;
	const char *provider;
	double lr;	 /* < 0: workload default */
	double momentum; /* < 0: workload default */
	int batch;	 /* 0: workload default */
	int evals;	 /* evaluation points per run; 0: default */
	const char *plot_script;
	int no_plot;
	int phases;	/* --phases: every rank prints where each run's time went */
	int kill_rank;	/* job rank that exits with _exit(1) (--kill-rank); -1: none */
	long kill_step; /* ... when it is about to make this step (0-based) of its first run */
} opts_t;

/* Parse the command line into o, with the workload's defaults filled in; exits on --help,
 * --version (0) and usage errors (2). */
void parse_opts(int argc, char **argv, opts_t *o);

/* The collective attributes of mode m on a team of nprocs (team: NULL for the whole context);
 * a quorum above nprocs (after a shrink) is clamped to nprocs. */
void mode_attr(const opts_t *o, const mode_spec_t *m, int nprocs, pcoll_team_t *team,
	       pcoll_attr_t *attr);

/* -------------------------------------------------------------- workloads */

/*
 * A workload: a parameter vector of nparams floats, a shard of training data on this process
 * and a held-out set that every process generates identically.
 */
typedef struct wl wl_t;
struct wl {
	const char *name;
	size_t nparams;
	int has_accuracy;
	char desc[160];
	/* Deterministic initial parameters (identical on every process). */
	void (*init_params)(wl_t *w, float *params);
	/* Gradient of the mean minibatch loss at params, minibatch keyed by (rank, step); returns
	 * the minibatch loss. */
	double (*grad)(wl_t *w, const float *params, uint64_t step, float *grad);
	/* Held-out loss and accuracy (fraction; NaN where meaningless). */
	void (*eval)(wl_t *w, const float *params, double *loss, double *acc);
	void (*destroy)(wl_t *w);
	uint64_t seed;
	int rank, nprocs, batch;
};

/* The workload o names, with this process's shard. */
wl_t *wl_create(const opts_t *o, int rank, int nprocs);

wl_t *hyper_create(uint64_t seed, int rank, int nprocs, int quick);
wl_t *mlp_create(uint64_t seed, int rank, int nprocs, int batch, int quick);
wl_t *seq_create(uint64_t seed, int rank, int nprocs, int quick);

/* Kernels (sgd_workloads.c). */
int shard_size(int n_train, int rank, int nprocs);
void dense_fwd(const float *X, int B, int nin, const float *W, const float *bias, int nout,
	       float *Z);
void dense_bwd(const float *X, int B, int nin, const float *WT, int nout, const float *dZ,
	       float *dW, float *db, float *dX);
void transpose(const float *A, int rows, int cols, float *AT);
double softmax_xent(const float *logits, int B, int nc, const int *y, float *dl, double scale,
		    long *correct);
void init_normal(float *p, size_t n, double sd, bench_rng_t *r);

/* -------------------------------------------------------- control plane */

typedef struct delayer {
	imbalance_t kind;
	double delta_ms;
	int k, rank, nprocs, slow_rank;
	uint64_t seed;
	int *perm;
} delayer_t;

/* Extra delay, in ms, of this process at its step number `step`. */
double delay_for(delayer_t *d, uint64_t step);

/* A PCOLL_SYNC allreduce through a persistent collective: step, then take the round(s). */
void sync_allreduce(pcoll_coll_t *c, const void *in, void *out, size_t bytes);
void barrier(pcoll_coll_t *ctrl);

/* The control collective (SYNC, CTRL_COUNT int64) on team (NULL: the whole context). */
pcoll_coll_t *ctrl_create(pcoll_ctx_t *ctx, pcoll_team_t *team);

/* Hashes: FNV-1a over bytes (continuing from h), and the fast per-round digest. */
uint64_t fnv1a(uint64_t h, const void *p, size_t n);
uint64_t digest64(const void *p, size_t n);
uint64_t digest64_u64(uint64_t h, uint64_t v);

/* 1 when the 64-bit value h is the same on every process (a collective call). */
int all_equal(pcoll_coll_t *ctrl, uint64_t h, int nprocs);

/* -------------------------------------------------------------------- run */

typedef struct rec {
	double t;	   /* seconds since the run started, this process's clock */
	uint64_t step;	   /* pcoll_step calls made by this process so far */
	uint64_t index;	   /* round index (= version after applying it) */
	uint64_t contrib;  /* contributions summed in the round */
	int64_t staleness; /* largest staleness among them, -1 if none */
	uint64_t digest;   /* hash of the round's data and metadata (agreement check) */
	uint32_t flushed;  /* processes that had flushed */
	int final;	   /* the round that completed a flush */
} rec_t;

typedef struct snap {
	size_t slot;
	float *params;
} snap_t;

typedef struct run_result {
	char label[24];
	char csv[PATH_MAX];
	uint64_t rounds, steps_rank0;
	double wall_s, wait_s_rank0;
	double final_loss, final_acc;
	double mean_stale, mean_contrib;
	int64_t max_stale;
	uint64_t holds_rank0;
	int identical;
	/* peer failures survived in this run (pcoll_team_shrink): P before and after, the job
	 * ranks lost, team rank 0's step count when it learnt of the (last) failure, the round
	 * the survivors resumed from, and the rounds survivors had taken beyond it (undone)
	 * or not yet (adopted) */
	int procs_start, procs_end, shrinks;
	char lost[64];
	uint64_t fail_step, resume_round, rounds_undone, rounds_adopted;
	/* evaluation points: time (rank 0) and held-out loss */
	size_t npts;
	double *pt_t, *pt_loss, *pt_acc;
	uint64_t *pt_round;
	double time_to_target;
} run_result_t;

typedef struct run_ctx {
	const opts_t *o;
	pcoll_ctx_t *ctx;
	pcoll_team_t *team; /* NULL: the whole context; after a peer failure, the survivors */
	pcoll_coll_t *ctrl; /* on team */
	wl_t *w;
	delayer_t *delayer;
	int job_rank;	  /* pcoll_rank: the data shard and the minibatch keys stay this one's */
	int slow_job;	  /* job rank delayed by --imbalance slow */
	int rank, nprocs; /* in team */
	int shrinks;	  /* pcoll_team_shrink calls so far (all runs) */
	float *params, *vel, *grad;
	rec_t *recs;
	size_t nrecs, caprecs;
	size_t rec_base; /* records before it predate the last shrink (their count may differ) */
	snap_t *snaps;
	size_t nsnaps, capsnaps;
	uint64_t every; /* evaluation interval in rounds */
} run_ctx_t;

/* Train once in mode m (the run_idx-th of the command line) and fill res; rank 0 writes the
 * run's CSV and prints its progress. */
void run_one(run_ctx_t *rc, const mode_spec_t *m, int run_idx, run_result_t *res);

/* ----------------------------------------------------------------- output */

int mkdir_p(const char *path);
void print_table(const opts_t *o, const wl_t *w, run_result_t *res, int nres, double target);
int write_summary(const opts_t *o, const wl_t *w, run_result_t *res, int nres, double target,
		  const char *path);
void run_gnuplot(const opts_t *o, const wl_t *w, run_result_t *res, int nres, double target,
		 const char *png);

#endif /* PCOLL_SGD_H */
