/*
 * Loads of words that peers write into this process's registered memory by
 * RDMA: flags, activation slots, quorum arrivals, flush epochs, notices.
 *
 * The writer is the NIC, or a provider's own progress thread standing in for
 * it (sockets), whose memcpy ThreadSanitizer sees as a plain write with no
 * release. An acquire load is what orders the payload behind the word on real
 * hardware; TSan cannot see that ordering, and when the writer's stack has
 * aged out of its history the libfabric suppression cannot match either. So
 * these loads, and only these, are not instrumented.
 */
#ifndef PCOLL_REMOTE_H
#define PCOLL_REMOTE_H

#include <stdint.h>

#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define PC_NO_TSAN __attribute__((no_sanitize("thread")))
#endif
#endif
#ifndef PC_NO_TSAN
#define PC_NO_TSAN
#endif

PC_NO_TSAN static inline uint64_t pc_remote_load(const volatile uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

#endif
