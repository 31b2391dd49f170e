/*
 * bench_common.h -- what the tools share: argument parsing, timing,
 * statistics, seeded random numbers, OSU-style output, CSV rows and gnuplot.
 * pcoll_bench and the MPI peer benchmark use all of it; pcoll_sgd the
 * number parsers, timing, the random streams and the gnuplot helpers.
 *
 * This file must not include pcoll.h or mpi.h: it is compiled both into
 * pcoll_bench (with libpcoll) and into pcoll_mpi_bench (with mpicc).
 */
#ifndef PCOLL_BENCH_COMMON_H
#define PCOLL_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The benchmarks a tool can run. */
enum bench_kind {
	BENCH_ALLREDUCE = 0, /**< OSU-style latency per size and mode */
	BENCH_IMBALANCE = 1, /**< steps/s under sleep-emulated, imbalanced compute */
	BENCH_IDLE = 2,	     /**< CPU used while a collective is open and idle */
	BENCH_CREATE = 3,    /**< cost of create/destroy and team split/destroy */
	BENCH_KIND_COUNT
};

#define BENCH_KIND_MASK(k) (1u << (k))

#define BENCH_MAX_MODES 8
#define BENCH_NAME_LEN	32

/* OSU conventions: more iterations for small messages, fewer for large ones. */
#define BENCH_ITERS_SMALL  1000
#define BENCH_WARMUP_SMALL 100
#define BENCH_ITERS_LARGE  100
#define BENCH_WARMUP_LARGE 10
#define BENCH_LARGE_SIZE   65536 /**< sizes above this (bytes) are "large" */
/* Barriers before the first timed block (bench_settle_barriers). The
 * processes come from a wireup they slept through, and the first few ms after
 * it ran slower on this VM: with 100 warm-up iterations, the first mode
 * measured at 4 KiB took 1.5-2x the same mode measured second. */
#define BENCH_SETTLE_BARRIERS 2000

/* Quick mode (for make check): small sizes, few iterations, short runs. */
#define BENCH_QUICK_MAX_SIZE 4096
#define BENCH_QUICK_ITERS    20
#define BENCH_QUICK_WARMUP   5
#define BENCH_QUICK_SETTLE   20
#define BENCH_QUICK_STEPS    10
#define BENCH_QUICK_BASE_MS  10.0
#define BENCH_QUICK_IDLE_S   1.0

/** Parsed command line. Fill with bench_parse(). */
struct bench_opts {
	enum bench_kind kind;
	size_t min_size, max_size;		     /**< bytes; -m [MIN:]MAX */
	int size_set;				     /**< 1 when -m was given */
	int iters, warmup;			     /**< -i, -x; -1: by size (OSU defaults) */
	const char *provider;			     /**< -p; NULL: library default */
	char modes[BENCH_MAX_MODES][BENCH_NAME_LEN]; /**< -M, names as given */
	int nmodes;
	int staleness;	      /**< -S; -1: library default */
	int quorum;	      /**< -k; 0: default (ceil(P/2)) */
	const char *datatype; /**< -t; "float32" */
	const char *csv;      /**< -c FILE */
	const char *plot;     /**< --plot FILE.png (needs -c) */
	int full;	      /**< -f */
	int quick;	      /**< -q */
	int b2b;	      /**< -B: allreduce back to back, no barrier per iteration */
	double base_ms;	      /**< -b: imbalance base compute time */
	int steps;	      /**< -n: imbalance rounds per run */
	double idle_s;	      /**< -T: idle sleep */
	uint64_t seed;	      /**< -s: seed of the imbalance patterns */
	const char *patterns; /**< --patterns LIST (imbalance); NULL: all */
	int idle_colls;	      /**< --idle-colls N (allreduce): 0 and N idle, interleaved;
				   -n is then the number of alternations */
	size_t background;    /**< --background SIZE (allreduce): a second thread steps a
				   collective of SIZE bytes meanwhile, its reductions
				   under and outside the engine lock, interleaved */
	int doorbells;	      /**< --doorbells (allreduce): the collective created without
				   and with doorbells (PCOLL_DOORBELLS), interleaved */
};

/**
 * Parse argv. allowed is a mask of BENCH_KIND_MASK() the tool supports;
 * default_modes the -M default ("sync,solo,majority,quorum" or "mpi").
 * Returns 0 to run, 1 when help was printed (exit 0), -1 on a usage error
 * (a message was printed; exit non-zero). Messages go out only when
 * bench_env_rank() is 0 or unknown, so a job prints them once.
 */
int bench_parse(int argc, char **argv, struct bench_opts *o, const char *prog, unsigned allowed,
		const char *default_modes);

/** Print usage of the tool to f. */
void bench_usage(FILE *f, const char *prog, unsigned allowed);

/** Name of a benchmark kind ("allreduce", ...). */
const char *bench_kind_name(enum bench_kind k);

/** Rank from the launcher's environment (PMIx, Open MPI, MPICH, SLURM), or -1. */
int bench_env_rank(void);

/**
 * Parse s as a whole long in [lo, hi] (strtol with base: 10, or 0 for C
 * prefixes). Returns 0 and sets *out, or -1 (nothing printed).
 */
int bench_parse_long(const char *s, int base, long lo, long hi, long *out);

/** Parse a byte count: "123", "4K", "1M", "2G" (also KiB, KB). 0 and *out, or -1. */
int bench_parse_size(const char *s, size_t *out);

/** Parse s as a whole double in [lo, hi]. Returns 0 and sets *out, or -1. */
int bench_parse_double(const char *s, double lo, double hi, double *out);

/** Iterations and warm-up for one message size, honouring -i/-x/-q. */
void bench_iters_for(const struct bench_opts *o, size_t size, int *iters, int *warmup);
/** Barriers both benchmarks run before their first timed block. */
int bench_settle_barriers(const struct bench_opts *o);

/** Monotonic time in microseconds. */
double bench_now_us(void);
/** Resident set of this process in KiB (0 where /proc is missing). */
double bench_rss_kib(void);

/** Sleep for us microseconds (restarts after signals). */
void bench_sleep_us(double us);

/** Process CPU time (user + system, all threads) in microseconds. */
double bench_cpu_us(void);

/** Minimum, maximum and mean of n values (n >= 1). */
void bench_minmaxavg(const double *v, int n, double *min, double *max, double *avg);

/** k-th smallest (0-based) of n values; v is left unchanged. */
double bench_kth_smallest(const double *v, int n, int k);

/** Percentile p in [0, 100] of n values by nearest rank; v is left unchanged. */
double bench_percentile(const double *v, int n, double p);

/* -------------------------------------------------------------- PRNG */

/** The splitmix64 finalizer (of z + the golden gamma). */
uint64_t bench_mix64(uint64_t z);

/** A keyed splitmix64 stream: every process derives the same numbers from the same keys. */
typedef struct bench_rng {
	uint64_t s;
} bench_rng_t;

/** The stream keyed by (seed, a, b, c). */
bench_rng_t bench_rng_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

/** Next 64 random bits of r. */
uint64_t bench_rng_next(bench_rng_t *r);

/** Uniform double in [0, 1). */
double bench_rng_uniform(bench_rng_t *r);

/** Uniform integer in [0, n), n >= 1. */
uint64_t bench_rng_below(bench_rng_t *r, uint64_t n);

/** Standard normal (Box-Muller, one value per two uniforms). */
double bench_rng_normal(bench_rng_t *r);

/** Stateless hash of (seed, a, b) to 64 uniformly distributed bits. */
uint64_t bench_hash3(uint64_t seed, uint64_t a, uint64_t b);

/** Uniform double in [0, 1) from (seed, a, b). */
double bench_uniform3(uint64_t seed, uint64_t a, uint64_t b);

/* ------------------------------------------------------------ output */

/**
 * OSU title/header of the allreduce latency table (rank 0 only): the title
 * line, info (comment lines, may be NULL) and the column header.
 */
void bench_print_latency_header(FILE *f, const char *title, const char *info, int full);

/** One OSU row: size, avg (and with full: min, max, iterations). */
void bench_print_latency_row(FILE *f, size_t size, double avg, double min, double max, long iters,
			     int full);

/** CSV header of each benchmark kind (the first line of a CSV file). */
const char *bench_csv_header(enum bench_kind k);

/** Open path for writing and write the header of kind k. NULL on failure (errno set). */
FILE *bench_csv_open(const char *path, enum bench_kind k);

/** The allreduce shape's name in output: "b2b" with -B, else "osu". */
const char *bench_shape(const struct bench_opts *o);

/** Append one allreduce row (shape: bench_shape(); algorithm: the schedule
 * pcoll ran, "recursive-doubling", "reduce-scatter-allgather" or "ring", or NULL
 * where unknown, written "-"). */
void bench_csv_latency_row(FILE *f, const char *impl, const char *mode, const char *provider, int P,
			   size_t size, double avg, double min, double max, long iters,
			   const char *shape, const char *algorithm);

/**
 * Render path (a CSV) to png with gnuplot and plot_bench.gp. The script is
 * looked for in $PCOLL_PLOT_SCRIPT, next to the executable, in
 * $top_srcdir/tools and in ../share/pcoll next to the executable.
 * Returns 0 or -1 (a message was printed).
 */
int bench_plot(const char *csv, const char *png);

/**
 * End a run's CSV output: close csv (NULL on ranks that write none) and, on
 * rank 0, render it to o->plot when asked. Returns 0, or 1 after printing
 * what failed (prog names the tool).
 */
int bench_csv_finish(FILE *csv, const struct bench_opts *o, const char *prog, int rank);

/** 1 when path is a readable regular file. */
int bench_file_readable(const char *path);

/**
 * Find a tool's data file (a gnuplot script) called name: next to the
 * executable, in ../share/pcoll next to it, in $(pkgdatadir) when installed
 * (not a build tree's .libs/), next to the tools' sources (relative to the
 * executable, $top_srcdir/tools, the compile-time source directory, ./tools)
 * and last in $(pkgdatadir). Writes the path to out; 0 when found, else -1.
 */
int bench_find_data_file(const char *name, char *out, size_t len);

/**
 * Run `gnuplot -e expr script` and wait for it (stdio is flushed first).
 * Returns the wait status, -1 when fork failed or -2 when waitpid failed
 * (errno set). A gnuplot that cannot be started exits 127, after the message
 * "WHO: cannot run gnuplot: ERROR" on stderr when who is not NULL.
 */
int bench_gnuplot(const char *expr, const char *script, const char *who);

/** Make s safe as a CSV field: replace commas and newlines with ';' and ' '. */
void bench_csv_sanitize(char *s);

#ifdef __cplusplus
}
#endif
#endif /* PCOLL_BENCH_COMMON_H */
