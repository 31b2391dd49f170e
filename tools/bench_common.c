/*
 * bench_common.c -- argument parsing, timing, statistics, random streams,
 * output and gnuplot shared by the tools (pcoll_bench, pcoll_sgd and the MPI
 * peer benchmark pcoll_mpi_bench). No pcoll.h here.
 */
#define _GNU_SOURCE
#include "config.h"

#include "bench_common.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const kind_names[BENCH_KIND_COUNT] = {"allreduce", "imbalance", "idle",
							 "create"};

const char *bench_kind_name(enum bench_kind k)
{
	return (unsigned)k < BENCH_KIND_COUNT ? kind_names[k] : "invalid";
}

int bench_env_rank(void)
{
	static const char *const vars[] = {"PMIX_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK",
					   "SLURM_PROCID"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return atoi(v);
	}
	return -1;
}

static int talk(void)
{
	int r = bench_env_rank();
	return r <= 0;
}

static void complain(const char *prog, const char *fmt, ...)
{
	va_list ap;
	if (!talk())
		return;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

void bench_usage(FILE *f, const char *prog, unsigned allowed)
{
	int mpi = !(allowed & BENCH_KIND_MASK(BENCH_IMBALANCE));
	fprintf(f, "Usage: %s [%s] [options]\n", prog,
		mpi ? "allreduce" : "allreduce|imbalance|idle|create");
	fprintf(f, "  allreduce   latency per message size (OSU style); each iteration is timed\n"
		   "              between barriers, the average over ranks is printed; with -B\n"
		   "              back to back instead\n");
	if (!mpi)
		fprintf(
		    f,
		    "  imbalance   rounds (steps) per second with sleep-emulated compute under\n"
		    "              imbalance patterns, next to the ideal (the same compute times\n"
		    "              through the round and staleness rules at zero cost) and the\n"
		    "              older per-round bound of each mode\n"
		    "  idle        CPU used per process while a collective is open and idle\n"
		    "  create      time of pcoll_allreduce_create, pcoll_destroy, "
		    "pcoll_team_split\n"
		    "              and pcoll_team_destroy, -i of each back to back\n");
	fprintf(f,
		"Options:\n"
		"  -m [MIN:]MAX   message sizes in bytes, powers of two (K/M/G suffixes;\n"
		"                 default 4:1048576; imbalance/idle use MAX, default 1M)\n"
		"  -i N           timed iterations (default 1000, 100 above 64 KiB)\n"
		"  -x N           warm-up iterations (default 100, 10 above 64 KiB)\n"
		"  -t TYPE        datatype (float32 default%s)\n"
		"  -c FILE        also write the rows as CSV to FILE (with a header line)\n"
		"  --plot PNG     with -c: render FILE to PNG with gnuplot (plot_bench.gp)\n"
		"  -B, --b2b      allreduce back to back, like a training loop: no barrier per\n"
		"                 iteration, every round drained, a flush at the end (pcoll);\n"
		"                 time = total / iterations\n"
		"                 (default: OSU, a barrier before each iteration timed alone)\n"
		"  -f             full statistics (min, max, iterations, per-rank values)\n"
		"  -q             quick: small sizes, few iterations, short runs (for tests)\n"
		"  -h, --help     this help\n"
		"  -V, --version  print the version and exit\n",
		mpi ? ", float64, int32, int64" : ", float64, float16, bfloat16, int32, int64");
	if (!mpi)
		fprintf(
		    f,
		    "  -p PROVIDER    libfabric provider (pcoll_config_t.provider)\n"
		    "  -M LIST        modes, comma-separated: sync,solo,majority,quorum[:K]\n"
		    "                 (default all four)\n"
		    "  -S N           staleness bound (default: the library's, 2)\n"
		    "  -k K           quorum size (default ceil(P/2))\n"
		    "  -b MS          imbalance: base compute time per step (default 20 ms)\n"
		    "  -n N           imbalance: rounds per run (default 100; quick 10);\n"
		    "                 allreduce --idle-colls, --background, --doorbells:\n"
		    "                 pairs of blocks\n"
		    "  --patterns L   imbalance: patterns to run, comma-separated (default all):\n"
		    "                 paper-1x2,paper-1x5,paper-1x10,paper-2x2,paper-2x5,\n"
		    "                 paper-2x10,slow-1x2,pareto\n"
		    "  -s SEED        imbalance: seed of the delay patterns (default 1)\n"
		    "  --idle-colls N allreduce: the latency with 0 and with N idle collectives\n"
		    "                 open (of the same mode, one step each, then left alone),\n"
		    "                 in -n pairs of blocks (default 10; quick 2), ordered\n"
		    "                 0,N then N,0; prints medians and the ratio N/0 (range)\n"
		    "  --background SIZE  allreduce: a second thread steps a solo collective of\n"
		    "                 SIZE bytes back to back meanwhile; in -n pairs of blocks\n"
		    "                 its reductions run under the engine lock, then outside it\n"
		    "                 (PCOLL_UNLOCKED_REDUCE_BYTES); prints medians and the\n"
		    "                 ratio outside/under (range)\n"
		    "  --doorbells    allreduce: the latency of a collective created without\n"
		    "                 doorbells (PCOLL_DOORBELLS=0), then of one with them (a\n"
		    "                 new collective per block), in -n pairs of blocks;\n"
		    "                 prints medians and the ratio with/without (range)\n"
		    "  -T SEC         idle: seconds to sleep with the collective open (default "
		    "10)\n");
	else
		fprintf(f, "  -p LABEL       provider label for the output (default: detected)\n");
}

int bench_parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	unsigned long long mul = 1;
	switch (*end) {
	case 'k':
	case 'K':
		mul = 1ull << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'i' || *end == 'B' || *end == 'b')
		end++;
	if (*end == 'B')
		end++;
	if (*end != '\0' || v == 0 || v > (unsigned long long)SIZE_MAX / mul)
		return -1;
	*out = (size_t)(v * mul);
	return 0;
}

int bench_parse_long(const char *s, int base, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, base);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* bench_parse_long (C prefixes) for option -opt, complaining when arg is not in [lo, hi]. */
static int int_opt(const char *prog, int opt, const char *arg, long lo, long hi, long *out)
{
	if (!bench_parse_long(arg, 0, lo, hi, out))
		return 0;
	complain(prog, "-%c %s: expected a %s integer", opt, arg,
		 lo > 0 ? "positive" : "non-negative");
	return -1;
}

int bench_parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int parse_modes(const char *list, struct bench_opts *o)
{
	o->nmodes = 0;
	const char *p = list;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= BENCH_NAME_LEN || o->nmodes >= BENCH_MAX_MODES)
			return -1;
		memcpy(o->modes[o->nmodes], p, len);
		o->modes[o->nmodes][len] = '\0';
		o->nmodes++;
		p += len;
		if (*p == ',')
			p++;
	}
	return o->nmodes > 0 ? 0 : -1;
}

enum { OPT_PLOT = 1000, OPT_PATTERNS, OPT_IDLE_COLLS, OPT_BACKGROUND, OPT_DOORBELLS };

int bench_parse(int argc, char **argv, struct bench_opts *o, const char *prog, unsigned allowed,
		const char *default_modes)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"full", no_argument, NULL, 'f'},
	    {"quick", no_argument, NULL, 'q'},
	    {"b2b", no_argument, NULL, 'B'},
	    {"plot", required_argument, NULL, OPT_PLOT},
	    {"patterns", required_argument, NULL, OPT_PATTERNS},
	    {"idle-colls", required_argument, NULL, OPT_IDLE_COLLS},
	    {"background", required_argument, NULL, OPT_BACKGROUND},
	    {"doorbells", no_argument, NULL, OPT_DOORBELLS},
	    {"csv", required_argument, NULL, 'c'},
	    {"provider", required_argument, NULL, 'p'},
	    {"modes", required_argument, NULL, 'M'},
	    {NULL, 0, NULL, 0},
	};
	int b_set = 0, n_set = 0, T_set = 0, c;
	long l;

	memset(o, 0, sizeof(*o));
	o->kind = BENCH_ALLREDUCE;
	o->min_size = 4;
	o->max_size = 1048576;
	o->iters = -1;
	o->warmup = -1;
	o->staleness = -1;
	o->datatype = "float32";
	o->base_ms = 20.0;
	o->steps = 100;
	o->idle_s = 10.0;
	o->seed = 1;
	if (parse_modes(default_modes, o) != 0)
		return -1;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":m:i:x:p:M:S:k:t:c:fqBb:n:T:s:hV", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'm': {
			char *colon = strchr(optarg, ':');
			if (colon) {
				*colon = '\0';
				int bad = bench_parse_size(optarg, &o->min_size) ||
					  bench_parse_size(colon + 1, &o->max_size);
				*colon = ':';
				if (bad)
					goto bad_size;
			} else if (bench_parse_size(optarg, &o->max_size)) {
				goto bad_size;
			}
			if (o->min_size > o->max_size) {
			bad_size:
				complain(prog, "-m %s: expected [MIN:]MAX, 0 < MIN <= MAX bytes",
					 optarg);
				return -1;
			}
			o->size_set = 1;
			break;
		}
		case 'i':
			if (int_opt(prog, 'i', optarg, 1, INT_MAX, &l))
				return -1;
			o->iters = (int)l;
			break;
		case 'x':
			if (int_opt(prog, 'x', optarg, 0, INT_MAX, &l))
				return -1;
			o->warmup = (int)l;
			break;
		case 'p':
			o->provider = optarg;
			break;
		case 'M':
			if (parse_modes(optarg, o)) {
				complain(
				    prog,
				    "-M %s: expected a comma-separated list of at most %d modes",
				    optarg, BENCH_MAX_MODES);
				return -1;
			}
			break;
		case 'S':
			if (int_opt(prog, 'S', optarg, 0, INT_MAX, &l))
				return -1;
			o->staleness = (int)l;
			break;
		case 'k':
			if (int_opt(prog, 'k', optarg, 1, INT_MAX, &l))
				return -1;
			o->quorum = (int)l;
			break;
		case 't':
			o->datatype = optarg;
			break;
		case 'c':
			o->csv = optarg;
			break;
		case OPT_PLOT:
			o->plot = optarg;
			break;
		case OPT_PATTERNS:
			o->patterns = optarg;
			break;
		case OPT_IDLE_COLLS:
			if (!(allowed & BENCH_KIND_MASK(BENCH_IMBALANCE)) ||
			    bench_parse_long(optarg, 0, 1, 100000, &l)) {
				complain(prog,
					 "--idle-colls %s: expected an integer in [1, 100000]",
					 optarg);
				return -1;
			}
			o->idle_colls = (int)l;
			break;
		case OPT_BACKGROUND:
			if (!(allowed & BENCH_KIND_MASK(BENCH_IMBALANCE)) ||
			    bench_parse_size(optarg, &o->background) || o->background == 0) {
				complain(prog, "--background %s: expected a size in bytes", optarg);
				return -1;
			}
			break;
		case OPT_DOORBELLS:
			if (!(allowed & BENCH_KIND_MASK(BENCH_IMBALANCE))) {
				complain(prog, "--doorbells is an option of pcoll_bench allreduce");
				return -1;
			}
			o->doorbells = 1;
			break;
		case 'f':
			o->full = 1;
			break;
		case 'q':
			o->quick = 1;
			break;
		case 'B':
			o->b2b = 1;
			break;
		case 'b':
			if (bench_parse_double(optarg, 0.0, 3600e3, &o->base_ms)) {
				complain(prog, "-b %s: expected milliseconds >= 0", optarg);
				return -1;
			}
			b_set = 1;
			break;
		case 'n':
			if (int_opt(prog, 'n', optarg, 1, INT_MAX, &l))
				return -1;
			o->steps = (int)l;
			n_set = 1;
			break;
		case 'T':
			if (bench_parse_double(optarg, 0.0, 86400.0, &o->idle_s)) {
				complain(prog, "-T %s: expected seconds >= 0", optarg);
				return -1;
			}
			T_set = 1;
			break;
		case 's':
			if (int_opt(prog, 's', optarg, 0, LONG_MAX, &l))
				return -1;
			o->seed = (uint64_t)l;
			break;
		case 'h':
			if (talk())
				bench_usage(stdout, prog, allowed);
			return 1;
		case 'V':
			if (talk())
				printf("%s (%s) %s\n", prog, PACKAGE, PACKAGE_VERSION);
			return 1;
		case ':':
			complain(prog, "option %s needs an argument (see --help)",
				 argv[optind - 1]);
			return -1;
		default:
			if (optopt)
				complain(prog, "unknown option -%c (see --help)", optopt);
			else
				complain(prog, "unknown option %s (see --help)", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		int k;
		for (k = 0; k < BENCH_KIND_COUNT; k++)
			if (strcmp(argv[optind], kind_names[k]) == 0)
				break;
		if (k == BENCH_KIND_COUNT || !(allowed & BENCH_KIND_MASK(k))) {
			complain(prog, "unknown benchmark '%s' (see --help)", argv[optind]);
			return -1;
		}
		o->kind = (enum bench_kind)k;
		optind++;
	}
	if (optind < argc) {
		complain(prog, "unexpected argument '%s' (see --help)", argv[optind]);
		return -1;
	}
	if (o->idle_colls && o->kind != BENCH_ALLREDUCE) {
		complain(prog, "--idle-colls is an option of allreduce");
		return -1;
	}
	if (o->background && (o->kind != BENCH_ALLREDUCE || o->idle_colls)) {
		complain(prog, "--background is an option of allreduce, without --idle-colls");
		return -1;
	}
	if (o->background && o->plot) {
		complain(prog, "--background: --plot draws only the plain allreduce rows");
		return -1;
	}
	if (o->doorbells &&
	    (o->kind != BENCH_ALLREDUCE || o->idle_colls || o->background || o->plot)) {
		complain(prog, "--doorbells is an option of allreduce, without --idle-colls, "
			       "--background or --plot");
		return -1;
	}
	if (o->idle_colls && o->plot) {
		complain(prog, "--idle-colls: --plot draws only the plain allreduce rows");
		return -1;
	}
	if (o->plot && !o->csv) {
		complain(prog, "--plot needs -c FILE (the plot is drawn from the CSV)");
		return -1;
	}

	/* Per-benchmark defaults. */
	if (o->kind != BENCH_ALLREDUCE && !o->size_set)
		o->max_size = o->quick ? 65536 : 1048576;
	if (o->kind == BENCH_CREATE && !o->size_set)
		o->max_size = 4096; /* -i of them live at once */
	if (o->quick) {
		if (!o->size_set && o->kind == BENCH_ALLREDUCE)
			o->max_size = BENCH_QUICK_MAX_SIZE;
		if (!o->size_set && o->kind == BENCH_IDLE)
			o->max_size = BENCH_QUICK_MAX_SIZE;
		if (!n_set)
			o->steps = BENCH_QUICK_STEPS;
		if (!b_set)
			o->base_ms = BENCH_QUICK_BASE_MS;
		if (!T_set)
			o->idle_s = BENCH_QUICK_IDLE_S;
	}
	if ((o->idle_colls || o->background || o->doorbells) && !n_set)
		o->steps = o->quick ? 2 : 10;
	if (o->min_size > o->max_size)
		o->min_size = o->max_size;
	return 0;
}

void bench_iters_for(const struct bench_opts *o, size_t size, int *iters, int *warmup)
{
	int large = size > BENCH_LARGE_SIZE;
	*iters = o->quick ? BENCH_QUICK_ITERS : large ? BENCH_ITERS_LARGE : BENCH_ITERS_SMALL;
	*warmup = o->quick ? BENCH_QUICK_WARMUP : large ? BENCH_WARMUP_LARGE : BENCH_WARMUP_SMALL;
	if (o->iters > 0)
		*iters = o->iters;
	if (o->warmup >= 0)
		*warmup = o->warmup;
}

int bench_settle_barriers(const struct bench_opts *o)
{
	return o->quick ? BENCH_QUICK_SETTLE : BENCH_SETTLE_BARRIERS;
}

double bench_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

double bench_rss_kib(void)
{
	/* statm's second field: resident pages. */
	long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%*s %ld", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return (double)pages * (double)sysconf(_SC_PAGESIZE) / 1024.0;
}

void bench_sleep_us(double us)
{
	if (!(us > 0))
		return;
	struct timespec now, until;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ns = (long long)(us * 1e3);
	until.tv_sec = now.tv_sec + (time_t)(ns / 1000000000LL);
	until.tv_nsec = now.tv_nsec + (long)(ns % 1000000000LL);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
}

double bench_cpu_us(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0.0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

void bench_minmaxavg(const double *v, int n, double *min, double *max, double *avg)
{
	double lo = v[0], hi = v[0], sum = 0.0;
	for (int i = 0; i < n; i++) {
		if (v[i] < lo)
			lo = v[i];
		if (v[i] > hi)
			hi = v[i];
		sum += v[i];
	}
	*min = lo;
	*max = hi;
	*avg = sum / n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bench_kth_smallest(const double *v, int n, int k)
{
	double small[64], *tmp = n <= 64 ? small : malloc(sizeof(double) * (size_t)n);
	double r;
	if (!tmp)
		abort();
	memcpy(tmp, v, sizeof(double) * (size_t)n);
	qsort(tmp, (size_t)n, sizeof(double), cmp_double);
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	r = tmp[k];
	if (tmp != small)
		free(tmp);
	return r;
}

double bench_percentile(const double *v, int n, double p)
{
	int k = (int)(p / 100.0 * n + 0.999999) - 1;
	return bench_kth_smallest(v, n, k);
}

/* splitmix64 finalizer */
uint64_t bench_mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t bench_hash3(uint64_t seed, uint64_t a, uint64_t b)
{
	return bench_mix64(bench_mix64(bench_mix64(seed) ^ a) ^ b);
}

double bench_uniform3(uint64_t seed, uint64_t a, uint64_t b)
{
	return (double)(bench_hash3(seed, a, b) >> 11) * 0x1.0p-53;
}

bench_rng_t bench_rng_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	bench_rng_t r = {bench_mix64(seed ^ bench_mix64(a ^ bench_mix64(b ^ bench_mix64(c))))};
	return r;
}

uint64_t bench_rng_next(bench_rng_t *r)
{
	uint64_t z = bench_mix64(r->s); /* mixes s + gamma, the next state */
	r->s += 0x9e3779b97f4a7c15ull;
	return z;
}

double bench_rng_uniform(bench_rng_t *r)
{
	return (double)(bench_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t bench_rng_below(bench_rng_t *r, uint64_t n)
{
	uint64_t v = (uint64_t)(bench_rng_uniform(r) * (double)n);
	return v < n ? v : n - 1;
}

double bench_rng_normal(bench_rng_t *r)
{
	double u1 = 1.0 - bench_rng_uniform(r); /* (0, 1] */
	double u2 = bench_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* ------------------------------------------------------------ output */

#define FIELD_WIDTH	18
#define FLOAT_PRECISION 2

void bench_print_latency_header(FILE *f, const char *title, const char *info, int full)
{
	fprintf(f, "%s\n", title);
	if (info && *info)
		fprintf(f, "%s%s", info, info[strlen(info) - 1] == '\n' ? "" : "\n");
	fprintf(f, "%-*s", 10, "# Size");
	fprintf(f, "%*s", FIELD_WIDTH, "Avg Latency(us)");
	if (full) {
		fprintf(f, "%*s", FIELD_WIDTH, "Min Latency(us)");
		fprintf(f, "%*s", FIELD_WIDTH, "Max Latency(us)");
		fprintf(f, "%*s", 12, "Iterations");
	}
	fprintf(f, "\n");
	fflush(f);
}

void bench_print_latency_row(FILE *f, size_t size, double avg, double min, double max, long iters,
			     int full)
{
	fprintf(f, "%-*zu", 10, size);
	fprintf(f, "%*.*f", FIELD_WIDTH, FLOAT_PRECISION, avg);
	if (full) {
		fprintf(f, "%*.*f", FIELD_WIDTH, FLOAT_PRECISION, min);
		fprintf(f, "%*.*f", FIELD_WIDTH, FLOAT_PRECISION, max);
		fprintf(f, "%*ld", 12, iters);
	}
	fprintf(f, "\n");
	fflush(f);
}

const char *bench_csv_header(enum bench_kind k)
{
	switch (k) {
	case BENCH_ALLREDUCE:
		return "bench,impl,mode,provider,P,size,avg_us,min_us,max_us,iters,shape,algorithm";
	case BENCH_IMBALANCE:
		return "bench,impl,mode,provider,P,size,pattern,base_ms,steps,sps_measured,"
		       "sps_ideal,ratio,ideal_basis,sps_mean_rank,sps_last_rank,staleness,"
		       "sps_bound,ratio_bound,bound_basis,sps_ideal_mean_rank";
	case BENCH_IDLE:
		return "bench,impl,mode,provider,P,size,seconds,cpu_pct_avg,cpu_pct_min,"
		       "cpu_pct_max,wait";
	case BENCH_CREATE:
		return "bench,impl,call,provider,P,size,iters,avg_us,min_us,max_us,wireup";
	default:
		return "";
	}
}

FILE *bench_csv_open(const char *path, enum bench_kind k)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return NULL;
	fprintf(f, "%s\n", bench_csv_header(k));
	fflush(f);
	return f;
}

const char *bench_shape(const struct bench_opts *o)
{
	return o->b2b ? "b2b" : "osu";
}

void bench_csv_latency_row(FILE *f, const char *impl, const char *mode, const char *provider, int P,
			   size_t size, double avg, double min, double max, long iters,
			   const char *shape, const char *algorithm)
{
	fprintf(f, "allreduce,%s,%s,%s,%d,%zu,%.3f,%.3f,%.3f,%ld,%s,%s\n", impl, mode, provider, P,
		size, avg, min, max, iters, shape, algorithm ? algorithm : "-");
	fflush(f);
}

void bench_csv_sanitize(char *s)
{
	for (; *s; s++) {
		if (*s == ',')
			*s = ';';
		else if (*s == '\n' || *s == '\r' || *s == '"')
			*s = ' ';
	}
}

int bench_file_readable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
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

/* Try dir/name (prefix a, then b when not NULL); 0 when it is there. */
static int try_path(char *out, size_t len, const char *a, const char *b, const char *name)
{
	int n =
	    b ? snprintf(out, len, "%s/%s/%s", a, b, name) : snprintf(out, len, "%s/%s", a, name);
	return n >= 0 && (size_t)n < len && bench_file_readable(out) ? 0 : -1;
}

int bench_find_data_file(const char *name, char *out, size_t len)
{
	char exe[PATH_MAX], exedir[PATH_MAX] = "", srcdir[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *top = getenv("top_srcdir");

	/* The tools' sources sit next to this file; a relative __FILE__ is relative to the
	 * directory the tool was built in. */
	dir_of(__FILE__, srcdir, sizeof(srcdir));
	if (n > 0) {
		exe[n] = '\0';
		dir_of(exe, exedir, sizeof(exedir));
		if (!try_path(out, len, exedir, NULL, name) ||
		    !try_path(out, len, exedir, "../share/pcoll", name))
			return 0;
		/* A libtool build tree runs the tools from tools/.libs/. */
		size_t el = strlen(exedir);
		int libs = el >= 6 && strcmp(exedir + el - 6, "/.libs") == 0;
#ifdef PCOLL_PKGDATADIR
		/* Installed: make install puts the scripts in $(pkgdatadir); prefer them to a
		 * source tree that may have moved on. A build tree's tool takes the source
		 * tree's first. */
		if (!libs && !try_path(out, len, PCOLL_PKGDATADIR, NULL, name))
			return 0;
#endif
		/* The top build directory is the one above the tool's (tools/), and a relative
		 * __FILE__ is relative to it: found from any working directory. */
		char up[PATH_MAX + 4];
		snprintf(up, sizeof(up), "%.*s/..", (int)(libs ? el - 6 : el), exedir);
		if (srcdir[0] != '/' && !try_path(out, len, up, srcdir, name))
			return 0;
	}
	if ((top && *top && !try_path(out, len, top, "tools", name)) ||
	    !try_path(out, len, srcdir, NULL, name) || !try_path(out, len, "tools", NULL, name))
		return 0;
#ifdef PCOLL_PKGDATADIR
	if (!try_path(out, len, PCOLL_PKGDATADIR, NULL, name))
		return 0;
#endif
	return -1;
}

int bench_gnuplot(const char *expr, const char *script, const char *who)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", "-e", expr, script, (char *)NULL);
		if (who)
			fprintf(stderr, "%s: cannot run gnuplot: %s\n", who, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -2;
	return status;
}

/* plot_bench.gp: $PCOLL_PLOT_SCRIPT, else where bench_find_data_file looks. */
static int find_plot_script(char *out, size_t len)
{
	const char *env = getenv("PCOLL_PLOT_SCRIPT");

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return bench_file_readable(out) ? 0 : -1;
	}
	return bench_find_data_file("plot_bench.gp", out, len);
}

int bench_csv_finish(FILE *csv, const struct bench_opts *o, const char *prog, int rank)
{
	if (csv && fclose(csv) != 0) {
		fprintf(stderr, "%s: rank 0: writing %s failed: %m\n", prog, o->csv);
		return 1;
	}
	if (rank == 0 && o->plot && bench_plot(o->csv, o->plot) != 0)
		return 1;
	return 0;
}

int bench_plot(const char *csv, const char *png)
{
	char script[PATH_MAX + 64], expr[3 * PATH_MAX];
	int status;

	if (strchr(csv, '\'') || strchr(png, '\'')) {
		fprintf(stderr, "plot: file names with a single quote are not supported\n");
		return -1;
	}
	if (find_plot_script(script, sizeof(script))) {
		fprintf(
		    stderr,
		    "plot: plot_bench.gp not found (next to the executable, in the pkgdatadir, in "
		    "$top_srcdir/tools, or set PCOLL_PLOT_SCRIPT)\n");
		return -1;
	}
	snprintf(expr, sizeof(expr), "csv='%s'; out='%s'", csv, png);
	status = bench_gnuplot(expr, script, "plot");
	if (status < 0) {
		perror(status == -1 ? "plot: fork" : "plot: waitpid");
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "plot: gnuplot %s failed (status %d)\n", script,
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	return 0;
}
