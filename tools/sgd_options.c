/*
 * sgd_options.c -- pcoll_sgd's command line: options, per-workload defaults, --help.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgd.h"
const char *const wl_names[] = {"hyperplane", "mlp", "seq"};
const char *const imb_names[] = {"paper", "slow", "tail", "none"};

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
	    "      --phases           every rank prints, on stderr, where the time of pcoll_init,\n"
	    "                         the control collective and each run went\n"
	    "      --kill-rank R      failure drill: job rank R exits with _exit(1) when it is\n"
	    "      --kill-step N      about to make step N (0-based) of the first run; needs\n"
	    "                         both options and a launcher that keeps the job alive\n"
	    "                         (Open MPI: --mca orte_enable_recovery 1 --mca\n"
	    "                         orte_abort_on_non_zero_status 0; srun without\n"
	    "                         --kill-on-bad-exit). The survivors get PCOLL_ERR_PEER,\n"
	    "                         shrink to a team without R (pcoll_team_shrink), take the\n"
	    "                         model of the new team rank 0 (re-broadcast) and finish the\n"
	    "                         run on P-1 processes; later runs use that team too. R's\n"
	    "                         data shard and its pending contributions are lost. Any\n"
	    "                         PCOLL_ERR_PEER during training is survived the same way.\n"
	    "                         Works on tcp; on shm the survivors hang after the shrink\n"
	    "                         (a library issue, see pcoll_sgd(1)).\n"
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
	long v;
	if (bench_parse_long(s, 10, lo, hi, &v) != 0)
		bad_arg("invalid %s '%s' (expected an integer in [%ld, %ld])", what, s, lo, hi);
	return v;
}

static double parse_double(const char *s, const char *what, double lo, double hi)
{
	double v;
	if (bench_parse_double(s, lo, hi, &v) != 0)
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
	OPT_PHASES,
	OPT_KILL_RANK,
	OPT_KILL_STEP,
};

void parse_opts(int argc, char **argv, opts_t *o)
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
	    {"phases", no_argument, NULL, OPT_PHASES},
	    {"kill-rank", required_argument, NULL, OPT_KILL_RANK},
	    {"kill-step", required_argument, NULL, OPT_KILL_STEP},
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
	o->kill_rank = -1;
	o->kill_step = -1;
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
		case OPT_PHASES:
			o->phases = 1;
			break;
		case OPT_NO_PLOT:
			o->no_plot = 1;
			break;
		case OPT_KILL_RANK:
			o->kill_rank = (int)parse_long(optarg, "kill rank", 0, INT_MAX);
			break;
		case OPT_KILL_STEP:
			o->kill_step = parse_long(optarg, "kill step", 0, 100000000L);
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
	if ((o->kill_rank < 0) != (o->kill_step < 0))
		bad_arg("--kill-rank and --kill-step go together");
	if (o->kill_step >= o->steps)
		bad_arg("--kill-step %ld is not below the %ld steps of a run", o->kill_step,
			o->steps);
}
void mode_attr(const opts_t *o, const mode_spec_t *m, int nprocs, pcoll_team_t *team,
	       pcoll_attr_t *attr)
{
	pcoll_attr_init(attr);
	attr->mode = m->mode;
	attr->staleness = o->staleness;
	attr->quorum =
	    m->quorum ? m->quorum : (o->quorum ? o->quorum : (nprocs / 2 ? nprocs / 2 : 1));
	if (attr->quorum > nprocs)
		attr->quorum = nprocs;
	attr->seed = o->seed;
	attr->team = team;
}
