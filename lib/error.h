/* Error reporting shared by lib/ and providers/: a code and a message for
 * pcoll_last_error(). Providers include this, not pcoll_internal.h. */
#ifndef PCOLL_ERROR_H
#define PCOLL_ERROR_H

#include <stdint.h>

#include "pcoll.h"

/* Record a detailed message for pcoll_last_error() and return err. */
int pc_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clear the thread's last error message. */
void pc_error_clear(void);

uint64_t pc_now_ns(void);

/* An integer PCOLL_* variable: 0 (*val untouched) when unset or empty, 1 when
 * the whole value is a decimal integer in [lo, hi], -1 when it is not. */
int pc_env_int(const char *name, long lo, long hi, int *val);
/* PCOLL_ERR_INVAL naming the variable, its value and what was expected. */
int pc_env_error(const char *name, const char *expected);

#endif
