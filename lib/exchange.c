/*
 * A team's own allgather over the fabric. Every member has a registered
 * exchange region with two slots (by parity of the exchange's sequence
 * number) per sender; a sender writes its header and payload into its slot
 * at every other member with a flagged put, and the exchange is complete
 * once every member's flag shows it. Two parities suffice: a member can be
 * at most one exchange ahead of another, since finishing exchange n needs
 * everyone's payload of n, which each sends only after finishing n-1.
 *
 * This replaces a PMIx fence per create and destroy (about 50 ms at P = 8
 * here, and slower with every key the PMIx datastore keeps): the context's
 * wireup runs once, at init, and everything after it is the team's business.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcoll_internal.h"

typedef struct {
	uint64_t seq;
	uint32_t tag;
	uint32_t len;
} xhdr_t;

static const char *tag_name(uint32_t tag)
{
	static const char *n[] = {"?",
				  "pcoll_allreduce_create",
				  "pcoll_destroy",
				  "pcoll_team_split",
				  "pcoll_team_destroy",
				  "pcoll_team_shrink"};
	return tag < PC_X_TAG_COUNT ? n[tag] : "?";
}

/*
 * The region of a team of n: flags [4][n] (exchange parities 0 and 1, shrink
 * parities 0 and 1), slots [4][n], then our two send slots (exchange,
 * shrink), then the failure notices [n], then the doorbells [PC_BELLS].
 * Every member computes peers' offsets with the same n.
 */
size_t pc_team_slot_off(const pcoll_team_t *t, int area, int sender)
{
	return PC_ALIGN64(PC_X_AREAS * (size_t)t->size * 8) +
	       ((size_t)area * (size_t)t->size + (size_t)sender) * PC_XCHG_SLOT;
}

static size_t slot_off(const pcoll_team_t *t, uint64_t par, int sender)
{
	return pc_team_slot_off(t, (int)par, sender);
}

size_t pc_team_xlen(int size)
{
	size_t n = PC_ALIGN64(PC_ALIGN64(PC_X_AREAS * (size_t)size * 8) +
			      (PC_X_AREAS * (size_t)size + 2) * PC_XCHG_SLOT + (size_t)size * 8) +
		   PC_BELLS * 8;
	return (n + 4095) & ~(size_t)4095;
}

size_t pc_team_notice_off(const pcoll_team_t *t)
{
	return pc_team_slot_off(t, PC_X_AREAS, 2); /* after the two send slots */
}

size_t pc_team_bell_off(const pcoll_team_t *t)
{
	return PC_ALIGN64(pc_team_notice_off(t) + (size_t)t->size * 8);
}

static char *tx_slot(pcoll_team_t *t)
{
	return t->xmem + pc_team_slot_off(t, PC_X_AREAS, 0);
}

void pc_team_notify(pcoll_ctx_t *ctx, uint32_t id, int value, uint64_t idx)
{
	if (id >= ctx->nteams_cap || !ctx->teams[id])
		return;
	pcoll_team_t *t = ctx->teams[id];
	if (value)
		pc_notice_scan(ctx);
	else if (idx < PC_X_AREAS * (uint64_t)t->size)
		__atomic_add_fetch(&t->xflags[idx], 1, __ATOMIC_RELEASE);
}

/* ---- waiting, through the engine (which keeps every collective moving) */

typedef struct {
	pcoll_team_t *t;
	uint64_t seq;
	uint32_t tag;
	int stage;	/* 0: our previous sends complete; 1: every payload arrived;
			 * 2: a turn of the engine (until `until`) */
	uint64_t until; /* stage 2 */
} xwait_t;

static int arrived(const pcoll_team_t *t, uint64_t seq, int r)
{
	uint64_t idx = (seq & 1) * (uint64_t)t->size + (uint64_t)r;
	return pc_remote_load(&t->xflags[idx]) >= (seq + 1) / 2;
}

static int x_done(void *arg)
{
	xwait_t *x = arg;
	pcoll_team_t *t = x->t;
	if (x->stage == 0)
		return t->tx_done == t->tx_posted;
	if (x->stage == 2)
		return pc_now_ns() >= x->until;
	for (int r = 0; r < t->size; r++)
		if (r != t->rank && !arrived(t, x->seq, r))
			return 0;
	return 1;
}

static int x_failed(void *arg, const char **msg)
{
	return pc_team_failed(((xwait_t *)arg)->t, msg);
}

static int x_timed_out(void *arg, int timeout_ms)
{
	xwait_t *x = arg;
	pcoll_team_t *t = x->t;
	char who[128] = "our own sends did not complete";
	size_t n = 0;
	for (int r = 0; x->stage == 1 && r < t->size && n + 32 < sizeof(who); r++)
		if (r != t->rank && !arrived(t, x->seq, r))
			n += (size_t)snprintf(who + n, sizeof(who) - n,
					      "%steam rank %d (job rank %d)",
					      n ? ", " : "waits for ", r, t->members[r]);
	t->error = PCOLL_ERR_TIMEOUT;
	snprintf(t->errmsg, sizeof(t->errmsg),
		 "team rank %d (job rank %d): %s (exchange %llu of the team) got no answer for "
		 "%d ms: %s",
		 t->rank, t->ctx->rank, tag_name(x->tag), (unsigned long long)x->seq, timeout_ms,
		 who);
	return pc_error(t->error, "%s", t->errmsg);
}

static int xwait(xwait_t *x)
{
	pc_wait_t w = {.done = x_done, .arg = x, .failed = x_failed, .timed_out = x_timed_out};
	return pc_engine_wait_on(x->t->ctx, &w);
}

static int team_fail(pcoll_team_t *t, int rc)
{
	if (rc < 0 && !t->error) {
		t->error = rc;
		snprintf(t->errmsg, sizeof(t->errmsg), "%s", pcoll_last_error());
	}
	return rc;
}

/*
 * Our slot to every other member. A put whose connection is still being set
 * up is passed over and retried after a turn of the engine, so that a team's
 * first exchange over a fresh fabric sets up its P - 1 connections at once:
 * posted one after another, each waiting for its handshake (and everyone
 * starting at member 0), rxm's own connection manager did not get through
 * the first create of P = 64 over four hosts in 120 s.
 */
static int post_all(pcoll_team_t *t, xwait_t *x, const struct iovec *iov)
{
	pcoll_ctx_t *ctx = t->ctx;
	uint64_t par = x->seq & 1, idx = par * (uint64_t)t->size + (uint64_t)t->rank;
	uint64_t t0 = pc_now_ns();
	unsigned char *posted = calloc((size_t)t->size, 1);
	if (!posted)
		return team_fail(t, pc_error(PCOLL_ERR_NOMEM, "team exchange: out of memory"));
	int left = t->size - 1, rc = 0;
	for (;;) {
		pthread_mutex_lock(&ctx->lock);
		for (int i = 1; i < t->size && !rc; i++) {
			int r = (t->rank + i) % t->size;
			if (posted[r])
				continue;
			t->tx_posted++;
			rc = pc_tp_put_try(
			    ctx->tp, t->members[r], iov, 1, t->xmr, &t->xkeys[r],
			    slot_off(t, par, t->rank), idx * 8, (x->seq + 1) / 2,
			    pc_cq_encode(PC_TEAM_ID_BIT | t->peer_ids[r], PC_CQ_KIND_COUNT, idx),
			    &t->tx_done);
			if (rc) {
				t->tx_posted--;
				if (rc == PC_TP_AGAIN)
					rc = 0;
				else
					team_fail(t, rc);
				continue;
			}
			posted[r] = 1;
			left--;
		}
		pthread_mutex_unlock(&ctx->lock);
		if (rc || !left)
			break;
		int ms = ctx->cfg.timeout_ms;
		if (ms >= 0 && pc_now_ns() - t0 > (uint64_t)ms * 1000000ULL) {
			int r = 0;
			while (r < t->size && (r == t->rank || posted[r]))
				r++;
			rc = team_fail(
			    t, pc_error(PCOLL_ERR_TIMEOUT,
					"team rank %d (job rank %d): %s (exchange %llu of "
					"the team) could not reach %d of its members in "
					"%d ms, team rank %d (job rank %d) among them",
					t->rank, ctx->rank, tag_name(x->tag),
					(unsigned long long)x->seq, left, ms, r, t->members[r]));
			break;
		}
		xwait_t turn = *x;
		turn.stage = 2;
		turn.until = pc_now_ns() + 200000;
		if ((rc = xwait(&turn)))
			break;
	}
	free(posted);
	return rc;
}

int pc_team_allgather(pcoll_team_t *t, int tag, const void *mine, size_t len, void *all)
{
	pcoll_ctx_t *ctx = t->ctx;
	if (len > PC_XCHG_MAX)
		return pc_error(PCOLL_ERR_INTERNAL, "team exchange of %zu bytes (at most %d)", len,
				PC_XCHG_MAX);
	memcpy((char *)all + (size_t)t->rank * len, mine, len);
	if (t->size == 1) {
		t->xseq++;
		return 0;
	}
	xwait_t x = {.t = t, .seq = t->xseq + 1, .tag = (uint32_t)tag, .stage = 0};
	int rc = xwait(&x); /* the send slot is ours again */
	if (rc)
		return rc;
	uint64_t par = x.seq & 1;
	xhdr_t h = {.seq = x.seq, .tag = (uint32_t)tag, .len = (uint32_t)len};
	char *tx = tx_slot(t);
	memcpy(tx, &h, sizeof(h));
	memcpy(tx + sizeof(h), mine, len);
	struct iovec iov = {.iov_base = tx, .iov_len = sizeof(h) + len};
	if ((rc = post_all(t, &x, &iov)))
		return rc;
	x.stage = 1;
	if ((rc = xwait(&x)))
		return rc;
	pthread_mutex_lock(&ctx->lock);
	for (int r = 0; r < t->size && !rc; r++) {
		if (r == t->rank)
			continue;
		const char *slot = t->xmem + slot_off(t, par, r);
		xhdr_t theirs;
		memcpy(&theirs, slot, sizeof(theirs));
		if (theirs.seq != x.seq)
			rc = pc_error(PCOLL_ERR_INTERNAL,
				      "team exchange %llu: team rank %d (job rank %d) wrote its "
				      "exchange %llu",
				      (unsigned long long)x.seq, r, t->members[r],
				      (unsigned long long)theirs.seq);
		else if (theirs.tag != (uint32_t)tag || theirs.len != len)
			rc =
			    pc_error(PCOLL_ERR_MISMATCH,
				     "team rank %d (job rank %d) called %s where team rank %d (job "
				     "rank %d) called %s: team-collective calls must come in the "
				     "same order on every member",
				     r, t->members[r], tag_name(theirs.tag), t->rank, ctx->rank,
				     tag_name((uint32_t)tag));
		else
			memcpy((char *)all + (size_t)r * len, slot + sizeof(theirs), len);
	}
	t->xseq = x.seq;
	/* Calls out of order leave the members' exchanges out of step for
	 * good: the team is unusable, and says so from now on. */
	if (rc)
		team_fail(t, rc);
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

int pc_team_barrier(pcoll_team_t *t, int tag)
{
	char none[1] = {0};
	return pc_team_allgather(t, tag, none, 0, none);
}
