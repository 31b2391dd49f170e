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

#endif
