/* Teams: split, destroy, the rank queries, and failure bookkeeping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcoll_internal.h"

static int team_table_add(pcoll_ctx_t *ctx, pcoll_team_t *t)
{
	uint32_t id = 0;
	while (id < ctx->nteams_cap && ctx->teams[id])
		id++;
	if (id == ctx->nteams_cap) {
		uint32_t ncap = ctx->nteams_cap ? 2 * ctx->nteams_cap : 4;
		pcoll_team_t **n = realloc(ctx->teams, ncap * sizeof(*n));
		if (!n)
			return pc_error(PCOLL_ERR_NOMEM, "out of memory");
		memset(n + ctx->nteams_cap, 0, (ncap - ctx->nteams_cap) * sizeof(*n));
		ctx->teams = n;
		ctx->nteams_cap = ncap;
	}
	if (id >= PC_TEAM_ID_BIT)
		return pc_error(PCOLL_ERR_NOMEM, "more than 2^23 live teams");
	t->id = id;
	ctx->teams[id] = t;
	return 0;
}

/* Under lock. */
int pc_team_alloc(pcoll_ctx_t *ctx, int size, int rank, pcoll_team_t **out, pc_tp_rkey_t *xkey)
{
	*out = NULL;
	pcoll_team_t *t = calloc(1, sizeof(*t));
	if (!t)
		return pc_error(PCOLL_ERR_NOMEM, "team: out of memory");
	t->ctx = ctx;
	t->size = size;
	t->rank = rank;
	t->id = UINT32_MAX;
	t->members = calloc((size_t)size, sizeof(int));
	t->peer_ids = calloc((size_t)size, sizeof(uint32_t));
	t->xkeys = calloc((size_t)size, sizeof(pc_tp_rkey_t));
	t->xlen = pc_team_xlen(size);
	int rc = 0;
	if (!t->members || !t->peer_ids || !t->xkeys ||
	    posix_memalign((void **)&t->xmem, 4096, t->xlen))
		rc = pc_error(PCOLL_ERR_NOMEM, "team of %d: out of memory", size);
	if (!rc) {
		memset(t->members, 0xff, (size_t)size * sizeof(int)); /* nobody yet */
		memset(t->xmem, 0, t->xlen);
		pc_team_layout(t);
		rc = pc_tp_mr_reg(ctx->tp, t->xmem, t->xlen, ++ctx->next_mr_key, &t->xmr, xkey);
	}
	if (!rc)
		rc = team_table_add(ctx, t);
	if (rc) {
		pc_team_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void pc_team_layout(pcoll_team_t *t)
{
	t->xflags = (volatile uint64_t *)t->xmem;
	t->notices = (volatile uint64_t *)(t->xmem + pc_team_notice_off(t));
	t->bells = (volatile uint64_t *)(t->xmem + pc_team_bell_off(t));
}

void pc_team_release_fabric(pcoll_team_t *t)
{
	pc_tp_forget(t->ctx->tp, &t->tx_done);
	pc_tp_forget(t->ctx->tp, &t->shrink_tx_done);
	pc_team_reap(t, t->retired);
	pc_tp_mr_dereg(t->xmr);
	t->xmr = NULL;
}

/* Under lock (or when the context is going away). */
void pc_team_free(pcoll_team_t *t)
{
	if (!t)
		return;
	pcoll_ctx_t *ctx = t->ctx;
	if (t->id < ctx->nteams_cap && ctx->teams[t->id] == t)
		ctx->teams[t->id] = NULL;
	if (ctx->tp)
		pc_team_release_fabric(t);
	free(t->xmem);
	free(t->members);
	free(t->peer_ids);
	free(t->xkeys);
	free(t->shrink_flag);
	free(t);
}

void pc_team_free_parked(pcoll_ctx_t *ctx)
{
	for (uint32_t i = 0; i < ctx->nteams_cap; i++)
		if (ctx->teams[i] && ctx->teams[i]->parked)
			pc_team_free(ctx->teams[i]);
}

/*
 * Free the value regions retired before `upto` was the list head. Called
 * after a completed exchange on the team: every member had returned from the
 * destroys that retired them before it entered the exchange, so no engine
 * anywhere still writes into them. At most one generation stays retired.
 */
void pc_team_reap(pcoll_team_t *t, pc_retired_t *upto)
{
	if (!upto)
		return;
	pc_retired_t **pp = &t->retired;
	while (*pp && *pp != upto)
		pp = &(*pp)->next;
	pc_retired_t *r = *pp;
	*pp = NULL;
	while (r) {
		pc_retired_t *n = r->next;
		pc_tp_mr_dereg(r->mr);
		free(r->mem);
		free(r);
		r = n;
	}
}

int pc_team_failed(const pcoll_team_t *t, const char **msg)
{
	const pcoll_ctx_t *ctx = t->ctx;
	if (msg)
		*msg = t->error ? t->errmsg : ctx->errmsg;
	return t->error ? t->error : ctx->error;
}

int pc_team_find(const pcoll_team_t *t, int r)
{
	for (int i = 0; i < t->size; i++)
		if (t->members[i] == r)
			return i;
	return -1;
}

void pc_team_member_gone(pcoll_ctx_t *ctx, int r, const char *why)
{
	for (uint32_t i = 0; i < ctx->nteams_cap; i++) {
		pcoll_team_t *t = ctx->teams[i];
		int tr = t ? pc_team_find(t, r) : -1;
		if (tr < 0)
			continue;
		size_t n = strlen(t->errmsg);
		if (t->error == PCOLL_ERR_PEER) {
			/* Name every member gone, not only the first one seen. */
			if (n + 48 < sizeof(t->errmsg))
				snprintf(t->errmsg + n, sizeof(t->errmsg) - n,
					 "; job rank %d (team rank %d) too", r, tr);
			continue;
		}
		if (t->error && !t->unreachable)
			continue;
		/* A member found unreachable and now gone was dying: say so. */
		t->error = PCOLL_ERR_PEER;
		t->unreachable = 0;
		snprintf(t->errmsg, sizeof(t->errmsg),
			 "job rank %d (team rank %d of %d) is gone: %s", r, tr, t->size, why);
	}
}

void pc_team_member_unreachable(pcoll_ctx_t *ctx, int r, const char *why)
{
	for (uint32_t i = 0; i < ctx->nteams_cap; i++) {
		pcoll_team_t *t = ctx->teams[i];
		int tr = t ? pc_team_find(t, r) : -1;
		if (tr < 0 || t->error)
			continue;
		t->error = PCOLL_ERR_FABRIC;
		t->unreachable = 1;
		snprintf(t->errmsg, sizeof(t->errmsg),
			 "job rank %d (team rank %d of %d) is still running, but %s", r, tr,
			 t->size, why);
	}
}

int pcoll_team_rank(const pcoll_team_t *t)
{
	return t ? t->rank : PCOLL_ERR_INVAL;
}

int pcoll_team_size(const pcoll_team_t *t)
{
	return t ? t->size : PCOLL_ERR_INVAL;
}

int pcoll_team_job_rank(const pcoll_team_t *t, int r)
{
	if (!t || r < 0 || r >= t->size)
		return PCOLL_ERR_INVAL;
	return t->members[r];
}

/* ---- split --------------------------------------------------------- */

typedef struct {
	int32_t color, key, err;
} split_want_t;

typedef struct {
	uint32_t id;
	int32_t err;
	pc_tp_rkey_t xkey;
} split_keys_t;

typedef struct {
	int key, rank;
} member_t;

static int by_key_then_rank(const void *a, const void *b)
{
	const member_t *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

int pcoll_team_split(pcoll_ctx_t *ctx, int color, int key, pcoll_team_t **out)
{
	pc_error_clear();
	if (!ctx || !out)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_team_split: %s is NULL",
				ctx ? "team pointer" : "ctx");
	*out = NULL;
	if (ctx->finalized)
		return pc_error(PCOLL_ERR_FINALIZED, "pcoll_team_split: context finalized");
	pcoll_team_t *w = ctx->world;
	int P = ctx->size, rc;
	/* Bad arguments take part in the exchange, so that every process learns
	 * of them instead of waiting for this one. */
	split_want_t mine = {color, key, 0};
	if (color < 0 && color != PCOLL_UNDEFINED)
		mine.err = pc_error(PCOLL_ERR_INVAL,
				    "pcoll_team_split: job rank %d passed color %d: expected >= 0 "
				    "or PCOLL_UNDEFINED",
				    ctx->rank, color);
	split_want_t *want = calloc((size_t)P, sizeof(*want));
	member_t *m = calloc((size_t)P, sizeof(*m));
	split_keys_t *keys = calloc((size_t)P, sizeof(*keys));
	if (!want || !m || !keys) {
		rc = pc_error(PCOLL_ERR_NOMEM, "pcoll_team_split: out of memory");
		goto out; /* the others time out: nothing better to do without memory */
	}
	rc = pc_team_allgather(w, PC_X_SPLIT, &mine, sizeof(mine), want);
	if (!rc && mine.err)
		rc = pc_error(mine.err,
			      "pcoll_team_split: job rank %d passed color %d: expected "
			      "an integer >= 0 or PCOLL_UNDEFINED",
			      ctx->rank, color);
	for (int r = 0; !rc && r < P; r++)
		if (want[r].err)
			rc =
			    pc_error(PCOLL_ERR_MISMATCH,
				     "pcoll_team_split: job rank %d passed color %d: expected >= 0 "
				     "or PCOLL_UNDEFINED",
				     r, want[r].color);
	if (rc)
		goto out;
	int n = 0, me = -1;
	for (int r = 0; r < P; r++)
		if (color != PCOLL_UNDEFINED && want[r].color == color)
			m[n++] = (member_t){want[r].key, r};
	qsort(m, (size_t)n, sizeof(*m), by_key_then_rank);
	for (int i = 0; i < n; i++)
		if (m[i].rank == ctx->rank)
			me = i;
	pcoll_team_t *t = NULL;
	split_keys_t k = {0};
	if (color != PCOLL_UNDEFINED) {
		pthread_mutex_lock(&ctx->lock);
		k.err = pc_team_alloc(ctx, n, me, &t, &k.xkey);
		pthread_mutex_unlock(&ctx->lock);
		if (t)
			k.id = t->id;
	}
	/* Every process takes part in the second exchange too (the keys of the
	 * new teams' regions), so that a failure anywhere is everyone's. */
	rc = pc_team_allgather(w, PC_X_SPLIT, &k, sizeof(k), keys);
	if (!rc && k.err)
		rc = k.err;
	for (int r = 0; !rc && r < P; r++)
		if (keys[r].err)
			rc = pc_error(PCOLL_ERR_MISMATCH,
				      "pcoll_team_split: job rank %d could not make its team (%s)",
				      r, pcoll_strerror(keys[r].err));
	if (!rc && t) {
		for (int i = 0; i < n; i++) {
			t->members[i] = m[i].rank;
			t->peer_ids[i] = keys[m[i].rank].id;
			t->xkeys[i] = keys[m[i].rank].xkey;
		}
		*out = t;
		t = NULL;
		pthread_mutex_lock(&ctx->lock);
		ctx->live_teams++;
		pthread_mutex_unlock(&ctx->lock);
	}
	if (t) {
		pthread_mutex_lock(&ctx->lock);
		pc_team_free(t);
		pthread_mutex_unlock(&ctx->lock);
	}
out:
	free(want);
	free(m);
	free(keys);
	return rc;
}

/* ---- destroy ------------------------------------------------------- */

int pcoll_team_destroy(pcoll_team_t *t)
{
	pc_error_clear();
	if (!t)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_team_destroy: team is NULL");
	pcoll_ctx_t *ctx = t->ctx;
	if (t == ctx->world)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_team_destroy: not a team of "
						 "pcoll_team_split");
	pthread_mutex_lock(&ctx->lock);
	int open = t->ncolls, failed = pc_team_failed(t, NULL) || ctx->finalized;
	pthread_mutex_unlock(&ctx->lock);
	if (open)
		return pc_error(PCOLL_ERR_STATE,
				"pcoll_team_destroy: %d collectives are still open on the team "
				"(pcoll_destroy them first)",
				open);
	/* Collective, so that nobody still writes into the region we free (and
	 * the retired value regions of its collectives can go). After a failure
	 * there is nobody to meet. */
	int rc = failed ? 0 : pc_team_barrier(t, PC_X_TEAM_FREE);
	pthread_mutex_lock(&ctx->lock);
	/* Survivors of a shrink of this team may still be finishing the
	 * agreement, and write into its shrink slots: a region gone would turn
	 * those writes into errors (on tcp: this process taken for dead), and a
	 * reused id into another team's flags. Keep it until the context goes. */
	if (t->shrink_epoch && ctx->tp)
		t->parked = 1;
	else
		pc_team_free(t);
	int last = --ctx->live_teams == 0 && ctx->live_colls == 0 && ctx->finalized;
	pthread_mutex_unlock(&ctx->lock);
	if (last)
		pc_ctx_free(ctx);
	return rc;
}
