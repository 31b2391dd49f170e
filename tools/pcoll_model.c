/*
 * pcoll_model -- the scale model of pcoll's partial allreduce: LogGP costs
 * fitted to pcoll_bench allreduce latencies, replayed with the compute times
 * of pcoll_bench imbalance through the round and staleness rules, for any P.
 *
 *   pcoll_model fit [options] ALLREDUCE.csv...    parameters of each transport
 *   pcoll_model predict [options]                 steps/s and speedup over sync
 *   pcoll_model validate [options] IMBALANCE.csv... predicted against measured
 *
 * Needs neither the library nor a launcher: it runs as one process.
 */
#define _GNU_SOURCE
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench_common.h"
#include "bench_pattern.h"
#include "model_report.h"

#define PROG "pcoll_model"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: " PROG " fit|predict|validate [options] [CSV...]\n"
	    "  fit        fit LogGP parameters (alpha = L + 2o, G, gamma) of each transport to\n"
	    "             pcoll_bench allreduce -c files (sync, OSU shape; the median per size\n"
	    "             over the files), by least squares on the relative error\n"
	    "  predict    steps/s of each mode and its speedup over sync for P processes under\n"
	    "             an imbalance pattern of pcoll_bench imbalance: the same compute times\n"
	    "             replayed through the round and staleness rules with the fitted costs\n"
	    "             (model) and at zero cost (ideal)\n"
	    "  validate   the model against pcoll_bench imbalance -c files: measured / model\n"
	    "             per cell (P, pattern, mode), median and range over the files\n"
	    "Options:\n"
	    "  --params FILE  the parameter file: fit writes it, the others read it\n"
	    "                 (default model_params.csv)\n"
	    "  -c, --csv FILE  also write the rows as CSV to FILE\n"
	    "  --plot PNG     predict, with -c: render FILE to PNG with gnuplot (plot_model.gp)\n"
	    "  --measured F   predict's plot: draw the measured points of a validate -c file\n"
	    "  -p, --provider PROVIDER  predict: whose parameters (default shm; 'tcp' matches "
	    "tcp;ofi_rxm)\n"
	    "  -P LIST        predict: process counts, MIN:MAX (MIN, 2 MIN, 4 MIN, ... up to\n"
	    "                 MAX) or a comma-separated list (default 2:1024)\n"
	    "  -M, --modes LIST  predict: modes, sync,solo,majority,quorum[:K] (default all four)\n"
	    "  -S N           predict: staleness bound (default 2, the library's)\n"
	    "  -k K           predict: quorum size (default ceil(P/2))\n"
	    "  -m [MIN:]MAX   predict: buffer bytes MAX (K/M/G suffixes; default 1M);\n"
	    "                 fit: only the sizes from MIN to MAX (default all)\n"
	    "  -t TYPE        datatype: float32 (default), float64, float16, bfloat16, int32,\n"
	    "                 int64 (fit reads sizes in bytes of it; default as pcoll_bench)\n"
	    "  -b MS          predict: base compute time per step (default 20 ms)\n"
	    "  -n N           predict: rounds per run (default 100)\n"
	    "  --patterns L   predict: patterns, comma-separated (default the paper's:\n"
	    "                 paper-1x2,paper-1x5,paper-1x10,paper-2x2,paper-2x5,paper-2x10)\n"
	    "  -s SEED        predict, validate: seed of the patterns (default 1, as pcoll_bench)\n"
	    "  --seeds K      predict: the mean steps/s over the seeds SEED .. SEED+K-1\n"
	    "                 (default 1: exactly the run pcoll_bench -s SEED draws)\n"
	    "  --split F      the share of alpha that is overhead, 2o / alpha, in [0, 1]; g = o\n"
	    "                 (fit: default 0.5; predict, validate: override the file's)\n"
	    "  --zero         predict, validate: zero communication cost (the ideal twice)\n"
	    "  --best         fit: each size's smallest latency over the files, not the median\n"
	    "                 (the least disturbed run, on a shared machine)\n"
	    "  -f, --full     fit: every latency against the model\n"
	    "  -h, --help     this help\n"
	    "  -V, --version  print the version and exit\n");
}

enum {
	OPT_PARAMS = 1000,
	OPT_PLOT,
	OPT_PATTERNS,
	OPT_SPLIT,
	OPT_MEASURED,
	OPT_ZERO,
	OPT_SEEDS,
	OPT_BEST
};

static int dtsize_of(const char *t)
{
	static const struct {
		const char *name;
		int size;
	} dts[] = {{"float32", 4},  {"float64", 8}, {"float16", 2},
		   {"bfloat16", 2}, {"int32", 4},   {"int64", 8}};
	for (size_t i = 0; i < sizeof(dts) / sizeof(dts[0]); i++)
		if (strcmp(t, dts[i].name) == 0)
			return dts[i].size;
	return 0;
}

/* "2:1024" (powers of two) or "2,3,4". */
static int parse_procs(const char *s, struct model_opts *o)
{
	long lo, hi;
	const char *colon = strchr(s, ':');
	o->nprocs = 0;
	if (colon) {
		char a[32];
		snprintf(a, sizeof(a), "%.*s", (int)(colon - s), s);
		if (bench_parse_long(a, 10, 1, 1 << 20, &lo) ||
		    bench_parse_long(colon + 1, 10, lo, 1 << 20, &hi))
			return -1;
		for (long p = lo; p <= hi && o->nprocs < MODEL_MAX_PROCS; p *= 2)
			o->procs[o->nprocs++] = (int)p;
		return 0;
	}
	for (const char *p = s; *p;) {
		char a[32];
		size_t l = strcspn(p, ",");
		snprintf(a, sizeof(a), "%.*s", (int)(l < 31 ? l : 31), p);
		if (o->nprocs == MODEL_MAX_PROCS || bench_parse_long(a, 10, 1, 1 << 20, &lo))
			return -1;
		o->procs[o->nprocs++] = (int)lo;
		p += l;
		if (*p == ',')
			p++;
	}
	return o->nprocs ? 0 : -1;
}

static int parse_modes(const char *s, struct model_opts *o)
{
	o->nmodes = 0;
	for (const char *p = s; *p;) {
		size_t l = strcspn(p, ",");
		if (o->nmodes == MODEL_MAX_MODES || l == 0 || l >= sizeof(o->modes[0]))
			return -1;
		snprintf(o->modes[o->nmodes], sizeof(o->modes[0]), "%.*s", (int)l, p);
		pcoll_mode_t m;
		int k;
		if (model_parse_mode(o->modes[o->nmodes], &m, &k))
			return -1;
		o->nmodes++;
		p += l;
		if (*p == ',')
			p++;
	}
	return o->nmodes ? 0 : -1;
}

static int bad(const char *opt, const char *arg, const char *want)
{
	fprintf(stderr, PROG ": %s %s: expected %s\n", opt, arg, want);
	return -1;
}

/* 0: run; 1: help or version printed; -1: usage error (printed). */
static int parse(int argc, char **argv, struct model_opts *o)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"full", no_argument, NULL, 'f'},
	    {"csv", required_argument, NULL, 'c'},
	    {"provider", required_argument, NULL, 'p'},
	    {"modes", required_argument, NULL, 'M'},
	    {"params", required_argument, NULL, OPT_PARAMS},
	    {"plot", required_argument, NULL, OPT_PLOT},
	    {"patterns", required_argument, NULL, OPT_PATTERNS},
	    {"split", required_argument, NULL, OPT_SPLIT},
	    {"measured", required_argument, NULL, OPT_MEASURED},
	    {"zero", no_argument, NULL, OPT_ZERO},
	    {"seeds", required_argument, NULL, OPT_SEEDS},
	    {"best", no_argument, NULL, OPT_BEST},
	    {NULL, 0, NULL, 0},
	};
	long l;
	int c;
	memset(o, 0, sizeof(*o));
	o->params = "model_params.csv";
	o->provider = "shm";
	o->staleness = 2;
	o->size = 1048576;
	o->dtsize = 4;
	o->base_ms = 20.0;
	o->rounds = 100;
	o->seed = 1;
	o->seeds = 1;
	o->split = -1.0;
	o->patterns = "paper-1x2,paper-1x5,paper-1x10,paper-2x2,paper-2x5,paper-2x10";
	parse_procs("2:1024", o);
	parse_modes("sync,solo,majority,quorum", o);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:p:P:M:S:k:m:t:b:n:s:fhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->csv = optarg;
			break;
		case 'p':
			o->provider = optarg;
			break;
		case 'P':
			if (parse_procs(optarg, o))
				return bad("-P", optarg,
					   "MIN:MAX or a list of process counts >= 1");
			break;
		case 'M':
			if (parse_modes(optarg, o))
				return bad("-M", optarg, "sync,solo,majority,quorum[:K]");
			break;
		case 'S':
			if (bench_parse_long(optarg, 10, 0, INT_MAX, &l))
				return bad("-S", optarg, "a staleness bound >= 0");
			o->staleness = (int)l;
			break;
		case 'k':
			if (bench_parse_long(optarg, 10, 1, INT_MAX, &l))
				return bad("-k", optarg, "a quorum size >= 1");
			o->quorum = (int)l;
			break;
		case 'm': {
			char a[64];
			const char *colon = strchr(optarg, ':');
			snprintf(a, sizeof(a), "%.*s", colon ? (int)(colon - optarg) : 0, optarg);
			if ((colon && bench_parse_size(a, &o->size_min)) ||
			    bench_parse_size(colon ? colon + 1 : optarg, &o->size) ||
			    o->size_min > o->size)
				return bad("-m", optarg, "[MIN:]MAX, sizes in bytes");
			o->size_set = 1;
			break;
		}
		case 't':
			if (!(o->dtsize = (size_t)dtsize_of(optarg)))
				return bad("-t", optarg, "a datatype (see --help)");
			break;
		case 'b':
			if (bench_parse_double(optarg, 0.0, 3600e3, &o->base_ms))
				return bad("-b", optarg, "milliseconds >= 0");
			break;
		case 'n':
			if (bench_parse_long(optarg, 10, 1, INT_MAX, &l))
				return bad("-n", optarg, "rounds >= 1");
			o->rounds = (uint64_t)l;
			break;
		case 's':
			if (bench_parse_long(optarg, 10, 0, LONG_MAX, &l))
				return bad("-s", optarg, "a seed >= 0");
			o->seed = (uint64_t)l;
			break;
		case 'f':
			o->full = 1;
			break;
		case OPT_PARAMS:
			o->params = optarg;
			break;
		case OPT_PLOT:
			o->plot = optarg;
			break;
		case OPT_MEASURED:
			o->measured = optarg;
			break;
		case OPT_PATTERNS:
			for (const char *p = optarg; *p;) {
				size_t len = strcspn(p, ",");
				if (bench_pattern_find(p, len) < 0) {
					fprintf(stderr,
						PROG ": --patterns: unknown pattern '%.*s'\n",
						(int)len, p);
					return -1;
				}
				p += len;
				if (*p == ',')
					p++;
			}
			o->patterns = optarg;
			break;
		case OPT_SPLIT:
			if (bench_parse_double(optarg, 0.0, 1.0, &o->split))
				return bad("--split", optarg, "a share in [0, 1]");
			break;
		case OPT_ZERO:
			o->zero = 1;
			break;
		case OPT_BEST:
			o->best = 1;
			break;
		case OPT_SEEDS:
			if (bench_parse_long(optarg, 10, 1, 1000, &l))
				return bad("--seeds", optarg, "a count in [1, 1000]");
			o->seeds = (int)l;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("%s (%s) %s\n", PROG, PACKAGE, PACKAGE_VERSION);
			return 1;
		case ':':
			fprintf(stderr, PROG ": option %s needs an argument (see --help)\n",
				argv[optind - 1]);
			return -1;
		default:
			if (optopt)
				fprintf(stderr, PROG ": unknown option -%c (see --help)\n", optopt);
			else
				fprintf(stderr, PROG ": unknown option %s (see --help)\n",
					argv[optind - 1]);
			return -1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, PROG ": which: fit, predict or validate? (see --help)\n");
		return -1;
	}
	o->cmd = argv[optind++];
	o->files = argv + optind;
	o->nfiles = argc - optind;
	if (strcmp(o->cmd, "fit") && strcmp(o->cmd, "predict") && strcmp(o->cmd, "validate")) {
		fprintf(stderr, PROG ": unknown command '%s' (see --help)\n", o->cmd);
		return -1;
	}
	if (strcmp(o->cmd, "predict") && o->plot) {
		fprintf(stderr, PROG ": --plot: only predict draws a plot\n");
		return -1;
	}
	if (o->plot && !o->csv) {
		fprintf(stderr, PROG ": --plot needs -c FILE (the plot is drawn from the CSV)\n");
		return -1;
	}
	if (strcmp(o->cmd, "predict") ? o->nfiles == 0 : o->nfiles > 0) {
		fprintf(stderr, PROG ": %s: %s\n", o->cmd,
			strcmp(o->cmd, "predict") ? "which CSV files?" : "takes no files");
		return -1;
	}
	if (o->size < o->dtsize) {
		fprintf(stderr, PROG ": -m: smaller than one element\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct model_opts o;
	setvbuf(stdout, NULL, _IOLBF, 0);
	int rc = parse(argc, argv, &o);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (strcmp(o.cmd, "fit") == 0)
		rc = model_cmd_fit(&o);
	else if (strcmp(o.cmd, "predict") == 0)
		rc = model_cmd_predict(&o);
	else
		rc = model_cmd_validate(&o);
	if (rc == 0 && o.plot)
		rc = model_plot(&o);
	return rc ? 1 : 0;
}
