/* Helpers for the multi-process tests: every failure names the rank and exits
 * non-zero, which makes the launcher fail the whole test. */
#ifndef PCOLL_MP_COMMON_H
#define PCOLL_MP_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pcoll.h"

static int mp_rank = -1;

__attribute__((format(printf, 1, 2), noreturn)) static void mp_fail(const char *fmt, ...)
{
	/* One write() per line: the ranks share the launcher's pipe, and stderr's
	 * piecewise writes let two ranks' messages join on one line. */
	char line[2048];
	va_list ap;
	int n = snprintf(line, sizeof(line), "[rank %d] FAIL: ", mp_rank);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fflush(stdout);
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		exit(1);
	exit(1);
}

#define MP_OK(call)                                                                                \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ < 0)                                                                       \
			mp_fail("%s:%d: %s -> %s (%s)", __FILE__, __LINE__, #call,                 \
				pcoll_strerror(rc_), pcoll_last_error());                          \
	} while (0)

#define MP_EXPECT(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond))                                                                       \
			mp_fail(__VA_ARGS__);                                                      \
	} while (0)

/* pcoll_flush until it completes: it returns how many rounds wait (> 0) when
 * they fill the result ring first, and `take` (a statement) takes them; it
 * runs once more after the flush, for the final round. */
#define MP_FLUSH_TAKING(c, take)                                                                   \
	do {                                                                                       \
		int f_;                                                                            \
		while ((f_ = pcoll_flush(c)) > 0) {                                                \
			take;                                                                      \
		}                                                                                  \
		MP_OK(f_);                                                                         \
		take;                                                                              \
	} while (0)

/* The same, discarding the rounds. */
static inline void mp_flush_discard(pcoll_coll_t *c)
{
	pcoll_round_t r;
	MP_FLUSH_TAKING(c, while (pcoll_next_round(c, &r) == 1));
}

static inline double mp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void mp_sleep_ms(double ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
	nanosleep(&ts, NULL);
}

/* Resident set size of this process, in KiB (0 if /proc cannot tell). */
static inline long mp_rss_kib(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* splitmix64: seeded, identical on every process. */
static inline uint64_t mp_mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#endif
