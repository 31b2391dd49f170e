/* PMIx wireup: rank, size, and an allgather of small blobs (Put/Commit/Fence/Get). */
#ifndef PCOLL_WIREUP_H
#define PCOLL_WIREUP_H

#include <stddef.h>

typedef struct pc_wireup {
	int pmix; /* 1 under a PMIx server, 0 singleton */
	int rank, size;
	int timeout_s; /* fences give up after this (0: none) */
	unsigned seq;  /* keys are unique per allgather: the calls are collective */
	char nspace[256];
} pc_wireup_t;

int pc_wireup_init(pc_wireup_t *w, int timeout_ms);
/* Every process contributes len bytes; all receives size*len bytes in rank order. */
int pc_wireup_allgather(pc_wireup_t *w, const void *mine, size_t len, void *all);
int pc_wireup_barrier(pc_wireup_t *w);
void pc_wireup_fini(pc_wireup_t *w);

#endif
