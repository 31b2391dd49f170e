/*
 * PMIx wireup: the same binary runs under srun --mpi=pmix, prterun or Open
 * MPI's mpirun. Put/Commit/Fence/Get make the allgather.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pmix.h>

#include "pcoll_internal.h"
#include "wireup.h"

static pmix_proc_t myproc;
static uint32_t pmix_seq; /* allgathers of this process, over all its contexts */

static int pmix_allgather(pc_wireup_t *w, const void *mine, size_t len, void *all);
static int pmix_barrier(pc_wireup_t *w);
static void pmix_fini(pc_wireup_t *w);
static const pc_wireup_ops_t pmix_ops = {"pmix", pmix_allgather, pmix_barrier, pmix_fini};

/* PMIx_Init without a server prints nothing useful and fails: look at the
 * launcher's environment first. */
int pc_wireup_pmix_present(void)
{
	return getenv("PMIX_NAMESPACE") || getenv("PMIX_SERVER_URI41") ||
	       getenv("PMIX_SERVER_URI4") || getenv("PMIX_SERVER_URI3") ||
	       getenv("PMIX_SERVER_URI2") || getenv("PMIX_SERVER_URI21");
}

#include <stdatomic.h>

static _Atomic(pc_wireup_t *) events_to; /* PMIx handlers are process-wide */

/* A process of the job terminated or aborted: tell the context at once, so
 * that blocked calls fail within milliseconds instead of at the timeout. */
static void on_proc_event(size_t id, pmix_status_t status, const pmix_proc_t *source,
			  pmix_info_t info[], size_t ninfo, pmix_info_t results[], size_t nresults,
			  pmix_event_notification_cbfunc_fn_t cbfunc, void *cbdata)
{
	(void)id, (void)results, (void)nresults;
	long rank = source ? (long)source->rank : -1;
	for (size_t i = 0; i < ninfo; i++)
		if (PMIX_CHECK_KEY(&info[i], PMIX_EVENT_AFFECTED_PROC) &&
		    info[i].value.type == PMIX_PROC && info[i].value.data.proc)
			rank = (long)info[i].value.data.proc->rank;
	pc_wireup_t *w = events_to;
	if (w && w->peer_lost && rank >= 0 && rank < w->size && rank != w->rank)
		w->peer_lost(w->peer_lost_arg, (int)rank, PMIx_Error_string(status));
	if (cbfunc)
		cbfunc(PMIX_EVENT_ACTION_COMPLETE, NULL, 0, NULL, NULL, cbdata);
}

/*
 * One PMIx client per process, for every context it makes: PMIx_Finalize
 * then PMIx_Init again under Open MPI 4.1's server kept serving a peer's old
 * value under a key the new client used again, and left a new key's Get
 * hanging now and then (a test that calls pcoll_init over and over). The
 * client is finalized when the process exits, as the launcher expects.
 */
static int client_ready;

static void client_fini(void)
{
	events_to = NULL;
	PMIx_Finalize(NULL, 0);
}

static pmix_status_t client_init(void)
{
	if (client_ready)
		return PMIX_SUCCESS;
	pmix_status_t rc = PMIx_Init(&myproc, NULL, 0);
	if (rc != PMIX_SUCCESS)
		return rc;
	client_ready = 1;
	atexit(client_fini);
	pmix_status_t codes[] = {PMIX_PROC_TERMINATED, PMIX_ERR_PROC_ABORTED,
				 PMIX_ERR_PROC_TERM_WO_SYNC, PMIX_EVENT_PROC_TERMINATED,
				 PMIX_ERR_PROC_ABORTING};
	/* Open MPI 4.1's server drops these events (it logs BAD-PARAM when a
	 * process dies), SLURM's and PRRTE's deliver them; without them the
	 * same-node liveness check, fabric errors and the timeout still report
	 * a dead process, so a failed registration is not fatal. */
	PMIx_Register_event_handler(codes, sizeof(codes) / sizeof(codes[0]), NULL, 0, on_proc_event,
				    NULL, NULL);
	return PMIX_SUCCESS;
}

int pc_wireup_pmix_init(pc_wireup_t *w, int timeout_ms)
{
	/* Fences follow the no-progress timeout (whole seconds: PMIx counts in
	 * seconds), so a dead or absent process is reported as soon as a stuck
	 * round would be. */
	w->timeout_s = timeout_ms < 0 ? 0 : (timeout_ms + 999) / 1000;
	pmix_status_t rc = client_init();
	if (rc != PMIX_SUCCESS)
		return pc_error(PCOLL_ERR_PMIX, "PMIx_Init: %s", PMIx_Error_string(rc));
	w->ops = &pmix_ops;
	w->rank = (int)myproc.rank;
	snprintf(w->nspace, sizeof(w->nspace), "%s", myproc.nspace);
	pmix_proc_t wild;
	PMIX_LOAD_PROCID(&wild, myproc.nspace, PMIX_RANK_WILDCARD);
	pmix_value_t *val = NULL;
	rc = PMIx_Get(&wild, PMIX_JOB_SIZE, NULL, 0, &val);
	if (rc != PMIX_SUCCESS) {
		w->ops = NULL;
		return pc_error(PCOLL_ERR_PMIX, "PMIx_Get(PMIX_JOB_SIZE): %s",
				PMIx_Error_string(rc));
	}
	w->size = (int)val->data.uint32;
	PMIX_VALUE_RELEASE(val);
	events_to = w;
	return 0;
}

static int fence(pc_wireup_t *w, int collect)
{
	pmix_info_t info[2];
	size_t ninfo = 0;
	bool yes = true;
	int t = w->timeout_s;
	PMIX_INFO_CONSTRUCT(&info[0]);
	PMIX_INFO_CONSTRUCT(&info[1]);
	if (collect)
		PMIX_INFO_LOAD(&info[ninfo++], PMIX_COLLECT_DATA, &yes, PMIX_BOOL);
	if (t > 0)
		PMIX_INFO_LOAD(&info[ninfo++], PMIX_TIMEOUT, &t, PMIX_INT);
	pmix_proc_t wild;
	PMIX_LOAD_PROCID(&wild, myproc.nspace, PMIX_RANK_WILDCARD);
	pmix_status_t rc = PMIx_Fence(&wild, 1, ninfo ? info : NULL, ninfo);
	for (size_t i = 0; i < ninfo; i++)
		PMIX_INFO_DESTRUCT(&info[i]);
	if (rc == PMIX_ERR_TIMEOUT)
		return pc_error(PCOLL_ERR_TIMEOUT,
				"PMIx_Fence timed out after %d s: a process did not take part", t);
	if (rc != PMIX_SUCCESS)
		return pc_error(PCOLL_ERR_PMIX, "PMIx_Fence: %s", PMIx_Error_string(rc));
	return 0;
}

/*
 * A fresh key per allgather: PMIx clients keep serving a peer's old value
 * under a reused key (a ring of four keys read with PMIX_GET_REFRESH_CACHE
 * passed at P = 2 and returned stale values at P = 3). The value carries its
 * allgather's sequence number all the same, so a stale one is caught. The
 * cost: the PMIx datastore grows by one key per create and destroy.
 */
static int pmix_allgather(pc_wireup_t *w, const void *mine, size_t len, void *all)
{
	char key[PMIX_MAX_KEYLEN + 1];
	/* Process-wide, not per context: the client (and its cache of peers'
	 * values) outlives a context, so keys must not repeat. */
	(void)w;
	uint32_t seq = pmix_seq++;
	snprintf(key, sizeof(key), "pcoll.%u", seq);
	char *buf = malloc(sizeof(seq) + len);
	if (!buf)
		return pc_error(PCOLL_ERR_NOMEM, "PMIx allgather: out of memory");
	memcpy(buf, &seq, sizeof(seq));
	memcpy(buf + sizeof(seq), mine, len);
	pmix_value_t v;
	PMIX_VALUE_CONSTRUCT(&v);
	v.type = PMIX_BYTE_OBJECT;
	v.data.bo.bytes = buf;
	v.data.bo.size = sizeof(seq) + len;
	pmix_status_t rc = PMIx_Put(PMIX_GLOBAL, key, &v);
	free(buf);
	if (rc != PMIX_SUCCESS)
		return pc_error(PCOLL_ERR_PMIX, "PMIx_Put: %s", PMIx_Error_string(rc));
	if ((rc = PMIx_Commit()) != PMIX_SUCCESS)
		return pc_error(PCOLL_ERR_PMIX, "PMIx_Commit: %s", PMIx_Error_string(rc));
	int e = fence(w, 1);
	if (e)
		return e;
	for (int r = 0; r < w->size; r++) {
		pmix_proc_t p;
		PMIX_LOAD_PROCID(&p, myproc.nspace, (pmix_rank_t)r);
		pmix_value_t *out = NULL;
		rc = PMIx_Get(&p, key, NULL, 0, &out);
		if (rc != PMIX_SUCCESS)
			return pc_error(PCOLL_ERR_PMIX, "PMIx_Get(%s) from rank %d: %s", key, r,
					PMIx_Error_string(rc));
		size_t got = out->type == PMIX_BYTE_OBJECT ? out->data.bo.size : 0;
		uint32_t theirs = 0;
		if (got == sizeof(seq) + len)
			memcpy(&theirs, out->data.bo.bytes, sizeof(theirs));
		if (got != sizeof(seq) + len || theirs != seq) {
			PMIX_VALUE_RELEASE(out);
			return pc_error(
			    got == sizeof(seq) + len ? PCOLL_ERR_INTERNAL : PCOLL_ERR_MISMATCH,
			    "rank %d published %zu bytes of allgather %u under %s, expected "
			    "%zu of allgather %u",
			    r, got > sizeof(seq) ? got - sizeof(seq) : 0, theirs, key, len, seq);
		}
		memcpy((char *)all + (size_t)r * len, out->data.bo.bytes + sizeof(seq), len);
		PMIX_VALUE_RELEASE(out);
	}
	return 0;
}

static int pmix_barrier(pc_wireup_t *w)
{
	return fence(w, 0);
}

static void pmix_fini(pc_wireup_t *w)
{
	(void)w;
	events_to = NULL; /* the client stays for the next context (client_init) */
}
