/*
 * Wireup: rank, size and an allgather of small blobs, behind one interface
 * with three implementations (like SOS's runtime layer): PMIx (the launcher's
 * server), oob (the host library's allgather, cfg.oob) and singleton (a
 * process started alone). The engine never knows which one it has.
 */
#ifndef PCOLL_WIREUP_H
#define PCOLL_WIREUP_H

#include <stddef.h>

#include "pcoll.h"

typedef struct pc_wireup pc_wireup_t;

typedef struct pc_wireup_ops {
	const char *name; /* "pmix", "oob", "singleton": pcoll_ctx_query reports it */
	/* Every process contributes len bytes; all receives size*len bytes in rank order. */
	int (*allgather)(pc_wireup_t *w, const void *mine, size_t len, void *all);
	int (*barrier)(pc_wireup_t *w);
	void (*fini)(pc_wireup_t *w);
} pc_wireup_ops_t;

struct pc_wireup {
	const pc_wireup_ops_t *ops;
	int rank, size;
	int timeout_s; /* PMIx fences give up after this (0: none) */
	unsigned seq;  /* PMIx keys are unique per allgather: the calls are collective */
	char nspace[256];
	pcoll_oob_t oob;
	/* Told when the wireup learns that a process is gone (PMIx events);
	 * called from the wireup's own thread. */
	void (*peer_lost)(void *arg, int rank, const char *why);
	void *peer_lost_arg;
};

/* Choose and start the wireup: cfg.oob when its allgather is set, else PMIx
 * when a server is there, else singleton -- unless the environment says the
 * job has more processes (then PCOLL_ERR_WIREUP, naming the variable). */
int pc_wireup_init(pc_wireup_t *w, const pcoll_oob_t *oob, int timeout_ms);

static inline int pc_wireup_allgather(pc_wireup_t *w, const void *mine, size_t len, void *all)
{
	return w->ops->allgather(w, mine, len, all);
}

static inline int pc_wireup_barrier(pc_wireup_t *w)
{
	return w->ops->barrier(w);
}

static inline void pc_wireup_fini(pc_wireup_t *w)
{
	if (w->ops)
		w->ops->fini(w);
	w->ops = NULL;
}

/* The implementations, for pc_wireup_init. */
int pc_wireup_pmix_present(void);
int pc_wireup_pmix_init(pc_wireup_t *w, int timeout_ms);
int pc_wireup_oob_init(pc_wireup_t *w, const pcoll_oob_t *oob);
void pc_wireup_singleton_init(pc_wireup_t *w);

#endif
