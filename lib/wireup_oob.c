/*
 * Wireup by the host library: its allgather (MPI_Allgather, a framework's
 * process group) carries what PMIx would. Fences are allgathers of nothing
 * but a byte, which also lets a process that failed say so.
 */
#include <stdlib.h>
#include <string.h>

#include "pcoll_internal.h"
#include "wireup.h"

static int oob_allgather(pc_wireup_t *w, const void *mine, size_t len, void *all)
{
	int rc = w->oob.allgather(mine, all, len, w->oob.arg);
	if (rc)
		return pc_error(PCOLL_ERR_WIREUP,
				"rank %d: the host's oob allgather of %zu bytes returned %d",
				w->rank, len, rc);
	return 0;
}

static int oob_barrier(pc_wireup_t *w)
{
	unsigned char me = 1;
	unsigned char *all = malloc((size_t)w->size);
	if (!all)
		return pc_error(PCOLL_ERR_NOMEM, "oob barrier: out of memory");
	int rc = oob_allgather(w, &me, 1, all);
	free(all);
	return rc;
}

static void oob_fini(pc_wireup_t *w)
{
	(void)w;
}

static const pc_wireup_ops_t oob_ops = {"oob", oob_allgather, oob_barrier, oob_fini};

int pc_wireup_oob_init(pc_wireup_t *w, const pcoll_oob_t *oob)
{
	if (oob->size < 1 || oob->rank < 0 || oob->rank >= oob->size)
		return pc_error(PCOLL_ERR_INVAL, "cfg.oob: rank %d is not in [0, size %d)",
				oob->rank, oob->size);
	w->ops = &oob_ops;
	w->oob = *oob;
	w->rank = oob->rank;
	w->size = oob->size;
	/* Every process must agree on the size: a host passing its world size
	 * on one rank and a subgroup's on another would otherwise hang. */
	int *sizes = malloc(sizeof(int) * (size_t)oob->size);
	if (!sizes)
		return pc_error(PCOLL_ERR_NOMEM, "cfg.oob: out of memory");
	int rc = oob_allgather(w, &oob->size, sizeof(int), sizes);
	for (int r = 0; !rc && r < oob->size; r++)
		if (sizes[r] != oob->size)
			rc = pc_error(PCOLL_ERR_MISMATCH,
				      "cfg.oob: rank %d says size %d, rank %d says %d", r, sizes[r],
				      oob->rank, oob->size);
	free(sizes);
	if (rc)
		w->ops = NULL;
	return rc;
}
