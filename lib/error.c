#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PCOLL_NO_CTX
#include "pcoll_internal.h"

static _Thread_local char last_msg[512];

int pc_error(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	return err;
}

void pc_error_clear(void)
{
	last_msg[0] = '\0';
}

const char *pcoll_last_error(void)
{
	return last_msg;
}

const char *pcoll_strerror(int err)
{
	switch (err) {
	case PCOLL_SUCCESS:
		return "success";
	case PCOLL_ERR_INVAL:
		return "invalid argument";
	case PCOLL_ERR_NOMEM:
		return "out of memory";
	case PCOLL_ERR_FABRIC:
		return "libfabric error";
	case PCOLL_ERR_PMIX:
		return "PMIx wireup error";
	case PCOLL_ERR_MISMATCH:
		return "processes disagree on the collective's parameters";
	case PCOLL_ERR_STATE:
		return "call not valid in the current state";
	case PCOLL_ERR_TIMEOUT:
		return "timed out waiting for peers";
	case PCOLL_ERR_PEER:
		return "a peer failed";
	case PCOLL_ERR_FINALIZED:
		return "the context was finalized";
	case PCOLL_ERR_PENDING:
		return "completed rounds were never taken";
	case PCOLL_ERR_UNSUPPORTED:
		return "not supported by this fabric";
	case PCOLL_ERR_INTERNAL:
		return "internal error";
	case PCOLL_ERR_WIREUP:
		return "wireup failed: cannot find the other processes";
	default:
		return "unknown error code";
	}
}

int pcoll_version(int *major, int *minor, int *patch)
{
	if (major)
		*major = PCOLL_VERSION_MAJOR;
	if (minor)
		*minor = PCOLL_VERSION_MINOR;
	if (patch)
		*patch = PCOLL_VERSION_PATCH;
	return PCOLL_VERSION;
}

uint64_t pc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* An integer PCOLL_* variable: 0 (and *val untouched) when it is unset or
 * empty, 1 when the whole value is a decimal integer in [lo, hi], -1 when it
 * is not (no atoi: "abc" or "5ms" is an error, not 0 or 5). strtol saturates
 * out of range values at LONG_MIN/LONG_MAX, which the bounds then refuse. */
int pc_env_int(const char *name, long lo, long hi, int *val)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return 0;
	char *end;
	long x = strtol(v, &end, 10);
	if (end == v || *end || x < lo || x > hi)
		return -1;
	*val = (int)x;
	return 1;
}

/* PCOLL_ERR_INVAL naming the variable, its value and what was expected. */
int pc_env_error(const char *name, const char *expected)
{
	return pc_error(PCOLL_ERR_INVAL, "%s=%s: expected %s", name, getenv(name), expected);
}
