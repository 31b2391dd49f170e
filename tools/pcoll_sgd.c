/*
 * pcoll_sgd -- data-parallel SGD on pcoll partial collectives: the eager-SGD demo.
 *
 * Every process holds a replica of the model and a shard of the data. One optimizer step per
 * round: a process computes a gradient on its shard at its current version, hands it to
 * pcoll_step(), then applies every round the collective gives it (the SUM of the
 * contributions, divided by P) as one momentum-SGD update. Since every process is given the
 * same rounds with bit-identical data, the replicas stay bit-identical; the tool checks that at
 * the end of every run with a second collective.
 *
 * Every process takes the same number of gradient steps (-n) in every mode, so every mode
 * applies the same gradients (pcoll drops none); the eager modes apply them in more rounds,
 * some of them stale, and finish sooner. Modes are compared on wall time to reach a target
 * held-out loss (by default the sync run's final one), as in the paper.
 *
 * Workloads (synthetic, generated from the seed, no downloads):
 *   hyperplane  linear regression on a random hyperplane, MSE loss (the paper's first test)
 *   mlp         2-hidden-layer MLP (~252K float32 parameters, ~1 MiB of gradients) on a
 *               Gaussian-mixture classification task, softmax cross-entropy (the default)
 *   seq         per-token layer + mean pooling over variable-length sequences whose lengths
 *               are long-tailed: inherent, data-dependent compute imbalance, computed for real
 *
 * Imbalance injection (sleep-emulated, drawn from a seeded PRNG shared by all processes):
 *   paper  each step, k random processes (same choice everywhere) are delayed by delta ms
 *   slow   one process (chosen by the seed) is delayed by delta ms at every step
 *   tail   every process draws a long-tailed random delay (median delta/4) at every step
 *   none   no injected delay
 *
 * Evaluation never runs inside the timed loop: replicas pass through every version, so the
 * process that owns an evaluation point copies the parameters there, and the copies are
 * evaluated after the run (spread over the processes and summed with a collective). Times
 * come from rank 0's clock.
 *
 * Usage: pcoll-run -n 4 pcoll_sgd [options]   (see --help)
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pcoll.h"

#define MAX_MODES	 16
#define DEFAULT_OUTDIR	 "pcoll_sgd_out"
#define PLOT_SCRIPT_NAME "plot_sgd.gp"
#define PLOT_ENV	 "PCOLL_SGD_PLOT"
#define CTRL_COUNT	 8 /* int64 elements of the control collective */
#define EVAL_CHUNK	 64
#define PROGRESS_LINES	 10

/* ------------------------------------------------------------------ errors */

static int g_rank = -1;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	char msg[1024];
	int off = snprintf(msg, sizeof(msg), "pcoll_sgd: rank %d: ", g_rank);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + off, sizeof(msg) - (size_t)off - 1, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	fflush(stdout);
	fputs(msg, stderr); /* one write: lines of different ranks do not interleave */
	exit(EXIT_FAILURE);
}

/* Check a pcoll return code: negative is an error, reported with the rank and detail. */
static int pcheck(int rc, const char *what)
{
	if (rc < 0)
		die("%s failed: %s (%d): %s", what, pcoll_strerror(rc), rc, pcoll_last_error());
	return rc;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

static void *xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);
	if (!q)
		die("out of memory (%zu bytes)", size);
	return q;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_ms(double ms)
{
	if (ms <= 0.0)
		return;
	struct timespec ts;
	ts.tv_sec = (time_t)(ms / 1000.0);
	ts.tv_nsec = (long)((ms - 1000.0 * (double)ts.tv_sec) * 1e6);
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_nsec = 999999999L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------- PRNG */

/* splitmix64: keyed streams, so every process derives the same numbers from (seed, keys). */
enum {
	TAG_INIT = 1,
	TAG_DATA = 2,
	TAG_SAMPLE = 3,
	TAG_EVAL = 4,
	TAG_BATCH = 5,
	TAG_DELAY = 6,
	TAG_SLOW = 7,
};

static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

typedef struct rng {
	uint64_t s;
} rng_t;

static rng_t rng_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	rng_t r = {mix64(seed ^ mix64(a ^ mix64(b ^ mix64(c))))};
	return r;
}

static uint64_t rng_next(rng_t *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	uint64_t z = r->s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_uniform(rng_t *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n). */
static uint64_t rng_below(rng_t *r, uint64_t n)
{
	uint64_t v = (uint64_t)(rng_uniform(r) * (double)n);
	return v < n ? v : n - 1;
}

static double rng_normal(rng_t *r)
{
	double u1 = 1.0 - rng_uniform(r); /* (0, 1] */
	double u2 = rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* ---------------------------------------------------------------- options */

typedef enum wl_kind { WL_HYPERPLANE, WL_MLP, WL_SEQ } wl_kind_t;
typedef enum imbalance { IMB_PAPER, IMB_SLOW, IMB_TAIL, IMB_NONE } imbalance_t;

static const char *const wl_names[] = {"hyperplane", "mlp", "seq"};
static const char *const imb_names[] = {"paper", "slow", "tail", "none"};

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
} opts_t;

/* Per-workload defaults: {steps, delay ms, lr, momentum, batch}. */
typedef struct wl_defaults {
	long steps;
	double delay_ms;
	double lr;
	double momentum;
	int batch;
} wl_defaults_t;

static const wl_defaults_t wl_defaults[3] = {
    /* hyperplane */ {300, 40.0, 0.002, 0.9, 16},
    /* mlp */ {400, 50.0, 0.05, 0.9, 16},
    /* seq */ {300, 40.0, 0.3, 0.9, 16},
};
static const wl_defaults_t wl_defaults_quick[3] = {
    {30, 2.0, 0.02, 0.9, 8},
    {30, 2.0, 0.05, 0.9, 8},
    {30, 2.0, 0.3, 0.9, 8},
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: pcoll-run -n P pcoll_sgd [options]\n"
	    "Data-parallel SGD on pcoll partial collectives (the eager-SGD demo). Runs one\n"
	    "training per mode from the same seed and compares them on rank 0.\n"
	    "\n"
	    "  -w, --workload NAME    hyperplane | mlp | seq (default mlp)\n"
	    "  -M, --modes LIST       comma list of sync, solo, majority, quorum[:k]\n"
	    "                         (default sync,solo,majority)\n"
	    "  -S, --staleness S      staleness bound of the eager modes (default 4)\n"
	    "  -k, --quorum K         k of quorum mode (default max(1, P/2))\n"
	    "  -n, --steps N          gradient steps per process and run (default %ld; quick "
	    "%ld);\n"
	    "                         eager modes apply them in at least as many rounds\n"
	    "  -d, --delay-ms MS      injected delay delta in ms (default mlp %g, hyperplane %g,\n"
	    "                         seq %g; quick %g)\n"
	    "  -D, --delayed K        processes delayed per step in 'paper' (default max(1, P/2))\n"
	    "  -I, --imbalance KIND   paper | slow | tail | none (default paper)\n"
	    "  -s, --seed SEED        seed of data, model, batches and delays (default 1)\n"
	    "  -o, --outdir DIR       output directory (default ./" DEFAULT_OUTDIR ")\n"
	    "      --target-loss L    loss for the time-to-target column (default: the final\n"
	    "                         held-out loss of the first sync run)\n"
	    "      --quick            tiny model and few steps (for make check)\n"
	    "  -p, --provider NAME    libfabric provider (default: pcoll's choice)\n"
	    "      --lr LR            learning rate (default mlp %g, hyperplane %g, seq %g)\n"
	    "      --momentum M       momentum (default 0.9)\n"
	    "      --batch B          minibatch per process and step (default %d; quick %d)\n"
	    "      --evals N          held-out evaluation points per run (default 40; quick 5)\n"
	    "      --plot-script F    gnuplot script (default: $" PLOT_ENV ", or " PLOT_SCRIPT_NAME
	    "\n"
	    "                         next to the executable or its source)\n"
	    "      --no-plot          do not run gnuplot\n"
	    "  -h, --help             this help\n"
	    "  -V, --version          print the version and exit\n"
	    "\n"
	    "Outputs in DIR: WORKLOAD_MODE.csv per run (time_s,step,round,loss,accuracy,\n"
	    "contributions,staleness; one row per round, loss and accuracy at evaluation\n"
	    "points), WORKLOAD_summary.csv, and WORKLOAD_loss.png (gnuplot).\n",
	    wl_defaults[WL_MLP].steps, wl_defaults_quick[WL_MLP].steps,
	    wl_defaults[WL_MLP].delay_ms, wl_defaults[WL_HYPERPLANE].delay_ms,
	    wl_defaults[WL_SEQ].delay_ms, wl_defaults_quick[WL_MLP].delay_ms,
	    wl_defaults[WL_MLP].lr, wl_defaults[WL_HYPERPLANE].lr, wl_defaults[WL_SEQ].lr,
	    wl_defaults[WL_MLP].batch, wl_defaults_quick[WL_MLP].batch);
}

static void bad_arg(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void bad_arg(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "pcoll_sgd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'pcoll_sgd --help'.\n");
	exit(2);
}

static long parse_long(const char *s, const char *what, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		bad_arg("invalid %s '%s' (expected an integer in [%ld, %ld])", what, s, lo, hi);
	return v;
}

static double parse_double(const char *s, const char *what, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		bad_arg("invalid %s '%s' (expected a number in [%g, %g])", what, s, lo, hi);
	return v;
}

static int parse_name(const char *s, const char *const *names, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	bad_arg("unknown %s '%s'", what, s);
}

static void parse_modes(const char *list, opts_t *o)
{
	char *copy = strdup(list);
	if (!copy)
		die("out of memory");
	o->nmodes = 0;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->nmodes >= MAX_MODES)
			bad_arg("too many modes (at most %d)", MAX_MODES);
		mode_spec_t *m = &o->modes[o->nmodes++];
		memset(m, 0, sizeof(*m));
		char *colon = strchr(tok, ':');
		if (colon)
			*colon = '\0';
		if (strcmp(tok, "sync") == 0)
			m->mode = PCOLL_SYNC;
		else if (strcmp(tok, "solo") == 0)
			m->mode = PCOLL_SOLO;
		else if (strcmp(tok, "majority") == 0)
			m->mode = PCOLL_MAJORITY;
		else if (strcmp(tok, "quorum") == 0)
			m->mode = PCOLL_QUORUM;
		else
			bad_arg("unknown mode '%s' (sync, solo, majority, quorum[:k])", tok);
		if (colon) {
			if (m->mode != PCOLL_QUORUM)
				bad_arg("only quorum takes a ':k' suffix");
			m->quorum = (int)parse_long(colon + 1, "quorum", 1, INT_MAX);
		}
	}
	free(copy);
	if (o->nmodes == 0)
		bad_arg("empty mode list");
}

enum {
	OPT_TARGET = 256,
	OPT_QUICK,
	OPT_LR,
	OPT_MOMENTUM,
	OPT_BATCH,
	OPT_EVALS,
	OPT_PLOT_SCRIPT,
	OPT_NO_PLOT,
};

static void parse_opts(int argc, char **argv, opts_t *o)
{
	static const struct option longopts[] = {
	    {"workload", required_argument, NULL, 'w'},
	    {"modes", required_argument, NULL, 'M'},
	    {"staleness", required_argument, NULL, 'S'},
	    {"quorum", required_argument, NULL, 'k'},
	    {"steps", required_argument, NULL, 'n'},
	    {"delay-ms", required_argument, NULL, 'd'},
	    {"delayed", required_argument, NULL, 'D'},
	    {"imbalance", required_argument, NULL, 'I'},
	    {"seed", required_argument, NULL, 's'},
	    {"outdir", required_argument, NULL, 'o'},
	    {"provider", required_argument, NULL, 'p'},
	    {"target-loss", required_argument, NULL, OPT_TARGET},
	    {"quick", no_argument, NULL, OPT_QUICK},
	    {"lr", required_argument, NULL, OPT_LR},
	    {"momentum", required_argument, NULL, OPT_MOMENTUM},
	    {"batch", required_argument, NULL, OPT_BATCH},
	    {"evals", required_argument, NULL, OPT_EVALS},
	    {"plot-script", required_argument, NULL, OPT_PLOT_SCRIPT},
	    {"no-plot", no_argument, NULL, OPT_NO_PLOT},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->workload = WL_MLP;
	o->staleness = 4;
	o->delay_ms = -1.0;
	o->imbalance = IMB_PAPER;
	o->seed = 1;
	o->outdir = DEFAULT_OUTDIR;
	o->target_loss = NAN;
	o->lr = -1.0;
	o->momentum = -1.0;
	parse_modes("sync,solo,majority", o);

	int c;
	while ((c = getopt_long(argc, argv, "w:M:S:k:n:d:D:I:s:o:p:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			o->workload = (wl_kind_t)parse_name(optarg, wl_names, 3, "workload");
			break;
		case 'M':
			parse_modes(optarg, o);
			break;
		case 'S':
			o->staleness = (int)parse_long(optarg, "staleness", 0, PCOLL_STALENESS_MAX);
			break;
		case 'k':
			o->quorum = (int)parse_long(optarg, "quorum", 1, INT_MAX);
			break;
		case 'n':
			o->steps = parse_long(optarg, "steps", 1, 100000000L);
			break;
		case 'd':
			o->delay_ms = parse_double(optarg, "delay", 0.0, 3600e3);
			break;
		case 'D':
			o->delayed = (int)parse_long(optarg, "delayed count", 0, INT_MAX);
			if (o->delayed == 0)
				o->delayed = -1; /* explicit 0: nobody */
			break;
		case 'I':
			o->imbalance = (imbalance_t)parse_name(optarg, imb_names, 4, "imbalance");
			break;
		case 's': {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end)
				bad_arg("invalid seed '%s'", optarg);
			o->seed = (uint64_t)v;
			break;
		}
		case 'o':
			o->outdir = optarg;
			break;
		case 'p':
			o->provider = optarg;
			break;
		case OPT_TARGET:
			o->target_loss = parse_double(optarg, "target loss", -HUGE_VAL, HUGE_VAL);
			break;
		case OPT_QUICK:
			o->quick = 1;
			break;
		case OPT_LR:
			o->lr = parse_double(optarg, "learning rate", 0.0, 1e6);
			break;
		case OPT_MOMENTUM:
			o->momentum = parse_double(optarg, "momentum", 0.0, 0.999999);
			break;
		case OPT_BATCH:
			o->batch = (int)parse_long(optarg, "batch", 1, 1 << 20);
			break;
		case OPT_EVALS:
			o->evals = (int)parse_long(optarg, "evals", 1, 100000);
			break;
		case OPT_PLOT_SCRIPT:
			o->plot_script = optarg;
			break;
		case OPT_NO_PLOT:
			o->no_plot = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("pcoll_sgd (%s) %s\n", PACKAGE, PACKAGE_VERSION);
			exit(0);
		default:
			fprintf(stderr, "Try 'pcoll_sgd --help'.\n");
			exit(2);
		}
	}
	if (optind < argc)
		bad_arg("unexpected argument '%s'", argv[optind]);

	const wl_defaults_t *d =
	    o->quick ? &wl_defaults_quick[o->workload] : &wl_defaults[o->workload];
	if (o->steps == 0)
		o->steps = d->steps;
	if (o->delay_ms < 0.0)
		o->delay_ms = d->delay_ms;
	if (o->lr < 0.0)
		o->lr = d->lr;
	if (o->momentum < 0.0)
		o->momentum = d->momentum;
	if (o->batch == 0)
		o->batch = d->batch;
	if (o->evals == 0)
		o->evals = o->quick ? 5 : 40;
}

/* --------------------------------------------------------------- workloads */

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

/* Global sample indices of this process's shard: rank, rank + P, rank + 2P, ... */
static int shard_size(int n_train, int rank, int nprocs)
{
	return n_train > rank ? (n_train - rank + nprocs - 1) / nprocs : 0;
}

/* Z[b][:] = bias + sum_i X[b][i] W[i][:] for b < B; W is nin x nout, row per input. */
static void dense_fwd(const float *X, int B, int nin, const float *W, const float *bias, int nout,
		      float *Z)
{
	for (int b = 0; b < B; b++)
		memcpy(Z + (size_t)b * nout, bias, (size_t)nout * sizeof(float));
	for (int i = 0; i < nin; i++) {
		const float *w = W + (size_t)i * nout;
		for (int b = 0; b < B; b++) {
			float xi = X[(size_t)b * nin + i];
			if (xi == 0.0f)
				continue;
			float *z = Z + (size_t)b * nout;
			for (int o = 0; o < nout; o++)
				z[o] += xi * w[o];
		}
	}
}

/* dW += X^T dZ, db += column sums of dZ, and (if dX) dX = dZ W^T using WT (nout x nin). */
static void dense_bwd(const float *X, int B, int nin, const float *WT, int nout, const float *dZ,
		      float *dW, float *db, float *dX)
{
	for (int b = 0; b < B; b++) {
		const float *dz = dZ + (size_t)b * nout;
		for (int o = 0; o < nout; o++)
			db[o] += dz[o];
	}
	for (int i = 0; i < nin; i++) {
		float *dw = dW + (size_t)i * nout;
		for (int b = 0; b < B; b++) {
			float xi = X[(size_t)b * nin + i];
			if (xi == 0.0f)
				continue;
			const float *dz = dZ + (size_t)b * nout;
			for (int o = 0; o < nout; o++)
				dw[o] += xi * dz[o];
		}
	}
	if (!dX)
		return;
	memset(dX, 0, (size_t)B * nin * sizeof(float));
	for (int o = 0; o < nout; o++) {
		const float *wt = WT + (size_t)o * nin;
		for (int b = 0; b < B; b++) {
			float g = dZ[(size_t)b * nout + o];
			if (g == 0.0f)
				continue;
			float *dx = dX + (size_t)b * nin;
			for (int i = 0; i < nin; i++)
				dx[i] += g * wt[i];
		}
	}
}

static void transpose(const float *A, int rows, int cols, float *AT)
{
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++)
			AT[(size_t)c * rows + r] = A[(size_t)r * cols + c];
}

/* Softmax cross-entropy of B rows of logits; writes dL/dlogits (scaled by 1/scale) into dl if
 * not NULL; returns the summed loss and adds the number of correct argmaxes to *correct. */
static double softmax_xent(const float *logits, int B, int nc, const int *y, float *dl,
			   double scale, long *correct)
{
	double loss = 0.0;
	for (int b = 0; b < B; b++) {
		const float *l = logits + (size_t)b * nc;
		int arg = 0;
		for (int c = 1; c < nc; c++)
			if (l[c] > l[arg])
				arg = c;
		double m = l[arg], s = 0.0;
		for (int c = 0; c < nc; c++)
			s += exp((double)l[c] - m);
		loss += log(s) + m - (double)l[y[b]];
		if (correct && arg == y[b])
			(*correct)++;
		if (dl)
			for (int c = 0; c < nc; c++)
				dl[(size_t)b * nc + c] =
				    (float)((exp((double)l[c] - m) / s - (c == y[b])) / scale);
	}
	return loss;
}

static void init_normal(float *p, size_t n, double sd, rng_t *r)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (float)(sd * rng_normal(r));
}

/* ---- hyperplane: y = w*.x + b* + noise, MSE */

typedef struct hyper {
	wl_t base;
	int d, n_shard, n_eval;
	float *xs, *ys, *xe, *ye;
} hyper_t;

static void hyper_sample(uint64_t seed, uint64_t idx, int d, const float *wstar, float bstar,
			 double noise, float *x, float *y)
{
	rng_t r = rng_key(seed, TAG_SAMPLE, idx, 0);
	double dot = bstar;
	for (int j = 0; j < d; j++) {
		x[j] = (float)rng_normal(&r);
		dot += (double)wstar[j] * x[j];
	}
	*y = (float)(dot + noise * rng_normal(&r));
}

static void hyper_init_params(wl_t *w, float *params)
{
	memset(params, 0, w->nparams * sizeof(float));
}

static double hyper_grad(wl_t *w, const float *params, uint64_t step, float *grad)
{
	hyper_t *h = (hyper_t *)w;
	int d = h->d;
	memset(grad, 0, w->nparams * sizeof(float));
	rng_t r = rng_key(w->seed, TAG_BATCH, (uint64_t)w->rank, step);
	double loss = 0.0;
	float inv = 2.0f / (float)w->batch;
	for (int b = 0; b < w->batch; b++) {
		int i = (int)rng_below(&r, (uint64_t)h->n_shard);
		const float *x = h->xs + (size_t)i * d;
		float pred = params[d];
		for (int j = 0; j < d; j++)
			pred += params[j] * x[j];
		float err = pred - h->ys[i];
		loss += (double)err * err;
		float g = inv * err;
		for (int j = 0; j < d; j++)
			grad[j] += g * x[j];
		grad[d] += g;
	}
	return loss / w->batch;
}

static void hyper_eval(wl_t *w, const float *params, double *loss, double *acc)
{
	hyper_t *h = (hyper_t *)w;
	int d = h->d;
	double s = 0.0;
	for (int i = 0; i < h->n_eval; i++) {
		const float *x = h->xe + (size_t)i * d;
		float pred = params[d];
		for (int j = 0; j < d; j++)
			pred += params[j] * x[j];
		double err = (double)pred - h->ye[i];
		s += err * err;
	}
	*loss = s / h->n_eval;
	*acc = NAN;
}

static void hyper_destroy(wl_t *w)
{
	hyper_t *h = (hyper_t *)w;
	free(h->xs);
	free(h->ys);
	free(h->xe);
	free(h->ye);
	free(h);
}

static wl_t *hyper_create(uint64_t seed, int rank, int nprocs, int quick)
{
	hyper_t *h = xcalloc(1, sizeof(*h));
	int d = quick ? 16 : 512;
	int n_train = quick ? 1024 : 16384;
	double noise = 0.1;
	h->d = d;
	h->n_eval = quick ? 128 : 1024;
	h->base.nparams = (size_t)d + 1;
	h->base.has_accuracy = 0;
	float *wstar = xcalloc((size_t)d, sizeof(float));
	rng_t r = rng_key(seed, TAG_DATA, 0, 0);
	for (int j = 0; j < d; j++)
		wstar[j] = (float)(rng_normal(&r) / sqrt((double)d));
	float bstar = (float)rng_normal(&r);
	h->n_shard = shard_size(n_train, rank, nprocs);
	if (h->n_shard < 1)
		die("hyperplane: no training data for this rank (%d processes)", nprocs);
	h->xs = xcalloc((size_t)h->n_shard * d, sizeof(float));
	h->ys = xcalloc((size_t)h->n_shard, sizeof(float));
	for (int i = 0; i < h->n_shard; i++)
		hyper_sample(seed, (uint64_t)rank + (uint64_t)i * nprocs, d, wstar, bstar, noise,
			     h->xs + (size_t)i * d, &h->ys[i]);
	h->xe = xcalloc((size_t)h->n_eval * d, sizeof(float));
	h->ye = xcalloc((size_t)h->n_eval, sizeof(float));
	for (int i = 0; i < h->n_eval; i++)
		hyper_sample(seed, (uint64_t)n_train + (uint64_t)i, d, wstar, bstar, noise,
			     h->xe + (size_t)i * d, &h->ye[i]);
	free(wstar);
	snprintf(h->base.desc, sizeof(h->base.desc),
		 "linear regression on a random hyperplane, d=%d, noise %.2g, %d training samples, "
		 "%d held out",
		 d, noise, n_train, h->n_eval);
	h->base.name = "hyperplane";
	h->base.init_params = hyper_init_params;
	h->base.grad = hyper_grad;
	h->base.eval = hyper_eval;
	h->base.destroy = hyper_destroy;
	return &h->base;
}

/* ---- mlp: in -> h1 -> h2 -> nc, ReLU, softmax cross-entropy, Gaussian-mixture classes */

typedef struct mlp {
	wl_t base;
	int in, h1, h2, nc;
	size_t oW1, ob1, oW2, ob2, oW3, ob3;
	int n_shard, n_eval;
	float *xs, *xe;
	int *ys, *ye;
	/* scratch for up to max(batch, EVAL_CHUNK) rows */
	float *xb, *a1, *a2, *lg, *dl, *d2, *d1, *W2T, *W3T;
	int *yb;
} mlp_t;

static void mlp_sample(uint64_t seed, uint64_t idx, int in, int nc, int k, const float *centers,
		       double sigma, float *x, int *y)
{
	rng_t r = rng_key(seed, TAG_SAMPLE, idx, 0);
	int c = (int)rng_below(&r, (uint64_t)nc);
	int j = (int)rng_below(&r, (uint64_t)k);
	const float *mu = centers + ((size_t)c * k + j) * in;
	for (int i = 0; i < in; i++)
		x[i] = (float)(mu[i] + sigma * rng_normal(&r));
	*y = c;
}

static void mlp_init_params(wl_t *w, float *p)
{
	mlp_t *m = (mlp_t *)w;
	rng_t r = rng_key(w->seed, TAG_INIT, 0, 0);
	memset(p, 0, w->nparams * sizeof(float));
	init_normal(p + m->oW1, (size_t)m->in * m->h1, sqrt(2.0 / m->in), &r);
	init_normal(p + m->oW2, (size_t)m->h1 * m->h2, sqrt(2.0 / m->h1), &r);
	init_normal(p + m->oW3, (size_t)m->h2 * m->nc, sqrt(1.0 / m->h2), &r);
}

/* Forward B rows of m->xb into m->a1, m->a2 (after ReLU) and m->lg. */
static void mlp_forward(mlp_t *m, const float *p, int B)
{
	dense_fwd(m->xb, B, m->in, p + m->oW1, p + m->ob1, m->h1, m->a1);
	for (size_t i = 0; i < (size_t)B * m->h1; i++)
		m->a1[i] = m->a1[i] > 0.0f ? m->a1[i] : 0.0f;
	dense_fwd(m->a1, B, m->h1, p + m->oW2, p + m->ob2, m->h2, m->a2);
	for (size_t i = 0; i < (size_t)B * m->h2; i++)
		m->a2[i] = m->a2[i] > 0.0f ? m->a2[i] : 0.0f;
	dense_fwd(m->a2, B, m->h2, p + m->oW3, p + m->ob3, m->nc, m->lg);
}

static double mlp_grad(wl_t *w, const float *p, uint64_t step, float *g)
{
	mlp_t *m = (mlp_t *)w;
	int B = w->batch;
	rng_t r = rng_key(w->seed, TAG_BATCH, (uint64_t)w->rank, step);
	for (int b = 0; b < B; b++) {
		int i = (int)rng_below(&r, (uint64_t)m->n_shard);
		memcpy(m->xb + (size_t)b * m->in, m->xs + (size_t)i * m->in,
		       (size_t)m->in * sizeof(float));
		m->yb[b] = m->ys[i];
	}
	mlp_forward(m, p, B);
	double loss = softmax_xent(m->lg, B, m->nc, m->yb, m->dl, B, NULL);
	memset(g, 0, w->nparams * sizeof(float));
	transpose(p + m->oW3, m->h2, m->nc, m->W3T);
	transpose(p + m->oW2, m->h1, m->h2, m->W2T);
	dense_bwd(m->a2, B, m->h2, m->W3T, m->nc, m->dl, g + m->oW3, g + m->ob3, m->d2);
	for (size_t i = 0; i < (size_t)B * m->h2; i++)
		if (m->a2[i] <= 0.0f)
			m->d2[i] = 0.0f;
	dense_bwd(m->a1, B, m->h1, m->W2T, m->h2, m->d2, g + m->oW2, g + m->ob2, m->d1);
	for (size_t i = 0; i < (size_t)B * m->h1; i++)
		if (m->a1[i] <= 0.0f)
			m->d1[i] = 0.0f;
	dense_bwd(m->xb, B, m->in, NULL, m->h1, m->d1, g + m->oW1, g + m->ob1, NULL);
	return loss / B;
}

static void mlp_eval(wl_t *w, const float *p, double *loss, double *acc)
{
	mlp_t *m = (mlp_t *)w;
	double s = 0.0;
	long correct = 0;
	for (int i0 = 0; i0 < m->n_eval; i0 += EVAL_CHUNK) {
		int B = m->n_eval - i0 < EVAL_CHUNK ? m->n_eval - i0 : EVAL_CHUNK;
		memcpy(m->xb, m->xe + (size_t)i0 * m->in, (size_t)B * m->in * sizeof(float));
		mlp_forward(m, p, B);
		s += softmax_xent(m->lg, B, m->nc, m->ye + i0, NULL, 1.0, &correct);
	}
	*loss = s / m->n_eval;
	*acc = (double)correct / m->n_eval;
}

static void mlp_destroy(wl_t *w)
{
	mlp_t *m = (mlp_t *)w;
	free(m->xs);
	free(m->xe);
	free(m->ys);
	free(m->ye);
	free(m->xb);
	free(m->a1);
	free(m->a2);
	free(m->lg);
	free(m->dl);
	free(m->d2);
	free(m->d1);
	free(m->W2T);
	free(m->W3T);
	free(m->yb);
	free(m);
}

static wl_t *mlp_create(uint64_t seed, int rank, int nprocs, int batch, int quick)
{
	mlp_t *m = xcalloc(1, sizeof(*m));
	m->in = quick ? 16 : 64;
	m->h1 = quick ? 24 : 384;
	m->h2 = quick ? 24 : 576;
	m->nc = quick ? 4 : 10;
	int k = 4; /* clusters per class */
	int n_train = quick ? 2048 : 32768;
	m->n_eval = quick ? 256 : 1024;
	double spread = quick ? 1.0 : 0.5, sigma = 1.0;
	size_t off = 0;
	m->oW1 = off, off += (size_t)m->in * m->h1;
	m->ob1 = off, off += (size_t)m->h1;
	m->oW2 = off, off += (size_t)m->h1 * m->h2;
	m->ob2 = off, off += (size_t)m->h2;
	m->oW3 = off, off += (size_t)m->h2 * m->nc;
	m->ob3 = off, off += (size_t)m->nc;
	m->base.nparams = off;
	m->base.has_accuracy = 1;

	float *centers = xcalloc((size_t)m->nc * k * m->in, sizeof(float));
	rng_t r = rng_key(seed, TAG_DATA, 1, 0);
	init_normal(centers, (size_t)m->nc * k * m->in, spread, &r);
	m->n_shard = shard_size(n_train, rank, nprocs);
	if (m->n_shard < 1)
		die("mlp: no training data for this rank (%d processes)", nprocs);
	m->xs = xcalloc((size_t)m->n_shard * m->in, sizeof(float));
	m->ys = xcalloc((size_t)m->n_shard, sizeof(int));
	for (int i = 0; i < m->n_shard; i++)
		mlp_sample(seed, (uint64_t)rank + (uint64_t)i * nprocs, m->in, m->nc, k, centers,
			   sigma, m->xs + (size_t)i * m->in, &m->ys[i]);
	m->xe = xcalloc((size_t)m->n_eval * m->in, sizeof(float));
	m->ye = xcalloc((size_t)m->n_eval, sizeof(int));
	for (int i = 0; i < m->n_eval; i++)
		mlp_sample(seed, (uint64_t)n_train + (uint64_t)i, m->in, m->nc, k, centers, sigma,
			   m->xe + (size_t)i * m->in, &m->ye[i]);
	free(centers);

	int rows = batch > EVAL_CHUNK ? batch : EVAL_CHUNK;
	m->xb = xcalloc((size_t)rows * m->in, sizeof(float));
	m->a1 = xcalloc((size_t)rows * m->h1, sizeof(float));
	m->a2 = xcalloc((size_t)rows * m->h2, sizeof(float));
	m->lg = xcalloc((size_t)rows * m->nc, sizeof(float));
	m->dl = xcalloc((size_t)rows * m->nc, sizeof(float));
	m->d2 = xcalloc((size_t)rows * m->h2, sizeof(float));
	m->d1 = xcalloc((size_t)rows * m->h1, sizeof(float));
	m->W2T = xcalloc((size_t)m->h1 * m->h2, sizeof(float));
	m->W3T = xcalloc((size_t)m->h2 * m->nc, sizeof(float));
	m->yb = xcalloc((size_t)rows, sizeof(int));
	snprintf(m->base.desc, sizeof(m->base.desc),
		 "MLP %d-%d-%d-%d (ReLU, softmax), %d-class Gaussian mixture (%d clusters/class), "
		 "%d training samples, %d held out",
		 m->in, m->h1, m->h2, m->nc, m->nc, k, n_train, m->n_eval);
	m->base.name = "mlp";
	m->base.init_params = mlp_init_params;
	m->base.grad = mlp_grad;
	m->base.eval = mlp_eval;
	m->base.destroy = mlp_destroy;
	return &m->base;
}

/* ---- seq: u_t = tanh(A^T emb[x_t] + a), m = mean_t u_t, logits = Wc^T m + bc */

typedef struct seqset {
	int n;
	int *len, *lab;
	size_t *off;
	int *tok;
} seqset_t;

typedef struct seqwl {
	wl_t base;
	int V, E, H, C, maxlen, n_sig;
	size_t oEmb, oA, oa, oW, ob;
	seqset_t train, test;
	float *U, *mbuf, *lg, *dl, *dm, *dpre, *AT;
	long tokens; /* tokens of the last minibatch */
} seqwl_t;

/* Lengths: lognormal, median 24, sigma 1.3, clipped to [2, maxlen]; tokens: with p 0.2 a
 * signal token (70% of the true class, 30% of a random class), else background, log-uniform. */
static void seq_gen(seqwl_t *s, uint64_t seed, uint64_t idx, int *len, int *lab, int *tok,
		    int count_only)
{
	rng_t r = rng_key(seed, TAG_SAMPLE, idx, 0);
	double l = exp(log(24.0) + 1.3 * rng_normal(&r));
	int L = l < 2.0 ? 2 : (l > (double)s->maxlen ? s->maxlen : (int)lround(l));
	int c = (int)rng_below(&r, (uint64_t)s->C);
	*len = L;
	*lab = c;
	if (count_only)
		return;
	int nsig = s->C * s->n_sig, nbg = s->V - nsig;
	for (int t = 0; t < L; t++) {
		if (rng_uniform(&r) < 0.2) {
			int cc = rng_uniform(&r) < 0.7 ? c : (int)rng_below(&r, (uint64_t)s->C);
			tok[t] = cc * s->n_sig + (int)rng_below(&r, (uint64_t)s->n_sig);
		} else {
			int b = (int)(exp(rng_uniform(&r) * log((double)nbg + 1.0)) - 1.0);
			tok[t] = nsig + (b < nbg ? (b < 0 ? 0 : b) : nbg - 1);
		}
	}
}

static void seqset_make(seqwl_t *s, seqset_t *set, uint64_t seed, int n, uint64_t first,
			uint64_t stride)
{
	set->n = n;
	set->len = xcalloc((size_t)n, sizeof(int));
	set->lab = xcalloc((size_t)n, sizeof(int));
	set->off = xcalloc((size_t)n + 1, sizeof(size_t));
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		seq_gen(s, seed, first + (uint64_t)i * stride, &set->len[i], &set->lab[i], NULL, 1);
		set->off[i] = total;
		total += (size_t)set->len[i];
	}
	set->off[n] = total;
	set->tok = xcalloc(total, sizeof(int));
	for (int i = 0; i < n; i++)
		seq_gen(s, seed, first + (uint64_t)i * stride, &set->len[i], &set->lab[i],
			set->tok + set->off[i], 0);
}

static void seqset_free(seqset_t *set)
{
	free(set->len);
	free(set->lab);
	free(set->off);
	free(set->tok);
}

static void seq_init_params(wl_t *w, float *p)
{
	seqwl_t *s = (seqwl_t *)w;
	rng_t r = rng_key(w->seed, TAG_INIT, 2, 0);
	memset(p, 0, w->nparams * sizeof(float));
	init_normal(p + s->oEmb, (size_t)s->V * s->E, 1.0, &r);
	init_normal(p + s->oA, (size_t)s->E * s->H, sqrt(1.0 / s->E), &r);
	init_normal(p + s->oW, (size_t)s->H * s->C, sqrt(1.0 / s->H), &r);
}

/* Forward one sequence: per-token activations into s->U (L x H), pooled into s->mbuf, logits
 * into s->lg. */
static void seq_forward(seqwl_t *s, const float *p, const int *tok, int L)
{
	int E = s->E, H = s->H;
	const float *A = p + s->oA, *a = p + s->oa, *W = p + s->oW, *bc = p + s->ob;
	memset(s->mbuf, 0, (size_t)H * sizeof(float));
	for (int t = 0; t < L; t++) {
		const float *e = p + s->oEmb + (size_t)tok[t] * E;
		float *u = s->U + (size_t)t * H;
		memcpy(u, a, (size_t)H * sizeof(float));
		for (int j = 0; j < E; j++) {
			const float *arow = A + (size_t)j * H;
			float ej = e[j];
			for (int h = 0; h < H; h++)
				u[h] += ej * arow[h];
		}
		for (int h = 0; h < H; h++) {
			u[h] = tanhf(u[h]);
			s->mbuf[h] += u[h];
		}
	}
	float invL = 1.0f / (float)L;
	for (int h = 0; h < H; h++)
		s->mbuf[h] *= invL;
	memcpy(s->lg, bc, (size_t)s->C * sizeof(float));
	for (int h = 0; h < H; h++)
		for (int c = 0; c < s->C; c++)
			s->lg[c] += s->mbuf[h] * W[(size_t)h * s->C + c];
}

static double seq_grad(wl_t *w, const float *p, uint64_t step, float *g)
{
	seqwl_t *s = (seqwl_t *)w;
	int E = s->E, H = s->H, C = s->C, B = w->batch;
	const float *W = p + s->oW;
	float *gEmb = g + s->oEmb, *gA = g + s->oA, *ga = g + s->oa, *gW = g + s->oW;
	float *gb = g + s->ob;
	memset(g, 0, w->nparams * sizeof(float));
	transpose(p + s->oA, E, H, s->AT);
	rng_t r = rng_key(w->seed, TAG_BATCH, (uint64_t)w->rank, step);
	double loss = 0.0;
	s->tokens = 0;
	for (int b = 0; b < B; b++) {
		int i = (int)rng_below(&r, (uint64_t)s->train.n);
		const int *tok = s->train.tok + s->train.off[i];
		int L = s->train.len[i], y = s->train.lab[i];
		s->tokens += L;
		seq_forward(s, p, tok, L);
		loss += softmax_xent(s->lg, 1, C, &y, s->dl, B, NULL);
		for (int h = 0; h < H; h++) {
			float acc = 0.0f;
			for (int c = 0; c < C; c++) {
				gW[(size_t)h * C + c] += s->mbuf[h] * s->dl[c];
				acc += W[(size_t)h * C + c] * s->dl[c];
			}
			s->dm[h] = acc / (float)L;
		}
		for (int c = 0; c < C; c++)
			gb[c] += s->dl[c];
		for (int t = 0; t < L; t++) {
			const float *u = s->U + (size_t)t * H;
			for (int h = 0; h < H; h++)
				s->dpre[h] = s->dm[h] * (1.0f - u[h] * u[h]);
			const float *e = p + s->oEmb + (size_t)tok[t] * E;
			for (int j = 0; j < E; j++) {
				float *garow = gA + (size_t)j * H;
				float ej = e[j];
				for (int h = 0; h < H; h++)
					garow[h] += ej * s->dpre[h];
			}
			for (int h = 0; h < H; h++)
				ga[h] += s->dpre[h];
			float *ge = gEmb + (size_t)tok[t] * E;
			for (int h = 0; h < H; h++) {
				const float *atrow = s->AT + (size_t)h * E;
				float dh = s->dpre[h];
				for (int j = 0; j < E; j++)
					ge[j] += dh * atrow[j];
			}
		}
	}
	return loss / B;
}

static void seq_eval(wl_t *w, const float *p, double *loss, double *acc)
{
	seqwl_t *s = (seqwl_t *)w;
	double l = 0.0;
	long correct = 0;
	for (int i = 0; i < s->test.n; i++) {
		seq_forward(s, p, s->test.tok + s->test.off[i], s->test.len[i]);
		l += softmax_xent(s->lg, 1, s->C, &s->test.lab[i], NULL, 1.0, &correct);
	}
	*loss = l / s->test.n;
	*acc = (double)correct / s->test.n;
}

static void seq_destroy(wl_t *w)
{
	seqwl_t *s = (seqwl_t *)w;
	seqset_free(&s->train);
	seqset_free(&s->test);
	free(s->U);
	free(s->mbuf);
	free(s->lg);
	free(s->dl);
	free(s->dm);
	free(s->dpre);
	free(s->AT);
	free(s);
}

static wl_t *seq_create(uint64_t seed, int rank, int nprocs, int quick)
{
	seqwl_t *s = xcalloc(1, sizeof(*s));
	s->V = quick ? 128 : 2048;
	s->E = quick ? 8 : 32;
	s->H = quick ? 8 : 96;
	s->C = 4;
	s->n_sig = quick ? 8 : 16;
	s->maxlen = quick ? 128 : 2048;
	int n_train = quick ? 1024 : 16384;
	int n_eval = quick ? 64 : 256;
	size_t off = 0;
	s->oEmb = off, off += (size_t)s->V * s->E;
	s->oA = off, off += (size_t)s->E * s->H;
	s->oa = off, off += (size_t)s->H;
	s->oW = off, off += (size_t)s->H * s->C;
	s->ob = off, off += (size_t)s->C;
	s->base.nparams = off;
	s->base.has_accuracy = 1;
	int n_shard = shard_size(n_train, rank, nprocs);
	if (n_shard < 1)
		die("seq: no training data for this rank (%d processes)", nprocs);
	seqset_make(s, &s->train, seed, n_shard, (uint64_t)rank, (uint64_t)nprocs);
	seqset_make(s, &s->test, seed, n_eval, (uint64_t)n_train, 1);
	s->U = xcalloc((size_t)s->maxlen * s->H, sizeof(float));
	s->mbuf = xcalloc((size_t)s->H, sizeof(float));
	s->lg = xcalloc((size_t)s->C, sizeof(float));
	s->dl = xcalloc((size_t)s->C, sizeof(float));
	s->dm = xcalloc((size_t)s->H, sizeof(float));
	s->dpre = xcalloc((size_t)s->H, sizeof(float));
	s->AT = xcalloc((size_t)s->E * s->H, sizeof(float));
	snprintf(s->base.desc, sizeof(s->base.desc),
		 "per-token tanh layer + mean pooling, V=%d E=%d H=%d, %d classes, lognormal "
		 "lengths (median 24, max %d), %d training sequences, %d held out",
		 s->V, s->E, s->H, s->C, s->maxlen, n_train, n_eval);
	s->base.name = "seq";
	s->base.init_params = seq_init_params;
	s->base.grad = seq_grad;
	s->base.eval = seq_eval;
	s->base.destroy = seq_destroy;
	return &s->base;
}

static wl_t *wl_create(const opts_t *o, int rank, int nprocs)
{
	wl_t *w;
	switch (o->workload) {
	case WL_HYPERPLANE:
		w = hyper_create(o->seed, rank, nprocs, o->quick);
		break;
	case WL_SEQ:
		w = seq_create(o->seed, rank, nprocs, o->quick);
		break;
	case WL_MLP:
	default:
		w = mlp_create(o->seed, rank, nprocs, o->batch, o->quick);
		break;
	}
	w->seed = o->seed;
	w->rank = rank;
	w->nprocs = nprocs;
	w->batch = o->batch;
	return w;
}

/* --------------------------------------------------------------- imbalance */

typedef struct delayer {
	imbalance_t kind;
	double delta_ms;
	int k, rank, nprocs, slow_rank;
	uint64_t seed;
	int *perm;
} delayer_t;

/* Extra delay, in ms, of this process at its step number `step`; every process computes the
 * same choice of delayed processes from (seed, step). */
static double delay_for(delayer_t *d, uint64_t step)
{
	switch (d->kind) {
	case IMB_PAPER: {
		if (d->k <= 0)
			return 0.0;
		if (d->k >= d->nprocs)
			return d->delta_ms;
		rng_t r = rng_key(d->seed, TAG_DELAY, step, 0);
		for (int i = 0; i < d->nprocs; i++)
			d->perm[i] = i;
		for (int i = 0; i < d->k; i++) { /* partial Fisher-Yates */
			int j = i + (int)rng_below(&r, (uint64_t)(d->nprocs - i));
			int t = d->perm[i];
			d->perm[i] = d->perm[j];
			d->perm[j] = t;
			if (d->perm[i] == d->rank)
				return d->delta_ms;
		}
		return 0.0;
	}
	case IMB_SLOW:
		return d->rank == d->slow_rank ? d->delta_ms : 0.0;
	case IMB_TAIL: {
		rng_t r = rng_key(d->seed, TAG_DELAY, step, (uint64_t)d->rank + 1);
		double x = 0.25 * exp(1.25 * rng_normal(&r)); /* median 1/4, mean ~0.55 */
		return d->delta_ms * (x < 20.0 ? x : 20.0);
	}
	case IMB_NONE:
	default:
		return 0.0;
	}
}

/* ------------------------------------------------------------ collectives */

/* A PCOLL_SYNC allreduce through a persistent collective: step, then take the round(s). */
static void sync_allreduce(pcoll_coll_t *c, const void *in, void *out, size_t bytes)
{
	pcheck(pcoll_step(c, in), "pcoll_step (control)");
	pcoll_round_t rd;
	int got = 0, rc;
	while ((rc = pcheck(pcoll_next_round(c, &rd), "pcoll_next_round (control)")) == 1) {
		memcpy(out, rd.data, bytes);
		got = 1;
	}
	if (!got)
		die("control collective: pcoll_step returned without a round");
}

static void barrier(pcoll_coll_t *ctrl)
{
	int64_t z[CTRL_COUNT] = {0}, out[CTRL_COUNT];
	sync_allreduce(ctrl, z, out, sizeof(out));
}

/* FNV-1a over a byte range, continuing from h. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Fast word-wise hash of round data (FNV-style multiply per 8 bytes): cheap enough to run on
 * every round inside the timed loop. */
static uint64_t digest64_u64(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static uint64_t digest64(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL, w;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0x100000001b3ULL;
	}
	for (; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h ^ (h >> 31);
}

/*
 * 1 when the 64-bit value h is the same on every process. Allreduce of the four 16-bit parts
 * and their squares: sum == P*x and sum of squares == P*x^2 mean zero variance, so each
 * process's verdict is the global one. Exact in int64 for any P < 2^31.
 */
static int all_equal(pcoll_coll_t *ctrl, uint64_t h, int nprocs)
{
	int64_t in[CTRL_COUNT], out[CTRL_COUNT];
	for (int i = 0; i < 4; i++) {
		int64_t x = (int64_t)((h >> (16 * i)) & 0xffff);
		in[2 * i] = x;
		in[2 * i + 1] = x * x;
	}
	sync_allreduce(ctrl, in, out, sizeof(out));
	int ok = 1;
	for (int i = 0; i < CTRL_COUNT; i++)
		if (out[i] != (int64_t)nprocs * in[i])
			ok = 0;
	return ok;
}

/* --------------------------------------------------------------------- run */

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
	/* evaluation points: time (rank 0) and held-out loss */
	size_t npts;
	double *pt_t, *pt_loss, *pt_acc;
	uint64_t *pt_round;
	double time_to_target;
} run_result_t;

typedef struct run_ctx {
	const opts_t *o;
	pcoll_ctx_t *ctx;
	pcoll_coll_t *ctrl;
	wl_t *w;
	delayer_t *delayer;
	int rank, nprocs;
	float *params, *vel, *grad;
	rec_t *recs;
	size_t nrecs, caprecs;
	snap_t *snaps;
	size_t nsnaps, capsnaps;
	uint64_t every; /* evaluation interval in rounds */
} run_ctx_t;

static void take_snapshot(run_ctx_t *rc, size_t slot)
{
	if (slot % (size_t)rc->nprocs != (size_t)rc->rank)
		return;
	if (rc->nsnaps == rc->capsnaps) {
		rc->capsnaps = rc->capsnaps ? 2 * rc->capsnaps : 16;
		rc->snaps = xrealloc(rc->snaps, rc->capsnaps * sizeof(snap_t));
	}
	snap_t *s = &rc->snaps[rc->nsnaps++];
	s->slot = slot;
	s->params = xcalloc(rc->w->nparams, sizeof(float));
	memcpy(s->params, rc->params, rc->w->nparams * sizeof(float));
}

/* Apply one round: the averaged gradient (sum / P) as a momentum-SGD step. Identical inputs on
 * every process give bit-identical replicas. */
static void apply_round(run_ctx_t *rc, const pcoll_round_t *rd, double t, uint64_t steps)
{
	const float *sum = rd->data;
	float P = (float)rc->nprocs, mom = (float)rc->o->momentum, lr = (float)rc->o->lr;
	size_t n = rc->w->nparams;
	for (size_t i = 0; i < n; i++) {
		rc->vel[i] = mom * rc->vel[i] + sum[i] / P;
		rc->params[i] -= lr * rc->vel[i];
	}
	if (rc->nrecs == rc->caprecs) {
		rc->caprecs = rc->caprecs ? 2 * rc->caprecs : 1024;
		rc->recs = xrealloc(rc->recs, rc->caprecs * sizeof(rec_t));
	}
	rec_t *r = &rc->recs[rc->nrecs++];
	r->t = t;
	r->step = steps;
	r->index = rd->index;
	r->contrib = rd->contributions;
	r->staleness = rd->staleness;
	r->flushed = rd->flushed;
	r->final = rd->final;
	r->digest = digest64(rd->data, n * sizeof(float));
	r->digest = digest64_u64(r->digest, rd->index);
	r->digest = digest64_u64(r->digest, rd->contributions);
	r->digest = digest64_u64(r->digest, (uint64_t)rd->staleness);
	if (rd->index % rc->every == 0)
		take_snapshot(rc, (size_t)(rd->index / rc->every));
}

static uint64_t drain(run_ctx_t *rc, pcoll_coll_t *c, double t0, uint64_t steps, uint64_t version)
{
	pcoll_round_t rd;
	while (pcheck(pcoll_next_round(c, &rd), "pcoll_next_round") == 1) {
		if (rd.index != version + 1)
			die("round %" PRIu64 " given after version %" PRIu64
			    " (rounds must come in order)",
			    rd.index, version);
		version = rd.index;
		apply_round(rc, &rd, now_s() - t0, steps);
	}
	return version;
}

static void mode_attr(const opts_t *o, const mode_spec_t *m, int nprocs, pcoll_attr_t *attr)
{
	pcoll_attr_init(attr);
	attr->mode = m->mode;
	attr->staleness = o->staleness;
	attr->quorum =
	    m->quorum ? m->quorum : (o->quorum ? o->quorum : (nprocs / 2 ? nprocs / 2 : 1));
	attr->seed = o->seed;
}

static void write_run_csv(run_ctx_t *rc, run_result_t *res, const double *ev, size_t nslots)
{
	FILE *f = fopen(res->csv, "w");
	if (!f) {
		fprintf(stderr, "pcoll_sgd: warning: cannot write %s: %s\n", res->csv,
			strerror(errno));
		res->csv[0] = '\0';
		return;
	}
	int acc = rc->w->has_accuracy;
	fprintf(f, "time_s,step,round,loss,accuracy,contributions,staleness\n");
	fprintf(f, "%.6f,0,0,%.9g,", 0.0, ev[0]);
	if (acc)
		fprintf(f, "%.4f", 100.0 * ev[1]);
	fprintf(f, ",,\n");
	for (size_t i = 0; i < rc->nrecs; i++) {
		const rec_t *r = &rc->recs[i];
		fprintf(f, "%.6f,%" PRIu64 ",%" PRIu64 ",", r->t, r->step, r->index);
		size_t slot = SIZE_MAX;
		if (i + 1 == rc->nrecs)
			slot = nslots - 1;
		else if (r->index % rc->every == 0)
			slot = (size_t)(r->index / rc->every);
		if (slot != SIZE_MAX) {
			fprintf(f, "%.9g,", ev[2 * slot]);
			if (acc)
				fprintf(f, "%.4f", 100.0 * ev[2 * slot + 1]);
		} else {
			fprintf(f, ",");
		}
		fprintf(f, ",%" PRIu64 ",%" PRId64 "\n", r->contrib, r->staleness);
	}
	if (fclose(f) != 0)
		fprintf(stderr, "pcoll_sgd: warning: error writing %s\n", res->csv);
}

static void run_one(run_ctx_t *rc, const mode_spec_t *m, int run_idx, run_result_t *res)
{
	const opts_t *o = rc->o;
	wl_t *w = rc->w;
	size_t n = w->nparams;
	uint64_t N = (uint64_t)o->steps;
	pcoll_attr_t attr;
	mode_attr(o, m, rc->nprocs, &attr);

	pcoll_coll_t *c = NULL;
	pcheck(pcoll_allreduce_create(rc->ctx, n, PCOLL_FLOAT32, &attr, &c),
	       "pcoll_allreduce_create");

	w->init_params(w, rc->params);
	memset(rc->vel, 0, n * sizeof(float));
	rc->nrecs = 0;
	rc->nsnaps = 0;
	rc->every = N / (uint64_t)o->evals ? N / (uint64_t)o->evals : 1;
	take_snapshot(rc, 0);

	uint64_t print_every = N / PROGRESS_LINES ? N / PROGRESS_LINES : 1;
	double loss_sum = 0.0;
	uint64_t loss_n = 0;

	barrier(rc->ctrl);
	double t0 = now_s();
	uint64_t version = 0, steps = 0;
	while (steps < N) {
		double l = w->grad(w, rc->params, steps, rc->grad);
		loss_sum += l;
		loss_n++;
		sleep_ms(delay_for(rc->delayer, steps));
		pcheck(pcoll_step(c, rc->grad), "pcoll_step");
		steps++;
		version = drain(rc, c, t0, steps, version);
		if (rc->rank == 0 && (steps % print_every == 0 || steps == N)) {
			printf("[%-9s] step %6" PRIu64 "/%" PRIu64 "  round %6" PRIu64
			       "  train loss %9.5f  elapsed %7.2f s\n",
			       res->label, steps, N, version, loss_sum / (double)loss_n,
			       now_s() - t0);
			fflush(stdout);
			loss_sum = 0.0;
			loss_n = 0;
		}
	}
	/* Done: flush, taking (and time-stamping) the rounds the others still trigger. */
	pcheck(pcoll_flush_post(c), "pcoll_flush_post");
	while (pcheck(pcoll_flush_test(c), "pcoll_flush_test") == 0) {
		uint64_t v = drain(rc, c, t0, steps, version);
		if (v == version)
			sleep_ms(0.2);
		version = v;
	}
	version = drain(rc, c, t0, steps, version);
	double wall = now_s() - t0;

	pcoll_coll_info_t info;
	pcheck(pcoll_coll_query(c, &info), "pcoll_coll_query");
	if (info.version != version)
		die("pcoll_coll_query: version %" PRIu64 ", but %" PRIu64 " rounds were taken",
		    info.version, version);
	pcheck(pcoll_destroy(c), "pcoll_destroy");

	/* Replicas: hash parameters and momentum; all processes must agree. */
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, rc->params, n * sizeof(float));
	h = fnv1a(h, rc->vel, n * sizeof(float));
	res->identical = all_equal(rc->ctrl, h, rc->nprocs);
	/* Every process must have been given the same number of rounds. */
	int same_rounds = all_equal(rc->ctrl, version, rc->nprocs);
	res->identical &= same_rounds;
	if (!res->identical) {
		/* Diagnose: the first round whose data or metadata differ between processes. */
		if (!same_rounds) {
			const rec_t *r = rc->nrecs ? &rc->recs[rc->nrecs - 1] : NULL;
			fprintf(
			    stderr,
			    "pcoll_sgd: [%s] rank %d: processes were given different numbers of "
			    "rounds; here %" PRIu64 " rounds in %" PRIu64
			    " steps, the last with contributions %" PRIu64
			    ", flushed %u, final %d\n",
			    res->label, rc->rank, version, steps, r ? r->contrib : 0,
			    r ? r->flushed : 0, r ? r->final : 0);
		} else {
			for (size_t i = 0; i < rc->nrecs; i++) {
				if (all_equal(rc->ctrl, rc->recs[i].digest, rc->nprocs))
					continue;
				const rec_t *r = &rc->recs[i];
				fprintf(stderr,
					"pcoll_sgd: [%s] rank %d: round %" PRIu64
					" differs between processes; here: contributions %" PRIu64
					", staleness %" PRId64 ", digest %016" PRIx64 "\n",
					res->label, rc->rank, r->index, r->contrib, r->staleness,
					r->digest);
				break;
			}
		}
	}

	/* Evaluate the owned snapshots, then sum the results over the processes. */
	size_t nslots = (size_t)(version / rc->every) + 2;
	take_snapshot(rc, nslots - 1);
	double *ev = xcalloc(2 * nslots, sizeof(double));
	for (size_t i = 0; i < rc->nsnaps; i++) {
		snap_t *s = &rc->snaps[i];
		double l, a;
		w->eval(w, s->params, &l, &a);
		ev[2 * s->slot] = l;
		ev[2 * s->slot + 1] = isnan(a) ? 0.0 : a;
		free(s->params);
	}
	rc->nsnaps = 0;
	double *evsum;
	if (same_rounds) {
		pcoll_attr_t sattr;
		pcoll_attr_init(&sattr);
		sattr.mode = PCOLL_SYNC;
		pcoll_coll_t *evc = NULL;
		pcheck(pcoll_allreduce_create(rc->ctx, 2 * nslots, PCOLL_FLOAT64, &sattr, &evc),
		       "pcoll_allreduce_create (evaluation)");
		evsum = xcalloc(2 * nslots, sizeof(double));
		sync_allreduce(evc, ev, evsum, 2 * nslots * sizeof(double));
		pcheck(pcoll_destroy(evc), "pcoll_destroy (evaluation)");
		free(ev);
	} else {
		/* The slot counts differ, so no common collective: keep what this process
		 * evaluated (the other points read 0). */
		evsum = ev;
	}

	/* Results (rank 0's view; round metadata is the same everywhere). */
	res->rounds = version;
	res->steps_rank0 = steps;
	res->wall_s = wall;
	res->wait_s_rank0 = info.wait_seconds;
	res->holds_rank0 = info.holds;
	res->final_loss = evsum[2 * (nslots - 1)];
	res->final_acc = w->has_accuracy ? evsum[2 * (nslots - 1) + 1] : NAN;
	double ssum = 0.0, csum = 0.0;
	uint64_t sn = 0;
	res->max_stale = -1;
	for (size_t i = 0; i < rc->nrecs; i++) {
		const rec_t *r = &rc->recs[i];
		csum += (double)r->contrib;
		if (r->staleness >= 0) {
			ssum += (double)r->staleness;
			sn++;
			if (r->staleness > res->max_stale)
				res->max_stale = r->staleness;
		}
	}
	res->mean_stale = sn ? ssum / (double)sn : NAN;
	res->mean_contrib = rc->nrecs ? csum / (double)rc->nrecs : NAN;

	/* Evaluation points in time order: version 0, every `every` rounds, the final state. */
	res->npts = 0;
	res->pt_t = xcalloc(nslots, sizeof(double));
	res->pt_loss = xcalloc(nslots, sizeof(double));
	res->pt_acc = xcalloc(nslots, sizeof(double));
	res->pt_round = xcalloc(nslots, sizeof(uint64_t));
	res->pt_t[0] = 0.0;
	res->pt_loss[0] = evsum[0];
	res->pt_acc[0] = evsum[1];
	res->pt_round[0] = 0;
	res->npts = 1;
	for (size_t i = 0; i < rc->nrecs; i++) {
		const rec_t *r = &rc->recs[i];
		size_t slot;
		if (i + 1 == rc->nrecs)
			slot = nslots - 1;
		else if (r->index % rc->every == 0)
			slot = (size_t)(r->index / rc->every);
		else
			continue;
		res->pt_t[res->npts] = r->t;
		res->pt_loss[res->npts] = evsum[2 * slot];
		res->pt_acc[res->npts] = evsum[2 * slot + 1];
		res->pt_round[res->npts] = r->index;
		res->npts++;
	}

	if (rc->rank == 0) {
		const char *sep =
		    o->outdir[0] && o->outdir[strlen(o->outdir) - 1] == '/' ? "" : "/";
		int dup = 0;
		for (int i = 0; i < run_idx; i++)
			if (strcmp(o->modes[i].label, m->label) == 0)
				dup = 1;
		char safe[sizeof(m->label)];
		snprintf(safe, sizeof(safe), "%s", m->label);
		for (char *p = safe; *p; p++)
			if (*p == ':')
				*p = '-';
		int len;
		if (dup)
			len = snprintf(res->csv, sizeof(res->csv), "%s%s%s_%s_%d.csv", o->outdir,
				       sep, w->name, safe, run_idx + 1);
		else
			len = snprintf(res->csv, sizeof(res->csv), "%s%s%s_%s.csv", o->outdir, sep,
				       w->name, safe);
		if (len < 0 || (size_t)len >= sizeof(res->csv))
			res->csv[0] = '\0';
		else
			write_run_csv(rc, res, evsum, nslots);
		printf("[%-9s] done: %" PRIu64 " steps, %" PRIu64 " rounds, %.2f s, %.2f steps/s, "
		       "held-out loss %.5f",
		       res->label, res->steps_rank0, res->rounds, res->wall_s,
		       (double)o->steps / res->wall_s, res->final_loss);
		if (w->has_accuracy)
			printf(", accuracy %.2f%%", 100.0 * res->final_acc);
		printf(", replicas identical: %s\n", res->identical ? "yes" : "no");
		fflush(stdout);
	}
	free(evsum);
}

/* ----------------------------------------------------------------- output */

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0777) != 0 && errno != EEXIST)
		return -1;
	struct stat st;
	return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static void fmt_num(char *buf, size_t n, const char *fmt, double v)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, fmt, v);
}

/* A CSV field: empty for NaN. */
static void fmt_csv(char *buf, size_t n, const char *fmt, double v)
{
	if (isnan(v))
		buf[0] = '\0';
	else
		snprintf(buf, n, fmt, v);
}

static void print_table(const opts_t *o, const wl_t *w, run_result_t *res, int nres, double target)
{
	printf("\n%s, P=%d processes, imbalance %s, target loss ", w->name, w->nprocs,
	       imb_names[o->imbalance]);
	if (isnan(target))
		printf("- (no sync run and no --target-loss)\n");
	else
		printf("%.5f%s\n", target,
		       isnan(o->target_loss) ? " (final held-out loss of the sync run)" : "");
	printf("%-12s %8s %8s %7s %12s %11s %10s %10s %9s %13s %9s\n", "mode", "steps/s", "wall s",
	       "rounds", "s to target", "final loss", "final acc%", "mean stale", "max stale",
	       "contrib/round", "identical");
	for (int i = 0; i < nres; i++) {
		run_result_t *r = &res[i];
		char tt[32], acc[32], ms[32];
		fmt_num(tt, sizeof(tt), "%.2f", r->time_to_target);
		fmt_num(acc, sizeof(acc), "%.2f", 100.0 * r->final_acc);
		fmt_num(ms, sizeof(ms), "%.2f", r->mean_stale);
		printf("%-12s %8.2f %8.2f %7" PRIu64 " %12s %11.5f %10s %10s %9" PRId64
		       " %13.2f %9s\n",
		       r->label, (double)o->steps / r->wall_s, r->wall_s, r->rounds, tt,
		       r->final_loss, acc, ms, r->max_stale, r->mean_contrib,
		       r->identical ? "yes" : "no");
	}
	printf("steps/s: gradient steps per process per second (every mode does the same %ld);\n"
	       "stale: largest staleness of a round; s to target: first evaluation at or below "
	       "the target\n",
	       o->steps);
	fflush(stdout);
}

static int write_summary(const opts_t *o, const wl_t *w, run_result_t *res, int nres, double target,
			 const char *path, int nprocs)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "pcoll_sgd: warning: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "workload,mode,processes,staleness,quorum,imbalance,delay_ms,delayed,steps,"
		   "rounds,steps_rank0,wall_s,steps_per_s,target_loss,time_to_target_s,"
		   "final_loss,final_accuracy,mean_staleness,max_staleness,"
		   "mean_contributions,wait_s_rank0,holds_rank0,replicas_identical,csv\n");
	for (int i = 0; i < nres; i++) {
		run_result_t *r = &res[i];
		pcoll_attr_t attr;
		mode_attr(o, &o->modes[i], nprocs, &attr);
		char tl[32], tt[32], acc[32], ms[32];
		fmt_csv(tl, sizeof(tl), "%.9g", target);
		fmt_csv(tt, sizeof(tt), "%.4f", r->time_to_target);
		fmt_csv(acc, sizeof(acc), "%.4f", 100.0 * r->final_acc);
		fmt_csv(ms, sizeof(ms), "%.4f", r->mean_stale);
		fprintf(f,
			"%s,%s,%d,%d,%d,%s,%g,%d,%ld,%" PRIu64 ",%" PRIu64
			",%.4f,%.4f,%s,%s,%.9g,%s,%s,%" PRId64 ",%.4f,%.4f,%" PRIu64 ",%s,%s\n",
			w->name, r->label, nprocs, attr.mode == PCOLL_SYNC ? 0 : attr.staleness,
			attr.mode == PCOLL_QUORUM ? attr.quorum : 0, imb_names[o->imbalance],
			o->delay_ms, o->imbalance == IMB_PAPER ? o->delayed : 0, o->steps,
			r->rounds, r->steps_rank0, r->wall_s, (double)o->steps / r->wall_s, tl, tt,
			r->final_loss, acc, ms, r->max_stale, r->mean_contrib, r->wait_s_rank0,
			r->holds_rank0, r->identical ? "yes" : "no", r->csv);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "pcoll_sgd: warning: error writing %s\n", path);
		return -1;
	}
	return 0;
}

static int file_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Directory part of p (without the trailing slash) into buf; "." if none. */
static void dir_of(const char *p, char *buf, size_t n)
{
	const char *slash = strrchr(p, '/');
	if (!slash)
		snprintf(buf, n, ".");
	else if (slash == p)
		snprintf(buf, n, "/");
	else
		snprintf(buf, n, "%.*s", (int)(slash - p), p);
}

/* The gnuplot script: --plot-script, $PCOLL_SGD_PLOT, next to the executable, in $(pkgdatadir)
 * when installed, next to the
 * source (relative to the build tree or the current directory). */
static int find_plot_script(const opts_t *o, char *buf, size_t n)
{
	if (o->plot_script) {
		snprintf(buf, n, "%s", o->plot_script);
		return file_exists(buf);
	}
	const char *env = getenv(PLOT_ENV);
	if (env && *env) {
		snprintf(buf, n, "%s", env);
		return file_exists(buf);
	}
	char exe[PATH_MAX], exedir[PATH_MAX], srcdir[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	dir_of(__FILE__, srcdir, sizeof(srcdir));
	if (len > 0) {
		exe[len] = '\0';
		dir_of(exe, exedir, sizeof(exedir));
		if ((size_t)snprintf(buf, n, "%s/%s", exedir, PLOT_SCRIPT_NAME) < n &&
		    file_exists(buf))
			return 1;
#ifdef PCOLL_PKGDATADIR
		/* Installed (not the build tree's .libs/): make install puts the script in
		 * $(pkgdatadir); prefer it to a source tree that may have moved on. */
		size_t el = strlen(exedir);
		int build_tree = el >= 6 && strcmp(exedir + el - 6, "/.libs") == 0;
		if (!build_tree &&
		    (size_t)snprintf(buf, n, "%s/%s", PCOLL_PKGDATADIR, PLOT_SCRIPT_NAME) < n &&
		    file_exists(buf))
			return 1;
#endif
		if (srcdir[0] != '/' &&
		    (size_t)snprintf(buf, n, "%s/../%s/%s", exedir, srcdir, PLOT_SCRIPT_NAME) < n &&
		    file_exists(buf))
			return 1;
	}
	if ((size_t)snprintf(buf, n, "%s/%s", srcdir, PLOT_SCRIPT_NAME) < n && file_exists(buf))
		return 1;
#ifdef PCOLL_PKGDATADIR
	if ((size_t)snprintf(buf, n, "%s/%s", PCOLL_PKGDATADIR, PLOT_SCRIPT_NAME) < n &&
	    file_exists(buf))
		return 1;
#endif
	if ((size_t)snprintf(buf, n, "tools/%s", PLOT_SCRIPT_NAME) < n && file_exists(buf))
		return 1;
	return 0;
}

static int plot_safe(const char *s)
{
	for (; *s; s++)
		if (*s == '\'' || *s == '"' || *s == ' ' || *s == '\\' || *s == '\n')
			return 0;
	return 1;
}

static void run_gnuplot(const opts_t *o, const wl_t *w, run_result_t *res, int nres, double target,
			const char *png)
{
	char script[PATH_MAX];
	if (!find_plot_script(o, script, sizeof(script))) {
		fprintf(stderr,
			"pcoll_sgd: warning: %s not found (use --plot-script or $%s); no plot\n",
			PLOT_SCRIPT_NAME, PLOT_ENV);
		return;
	}
	size_t cap = 1024;
	for (int i = 0; i < nres; i++)
		cap += strlen(res[i].csv) + strlen(res[i].label) + 8;
	cap += strlen(png) + strlen(o->outdir);
	char *e = xcalloc(cap, 1);
	size_t off = (size_t)snprintf(e, cap, "files='");
	for (int i = 0; i < nres; i++) {
		if (!res[i].csv[0] || !plot_safe(res[i].csv)) {
			fprintf(stderr,
				"pcoll_sgd: warning: output path unusable in gnuplot; no plot\n");
			free(e);
			return;
		}
		off += (size_t)snprintf(e + off, cap - off, "%s%s", i ? " " : "", res[i].csv);
	}
	off += (size_t)snprintf(e + off, cap - off, "'; titles='");
	for (int i = 0; i < nres; i++)
		off += (size_t)snprintf(e + off, cap - off, "%s%s", i ? " " : "", res[i].label);
	off += (size_t)snprintf(e + off, cap - off, "'; out='%s'; wl='%s'; procs=%d; ", png,
				w->name, w->nprocs);
	if (!isnan(target))
		snprintf(e + off, cap - off, "target=%.9g", target);
	if (!plot_safe(png)) {
		fprintf(stderr, "pcoll_sgd: warning: output path unusable in gnuplot; no plot\n");
		free(e);
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "pcoll_sgd: warning: fork: %s; no plot\n", strerror(errno));
		free(e);
		return;
	}
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", "-e", e, script, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		fprintf(stderr, "pcoll_sgd: warning: gnuplot not found; no plot\n");
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "pcoll_sgd: warning: gnuplot failed (status %d); no plot\n",
			status);
	else
		printf("plot: %s\n", png);
	free(e);
}

/* -------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	opts_t o;
	parse_opts(argc, argv, &o);

	pcoll_config_t cfg;
	pcoll_config_init(&cfg);
	cfg.provider = o.provider;
	pcoll_ctx_t *ctx = NULL;
	pcheck(pcoll_init(&cfg, &ctx), "pcoll_init");
	int rank = pcheck(pcoll_rank(ctx), "pcoll_rank");
	int nprocs = pcheck(pcoll_size(ctx), "pcoll_size");
	g_rank = rank;

	for (int i = 0; i < o.nmodes; i++) {
		mode_spec_t *m = &o.modes[i];
		int q =
		    m->quorum ? m->quorum : (o.quorum ? o.quorum : (nprocs / 2 ? nprocs / 2 : 1));
		if (m->mode == PCOLL_QUORUM && q > nprocs)
			die("quorum %d exceeds the %d processes", q, nprocs);
		if (m->mode == PCOLL_QUORUM)
			snprintf(m->label, sizeof(m->label), "quorum:%d", q);
		else
			snprintf(m->label, sizeof(m->label), "%s", pcoll_mode_name(m->mode));
	}
	int delayed = o.delayed < 0 ? 0 : (o.delayed ? o.delayed : (nprocs / 2 ? nprocs / 2 : 1));
	if (delayed > nprocs)
		delayed = nprocs;
	o.delayed = delayed;

	wl_t *w = wl_create(&o, rank, nprocs);
	delayer_t dl = {.kind = o.imbalance,
			.delta_ms = o.delay_ms,
			.k = delayed,
			.rank = rank,
			.nprocs = nprocs,
			.slow_rank = (int)(mix64(o.seed ^ TAG_SLOW) % (uint64_t)nprocs),
			.seed = o.seed,
			.perm = xcalloc((size_t)nprocs, sizeof(int))};

	pcoll_attr_t cattr;
	pcoll_attr_init(&cattr);
	cattr.mode = PCOLL_SYNC;
	pcoll_coll_t *ctrl = NULL;
	pcheck(pcoll_allreduce_create(ctx, CTRL_COUNT, PCOLL_INT64, &cattr, &ctrl),
	       "pcoll_allreduce_create (control)");

	if (rank == 0) {
		pcoll_ctx_info_t ci;
		pcheck(pcoll_ctx_query(ctx, &ci), "pcoll_ctx_query");
		printf("pcoll_sgd: %d processes, provider %s, wireup %s, progress thread %s\n",
		       nprocs, ci.provider, ci.wireup, ci.progress_thread ? "on" : "off");
		printf("workload %s: %s; %zu float32 parameters (%.2f MiB per round)\n", w->name,
		       w->desc, w->nparams, (double)w->nparams * 4.0 / (1024.0 * 1024.0));
		printf("steps %ld per run, batch %d per process, lr %g, momentum %g, staleness %d, "
		       "seed %" PRIu64 "\n",
		       o.steps, o.batch, o.lr, o.momentum, o.staleness, o.seed);
		printf("imbalance %s", imb_names[o.imbalance]);
		switch (o.imbalance) {
		case IMB_PAPER:
			printf(": %d of %d processes delayed %g ms per step\n", delayed, nprocs,
			       o.delay_ms);
			break;
		case IMB_SLOW:
			printf(": rank %d delayed %g ms per step\n", dl.slow_rank, o.delay_ms);
			break;
		case IMB_TAIL:
			printf(": lognormal delays, median %g ms, capped at %g ms\n",
			       o.delay_ms / 4.0, 20.0 * o.delay_ms);
			break;
		default:
			printf("\n");
		}
		printf("modes:");
		for (int i = 0; i < o.nmodes; i++)
			printf(" %s", o.modes[i].label);
		printf("\n\n");
		fflush(stdout);
		if (mkdir_p(o.outdir) != 0)
			die("cannot create the output directory %s: %s", o.outdir, strerror(errno));
	}

	run_ctx_t rc = {.o = &o,
			.ctx = ctx,
			.ctrl = ctrl,
			.w = w,
			.delayer = &dl,
			.rank = rank,
			.nprocs = nprocs};
	rc.params = xcalloc(w->nparams, sizeof(float));
	rc.vel = xcalloc(w->nparams, sizeof(float));
	rc.grad = xcalloc(w->nparams, sizeof(float));
	run_result_t *res = xcalloc((size_t)o.nmodes, sizeof(run_result_t));
	for (int i = 0; i < o.nmodes; i++) {
		snprintf(res[i].label, sizeof(res[i].label), "%s", o.modes[i].label);
		run_one(&rc, &o.modes[i], i, &res[i]);
	}

	/* Target loss and time to reach it. */
	double target = o.target_loss;
	if (isnan(target))
		for (int i = 0; i < o.nmodes; i++)
			if (o.modes[i].mode == PCOLL_SYNC) {
				target = res[i].final_loss;
				break;
			}
	int all_identical = 1;
	for (int i = 0; i < o.nmodes; i++) {
		run_result_t *r = &res[i];
		r->time_to_target = NAN;
		for (size_t j = 0; !isnan(target) && j < r->npts; j++)
			if (r->pt_loss[j] <= target) {
				r->time_to_target = r->pt_t[j];
				break;
			}
		all_identical &= r->identical;
	}

	char png[PATH_MAX + 64] = "";
	if (rank == 0) {
		print_table(&o, w, res, o.nmodes, target);
		char path[PATH_MAX + 64];
		const char *sep = o.outdir[strlen(o.outdir) - 1] == '/' ? "" : "/";
		snprintf(path, sizeof(path), "%s%s%s_summary.csv", o.outdir, sep, w->name);
		if (write_summary(&o, w, res, o.nmodes, target, path, nprocs) == 0)
			printf("summary: %s\n", path);
		snprintf(png, sizeof(png), "%s%s%s_loss.png", o.outdir, sep, w->name);
		printf("replicas identical: %s\n", all_identical ? "yes" : "no");
		fflush(stdout);
	}

	pcheck(pcoll_destroy(ctrl), "pcoll_destroy (control)");
	pcheck(pcoll_finalize(ctx), "pcoll_finalize");

	/* Plot after pcoll is gone: fork()ing with registered memory is unsafe on some fabrics. */
	if (rank == 0 && !o.no_plot)
		run_gnuplot(&o, w, res, o.nmodes, target, png);

	for (int i = 0; i < o.nmodes; i++) {
		free(res[i].pt_t);
		free(res[i].pt_loss);
		free(res[i].pt_acc);
		free(res[i].pt_round);
	}
	free(res);
	free(rc.params);
	free(rc.vel);
	free(rc.grad);
	free(rc.recs);
	free(rc.snaps);
	free(dl.perm);
	w->destroy(w);
	return all_identical ? 0 : 3;
}
