/*
 * The progress engine: activations, quorum and flush bookkeeping, joining
 * rounds, running their schedules, completing them. Everything here runs
 * under ctx->lock, driven either by a caller blocked in pcoll_step/flush
 * (the latency-critical path: it never waits for a thread to wake) or by the
 * progress thread while the caller computes. The thread sleeps when idle: in
 * poll() on the fabric's fd where there is one, otherwise with an
 * exponential backoff of nanosleep()s (shm), so it steals no core.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "activation.h"
#include "pcoll_internal.h"
#include "trace.h"

/*
 * ---- the active queue, in the manner of UCC's progress queue: the engine
 * visits only the collectives that have work, so a context with many idle
 * collectives costs the busy ones nothing. A collective enters the queue when
 * it gets work -- create finished, a step or flush posted, a peer's write
 * naming it (remote CQ data, or its doorbell on the counter path) -- and
 * leaves it once it has none (has_work).
 */
static void enqueue(pcoll_coll_t *c)
{
	pcoll_ctx_t *ctx = c->ctx;
	if (c->active || !c->ready) /* not ready: create activates it */
		return;
	c->active = 1;
	c->active_next = NULL;
	c->active_prev = ctx->active_tail;
	if (ctx->active_tail)
		ctx->active_tail->active_next = c;
	else
		ctx->active_head = c;
	ctx->active_tail = c;
}

void pc_engine_forget(pcoll_coll_t *c)
{
	pcoll_ctx_t *ctx = c->ctx;
	if (!c->active)
		return;
	if (c->active_prev)
		c->active_prev->active_next = c->active_next;
	else
		ctx->active_head = c->active_next;
	if (c->active_next)
		c->active_next->active_prev = c->active_prev;
	else
		ctx->active_tail = c->active_prev;
	c->active = 0;
	c->active_next = c->active_prev = NULL;
}

void pc_engine_activate(pcoll_coll_t *c)
{
	c->woken = 1; /* looked at at least once */
	enqueue(c);
}

/*
 * Whether the engine must keep visiting c: what it may move there without a
 * user call or a write that names it. A step or a flush posted, a round in
 * flight or triggered and not yet joined (held too: the hold is lifted by a
 * user call that does not come through the engine), sends not yet complete
 * (their completions name no collective). A peer's write that may move an
 * idle collective names it -- by its remote CQ data (pc_coll_notify), or on
 * the counter path by its doorbell (scan_bells) -- so an idle one, nothing
 * posted, triggered or in flight, leaves the queue.
 */
static int has_work(const pcoll_coll_t *c)
{
	if (c->error || c->team->error || c->dead || !c->ready)
		return 0; /* never moves again (or not yet: create activates it) */
	if (c->woken || c->step_posted || c->flush_posted || c->rs.flushed || c->rs.in_round ||
	    c->tx_done != c->tx_posted || c->rs.triggered > c->rs.completed || c->nlazy)
		return 1;
	if (!c->ctx->notify_cntr || c->rs.mode == PCOLL_SYNC || c->bells)
		return 0;
	/* The counter path without a doorbell (PCOLL_DOORBELLS=0): a write
	 * names nothing, so a collective that a peer's write may move (a round
	 * triggered by another process, unless the staleness bound would hold
	 * it anyway; the quorum root, which counts the others' arrivals) stays
	 * in the queue while it waits. */
	return (c->rs.mode == PCOLL_QUORUM && c->rank == 0) ||
	       !pc_rs_holds(&c->rs, c->rs.completed + 1);
}

/*
 * ---- doorbells: the counter path's way of naming a collective (team.h,
 * PC_BELLS). Rung after each write that may move an idle collective, at each
 * peer that relies on its bell (create told us: c->peer_bells), so that
 * FI_ORDER_RMA_WAW, which the counter path asks for, makes that write
 * visible first. Sync needs none: a peer's write never moves a sync
 * collective that its own process has not stepped or flushed.
 */
int pc_engine_ring(pcoll_coll_t *c, int peer)
{
	pcoll_ctx_t *ctx = c->ctx;
	if (!c->peer_bells[peer]) /* CQ data, sync, or that peer's choice */
		return 0;
	pcoll_team_t *w = ctx->world;
	int job = c->team->members[peer];
	/* Unique to this ringing: a new value, whoever rang the bell last. */
	uint64_t v = ((uint64_t)(ctx->rank + 1) << 40) | (++ctx->bell_seq & ((1ULL << 40) - 1));
	size_t off = pc_team_bell_off(w) + (size_t)(c->peer_ids[peer] % PC_BELLS) * 8;
	return pc_tp_put_value(ctx->tp, job, &v, sizeof(v), &w->xkeys[job], off, 0);
}

/* The flag slot of peer's first message to us in a round (-1: it sends us
 * none). */
static int first_wait_slot(const pcoll_coll_t *c, int peer)
{
	for (size_t i = 0; i < c->sched.nops; i++) {
		const pc_op_t *op = &c->sched.ops[i];
		if (op->kind == PC_OP_WAIT && op->peer == peer)
			return (int)op->flag;
	}
	return -1;
}

/* Whether peer's data of round r has landed in slot (its first message to
 * us): it has joined r, and its engine keeps visiting the collective until r
 * completes, which needs our data. */
static int joined(const pcoll_coll_t *c, int slot, uint64_t r)
{
	return slot >= 0 && c->env.flag_ready(c->env.arg, (uint32_t)slot, r);
}

/*
 * A bell that a busy peer does not need costs a write (a fifth of an 8-byte
 * round on shm): most rings wait RING_LATER_NS for the peer's answer -- its
 * data of the round or the round's completion, or for a quorum arrival the
 * root's round -- and are dropped when it comes. Up to PC_LAZY_MAX wait per
 * collective (an initiator's activations of one round, its data ring); one
 * more rings the oldest at once. The collective stays in the queue meanwhile
 * (has_work), so a ring goes out as soon as the engine runs after the delay.
 */
#define RING_LATER_NS 20000ULL

/* The answer: for a quorum arrival, the root's round; otherwise the peer's
 * data of the round, or the round complete here, which takes every member's
 * part (a tree child that is no schedule partner of ours). */
static int ring_answered(const pcoll_coll_t *c, const pc_lazy_t *l)
{
	if (l->arrival)
		return c->rs.triggered >= l->round;
	return c->rs.completed >= l->round || joined(c, l->slot, l->round);
}

/* Ring or drop waiting ring i (fire: ring it), keeping the rest in order. */
static int ring_take(pcoll_coll_t *c, int i, int fire)
{
	int peer = c->lazy[i].peer;
	memmove(&c->lazy[i], &c->lazy[i + 1], (size_t)(c->nlazy - i - 1) * sizeof(c->lazy[0]));
	c->nlazy--;
	return fire ? pc_engine_ring(c, peer) : 0;
}

/* Ring peer about round r (a quorum arrival's if arrival), unless its
 * answer comes first. Not at all when peer has joined r already. */
static int ring_later(pcoll_coll_t *c, int peer, uint64_t r, int arrival)
{
	int slot = arrival ? -1 : first_wait_slot(c, peer);
	if (!c->peer_bells[peer] || joined(c, slot, r))
		return 0;
	int rc = 0;
	for (int i = 0; i < c->nlazy; i++)
		if (c->lazy[i].peer == peer && c->lazy[i].arrival == arrival) {
			/* The newer round's answer answers the older: one ring, by
			 * the older one's deadline. */
			if (r > c->lazy[i].round)
				c->lazy[i].round = r;
			return 0;
		}
	if (c->nlazy == PC_LAZY_MAX)
		rc = ring_take(c, 0, 1);
	pc_lazy_t *l = &c->lazy[c->nlazy++];
	l->peer = peer;
	l->arrival = arrival;
	l->slot = slot;
	l->round = r;
	l->ns = pc_now_ns();
	if (c->nlazy == 1)
		c->lazy_visits = 0;
	return rc;
}

/* At every visit of c while rings wait. The clock only every 8th: a blocked
 * caller visits every 50-100 ns, and a clock read per visit cost a solo
 * 8-byte round 12%; the progress thread's first 8 visits after an event take
 * some 30 us. */
static int ring_due(pcoll_coll_t *c)
{
	for (int i = 0; i < c->nlazy;)
		if (ring_answered(c, &c->lazy[i]))
			ring_take(c, i, 0);
		else
			i++;
	if (!c->nlazy || ++c->lazy_visits & 7)
		return 0;
	uint64_t now = pc_now_ns();
	int rc = 0;
	while (c->nlazy && !rc && now - c->lazy[0].ns >= RING_LATER_NS)
		rc = ring_take(c, 0, 1); /* oldest first */
	return rc;
}

int pc_engine_sent(pcoll_coll_t *c, int peer, uint64_t r)
{
	/* The first data of a round we initiated told this peer of it instead
	 * of an activation: it needs its doorbell too. */
	if (peer != c->bell_peer || r > c->bell_upto || r <= c->bell_rung)
		return 0;
	c->bell_rung = r;
	return ring_later(c, peer, r, 0);
}

/* The collectives whose doorbell changed get a visit. Only once the remote
 * counter has moved (whoever read it: a team exchange may have): it counts a
 * bell's write once the bell holds its value. Bells that share a word
 * (ids PC_BELLS apart) wake each other: a visit too many, never too few. */
static void scan_bells(pcoll_ctx_t *ctx)
{
	pcoll_team_t *w = ctx->world;
	uint64_t cntr = pc_tp_rcntr(ctx->tp);
	if (!ctx->notify_cntr || !w || cntr == ctx->bell_cntr)
		return;
	ctx->bell_cntr = cntr;
	uint32_t n = ctx->ncolls_cap < PC_BELLS ? ctx->ncolls_cap : PC_BELLS;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t b = pc_remote_load(&w->bells[i]);
		if (b == ctx->bell_seen[i])
			continue;
		ctx->bell_seen[i] = b;
		for (uint32_t j = i; j < ctx->ncolls_cap; j += PC_BELLS)
			if (ctx->colls[j]) {
				ctx->colls[j]->woken = 1;
				enqueue(ctx->colls[j]);
			}
	}
}

/* ---- remote CQ data: a flag update from a peer's write */
void pc_coll_notify(void *arg, uint64_t data)
{
	pcoll_ctx_t *ctx = arg;
	uint32_t id = (uint32_t)(data >> 40);
	if (id & PC_TEAM_ID_BIT) {
		pc_team_notify(ctx, id & ~PC_TEAM_ID_BIT, ((data >> 39) & 1) == PC_CQ_KIND_VALUE,
			       data & ((1ULL << 39) - 1));
		return;
	}
	if (id >= ctx->ncolls_cap || !ctx->colls[id])
		return; /* cannot happen: regions live from create's fence to destroy's */
	pcoll_coll_t *c = ctx->colls[id];
	c->woken = 1;
	enqueue(c);
	if (((data >> 39) & 1) == PC_CQ_KIND_COUNT) {
		uint64_t idx = data & ((1ULL << 39) - 1);
		if (idx < 2 * (uint64_t)c->sched.nslots)
			__atomic_add_fetch(&c->flags[idx], 1, __ATOMIC_RELEASE);
	}
	/* Value slots were written in place; the entry only woke us up. */
}

static void sleep_us(unsigned us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

static void fail(pcoll_coll_t *c, int rc)
{
	if (rc < 0 && !c->error) {
		c->error = rc;
		snprintf(c->errmsg, sizeof(c->errmsg), "%s", pcoll_last_error());
	}
}

/* peer is a team rank; the transport knows job ranks, and the CQ data
 * names the collective by the peer's own id of it. */
static int put_value(pcoll_coll_t *c, int peer, const void *v, size_t len, size_t off, uint64_t r,
		     uint64_t arrival)
{
	int rc = pc_tp_put_value(c->ctx->tp, c->team->members[peer], v, len, &c->vkeys[peer], off,
				 pc_cq_encode(c->peer_ids[peer], PC_CQ_KIND_VALUE, 0));
	/* Every value write may move an idle collective: an activation or the
	 * fold partner's poke of round r (rung later: the peer's data of r
	 * answers it), a quorum arrival (later: the root's round answers it), a
	 * flush (at once). */
	if (rc)
		return rc;
	if (r)
		return ring_later(c, peer, r, 0);
	return arrival ? ring_later(c, peer, arrival, 1) : pc_engine_ring(c, peer);
}

/* The peer of this rank's first send in a round (-1: none). */
static int first_send_peer(const pcoll_coll_t *c)
{
	for (size_t i = 0; i < c->sched.nops; i++)
		if (c->sched.ops[i].kind == PC_OP_SEND)
			return c->sched.ops[i].peer;
	return -1;
}

/* A child with no children of its own in the tree. */
static int is_leaf(int P, int rel)
{
	int q = 1;
	while (q <= rel)
		q <<= 1;
	return rel + q >= P;
}

/* Send activation of round r along the tree of `initiator`. */
static void activate(pcoll_coll_t *c, uint64_t r, int initiator)
{
	int peers[32], slots[32];
	int n = pc_act_children(c->P, c->rank, initiator, peers, slots);
	uint64_t v[2] = {r, (uint64_t)initiator};
	/* An initiator joins at once, and its first data write tells that peer
	 * the round is on: a leaf that is that peer needs no activation. */
	int skip = initiator == c->rank ? first_send_peer(c) : -1;
	if (r > c->act_fwd)
		c->act_fwd = r;
	if (initiator == c->rank)
		PC_TRACE(c->ctx, pc_trace_initiate(c, r));
	for (int i = 0; i < n && !c->error; i++) {
		if (peers[i] == skip &&
		    is_leaf(c->P, ((peers[i] - initiator) % c->P + c->P) % c->P)) {
			c->bell_peer = peers[i]; /* the data write rings instead */
			c->bell_upto = r;
			continue;
		}
		fail(c, put_value(c, peers[i], v, sizeof(v), c->act_off + (size_t)slots[i] * 16, r,
				  0));
	}
}

static void initiate(pcoll_coll_t *c, uint64_t r)
{
	pc_rs_triggered(&c->rs, r);
	activate(c, r, c->rank);
}

/* Every step comes here: the collective has work. */
void pc_coll_arrive_actions(pcoll_coll_t *c, int action)
{
	uint64_t next = c->rs.version + 1;
	enqueue(c);
	switch (action) {
	case PC_ARRIVE_INITIATE:
		activate(c, next, c->rank);
		break;
	case PC_ARRIVE_NOTIFY_ROOT:
		if (c->rank == 0)
			c->arrival[0] = next;
		else
			fail(c, put_value(c, 0, &next, 8, c->arrival_off + (size_t)c->rank * 8, 0,
					  next));
		break;
	default:
		break;
	}
}

/* Every flush comes here: the collective has work. */
void pc_coll_send_flush(pcoll_coll_t *c)
{
	uint64_t e = c->rs.epoch + 1;
	enqueue(c);
	if (c->rank == 0)
		c->flushslot[0] = e;
	else
		fail(c, put_value(c, 0, &e, 8, c->flushslot_off + (size_t)c->rank * 8, 0, 0));
}

/* Learn of triggered rounds from activation slots; forward along the tree. */
static void scan_activations(pcoll_coll_t *c)
{
	int L = pc_act_nslots(c->P);
	for (int m = 0; m <= L; m++) {
		volatile uint64_t *slot = c->act + 2 * m;
		uint64_t r = pc_remote_load(&slot[0]);
		if (r <= c->act_seen[m])
			continue;
		uint64_t init = pc_remote_load(&slot[1]);
		c->act_seen[m] = r;
		if (r > c->rs.triggered)
			pc_rs_triggered(&c->rs, r);
		/* Forward even when data told us of the round first: our
		 * subtree may have no data from anyone yet. Slot L is the fold
		 * partner's poke: nothing to forward. */
		if (r > c->act_fwd && m < L && init < (uint64_t)c->P)
			activate(c, r, (int)init);
	}
}

/* Data already landed for the next round means a peer joined it: it is triggered. */
static void scan_data(pcoll_coll_t *c)
{
	uint64_t next = c->rs.completed + 1;
	if (c->rs.in_round || c->rs.triggered >= next)
		return;
	for (uint32_t s = 0; s < c->sched.nslots; s++)
		if (c->env.flag_ready(c, s, next)) {
			pc_rs_triggered(&c->rs, next);
			return;
		}
}

/* The ring slot of round r must not hold a round the user has not released. */
static int make_room(pcoll_coll_t *c, uint64_t r)
{
	if (r <= c->nslots_res)
		return 1;
	uint64_t old = r - c->nslots_res;
	if (old == c->given_round) {
		pc_rs_hold(&c->rs, r); /* the user is reading it: wait for the next call */
		return 0;
	}
	if (old <= c->rs.version)
		return 1;
	/* Not yet taken (only after a flush, when staleness holds nothing).
	 * Hold the round until the old one is taken: the ring of S+1 result
	 * buffers is all the memory there is. The user is outside pcoll, polls
	 * (pcoll_test, pcoll_flush_test: it takes rounds between polls), or
	 * blocks in this collective's pcoll_flush, which returns when it sees
	 * the hold (ring_held) so that its caller takes the rounds ... */
	if (c->flush_blocking || c->ctx->callers == 0) {
		pc_rs_hold(&c->rs, r);
		c->ring_held = 1;
		return 0;
	}
	/* ... unless a user call of another collective (or a step) blocks
	 * inside pcoll and may be waiting for the very peers the hold would
	 * stop: keep a copy until pcoll_next_round takes it. Bounded by the
	 * rounds the others complete during that one call. */
	char *slot = c->mem + c->res_off + (old % c->nslots_res) * c->res_stride;
	pc_spill_t *s = malloc(sizeof(*s) + c->nbytes);
	if (!s) {
		fail(c, pc_error(PCOLL_ERR_NOMEM, "out of memory spilling round %llu",
				 (unsigned long long)old));
		return 0;
	}
	s->next = NULL;
	memcpy(&s->hdr, slot, sizeof(s->hdr));
	memcpy(s->data, slot + PC_HDR_BYTES, c->nbytes);
	if (c->spill_tail)
		c->spill_tail->next = s;
	else {
		c->spill_head = s;
		c->spill_first = old;
	}
	c->spill_tail = s;
	c->nspill++;
	return 1;
}

/* Join round r contributing src: the pending accumulator (which flips to
 * the other buffer for the caller's next adds) or, for a zero-copy step,
 * the caller's own buffer (the pending one stays empty). */
static void join(pcoll_coll_t *c, uint64_t r, const void *src)
{
	int par = (int)(r & 1);
	if (!src && c->lend) {
		/* The blocked step's loan: it waits for this round and its sends. */
		src = c->lend;
		c->lend = NULL;
		c->zero_copy = 1;
	}
	if (!src) {
		if (c->rs.pend_count == 0)
			memset(c->mem + c->pend_off[c->pend_cur], 0, c->nbytes);
		src = c->mem + c->pend_off[c->pend_cur];
		c->pend_cur ^= 1;
	}
	pc_hdr_t mine;
	c->ring_held = 0;
	pc_rs_take(&c->rs, r, &mine);
	PC_TRACE(c->ctx, pc_trace_join(c, r, &mine));
	char *slot = c->mem + c->res_off + (r % c->nslots_res) * c->res_stride;
	c->env.buf[PC_BUF_SRC] = (void *)src;
	c->env.buf[PC_BUF_RES] = slot + PC_HDR_BYTES;
	c->env.res_hdr = (pc_hdr_t *)slot;
	c->env.buf[PC_BUF_RX] = c->mem + c->rx_off[par];
	c->tx_round_base = c->tx_done;
	pc_exec_start(&c->ex, &c->sched, r, &mine);
	/* A folded-away even rank learns of rounds only from its odd partner or
	 * the tree: poke it, so a lost tree message never stalls the round. */
	int pof2, rem;
	pc_sched_fold_geometry(c->P, &pof2, &rem);
	if (c->rs.mode != PCOLL_SYNC && c->rank < 2 * rem && (c->rank & 1)) {
		uint64_t v[2] = {r, (uint64_t)-1};
		int L = pc_act_nslots(c->P);
		fail(c, put_value(c, c->rank - 1, v, sizeof(v), c->act_off + (size_t)L * 16, r, 0));
	}
}

/* A blocked pcoll_step whose round is done returns in a moment and most
 * likely steps again (this collective, or the next: a barrier, the next
 * bucket of gradients): joining a round now with nothing pending would push
 * that step's contribution one round later (an extra round and a copy into
 * the pending accumulator, in every step where a peer steps first). Leave
 * such joins to the caller's next call, or to the progress thread once the
 * caller has been out of pcoll for QUIET_NS, as if it had returned already.
 * Bounded: the caller returns as soon as this pass ends. */
static int empty_join_waits(const pcoll_coll_t *c)
{
	if (c->rs.pend_count != 0) /* a lent buffer counts there too */
		return 0;
	return c->ctx->returning > 0 || (c->step_blocking && c->rs.completed >= c->step_target);
}

static void note_returning(pcoll_coll_t *c)
{
	if (c->step_blocking && !c->step_returning && c->rs.completed >= c->step_target) {
		c->step_returning = 1;
		c->ctx->returning++;
	}
}

int pc_coll_join_now(pcoll_coll_t *c, const void *src)
{
	uint64_t r = c->rs.completed + 1;
	if (c->rs.in_round || c->error || c->tx_done != c->tx_posted ||
	    pc_rs_joinable(&c->rs) != r || !make_room(c, r))
		return 0;
	join(c, r, src);
	return 1;
}

/*
 * A large reduction runs outside the engine lock (c->env.split_bytes, set at
 * create): the lock guards the transport and every collective of the
 * context, so a thread reducing 8 MiB under it would stall every other
 * collective's progress -- another thread's blocking step, a pcoll_test, the
 * progress thread moving rounds of other collectives -- for the whole
 * reduction. c->busy keeps c itself to this thread until it relocks: the
 * engine skips it, and destroy and finalize wait (pc_engine_quiesce).
 */
static void reduce_unlocked(pcoll_coll_t *c)
{
	pcoll_ctx_t *ctx = c->ctx;
	c->busy = 1;
	pthread_mutex_unlock(&ctx->lock);
	if (__builtin_expect(c->fault_delay_us != 0, 0))
		sleep_us((unsigned)c->fault_delay_us);
	pc_exec_reduce_split(&c->ex, &c->env);
	pthread_mutex_lock(&ctx->lock);
	c->busy = 0;
	if (ctx->busy_waiters)
		pthread_cond_broadcast(&ctx->busy_cv);
}

/* The collective a caller thread is blocked on (pc_engine_wait), if any. */
static __thread const pcoll_coll_t *waiting_on;

/* A large reduction of another collective whose own caller is blocked
 * until this very round is done: leave it to that caller (it is looking, and
 * has nothing else to do), so that this caller returns without summing
 * another's megabytes first. A round after the one a step waits for is not
 * left: its caller may return without it. */
static int leave_to_owner(const pcoll_coll_t *c)
{
	if (!waiting_on || waiting_on == c)
		return 0;
	return (c->step_blocking && c->ex.round <= c->step_target) || c->flush_blocking;
}

void pc_engine_quiesce(pcoll_coll_t *c)
{
	pcoll_ctx_t *ctx = c->ctx;
	while (c->busy) {
		ctx->busy_waiters++;
		pthread_cond_wait(&ctx->busy_cv, &ctx->lock);
		ctx->busy_waiters--;
	}
}

int pc_engine_coll(pcoll_coll_t *c)
{
	int moved = 0;
	if (c->busy) /* another thread is reducing it, unlocked */
		return 0;
	c->woken = 0;
	/* Fail together: once a member of its team is gone a collective never
	 * moves again here, so no peer can complete rounds on our behalf. */
	if (c->error || c->team->error || c->dead || !c->ready)
		return 0;
	if (c->nlazy)
		fail(c, ring_due(c));
	if (c->rs.mode != PCOLL_SYNC)
		scan_activations(c);
	if (c->rank == 0) {
		uint64_t q = pc_rs_quorum_ready(&c->rs, c->arrival, c->flushslot);
		if (q) {
			c->rs.initiated++;
			initiate(c, q);
		}
	}
	uint64_t self = pc_rs_self_initiate(&c->rs, c->rank == 0 ? c->flushslot : NULL);
	if (self && c->rs.mode != PCOLL_SYNC)
		initiate(c, self);
	else if (self)
		pc_rs_triggered(&c->rs, self);
	while (!c->error) {
		if (c->rs.in_round) {
			/* A reduction handed back and left to its owner: still due. */
			int rc = c->ex.split ? PC_EXEC_REDUCE : pc_exec_run(&c->ex, &c->env);
			if (rc < 0) {
				fail(c, rc);
				break;
			}
			if (rc == 0)
				break;
			if (rc == PC_EXEC_REDUCE) {
				if (leave_to_owner(c))
					break;
				reduce_unlocked(c);
				moved = 1;
				/* Others ran meanwhile: a peer may be gone, the
				 * context failed. */
				if (c->team->error || c->ctx->error)
					break;
				continue;
			}
			const pc_hdr_t *h = c->env.res_hdr;
			if (h->round != c->ex.round) {
				fail(c, pc_error(PCOLL_ERR_INTERNAL,
						 "round %llu completed with header of round %llu",
						 (unsigned long long)c->ex.round,
						 (unsigned long long)h->round));
				break;
			}
			if (pc_rs_complete(&c->rs, h))
				c->epoch_end = h->round;
			note_returning(c);
			PC_TRACE(c->ctx, pc_trace_round(c, h));
			moved = 1;
			continue;
		}
		scan_data(c);
		uint64_t r = pc_rs_joinable(&c->rs);
		/* The previous round's sends read WORK, RES and the header scratch:
		 * they must be complete before a round reuses them. Waiting here,
		 * not at the end of the round, keeps it off the latency path. */
		if (!r || c->tx_done != c->tx_posted || empty_join_waits(c) || !make_room(c, r))
			break;
		join(c, r, NULL);
		moved = 1;
	}
	PC_TRACE(c->ctx, pc_trace_holds(c));
	return moved;
}

int pc_engine_progress(pcoll_ctx_t *ctx)
{
	if (ctx->finalized)
		return 0;
	int ev = pc_tp_progress(ctx->tp);
	scan_bells(ctx);
	/* Tell the others of a peer we found gone, at once (here, outside the
	 * transport's callbacks: announcing sends). */
	if (ctx->nannounce)
		pc_notice_announce(ctx);
	if (ev < 0) {
		if (!ctx->error) {
			ctx->error = ev;
			snprintf(ctx->errmsg, sizeof(ctx->errmsg), "%s", pcoll_last_error());
		}
		return ev;
	}
	/* A failed context (this process stalled, pcoll_abort) moves nothing. */
	if (ctx->error)
		return ev;
	/* Only the collectives with work. One that gets work while another is
	 * advanced (a notification delivered by a send's retry) joins the tail,
	 * and is visited in this pass. */
	for (pcoll_coll_t *c = ctx->active_head; c;) {
		ev += pc_engine_coll(c);
		pcoll_coll_t *next = c->active_next;
		if (!has_work(c))
			pc_engine_forget(c);
		c = next;
	}
	return ev;
}

/* Timer slack, in ns, while pcoll sleeps in short backoff steps. */
#define TIMER_SLACK_NS 1000UL

/* How long a blocked caller spins after the last event before it sleeps:
 * for HOT_NS without giving up the core (sched_yield is a syscall and a
 * trip through the scheduler: it cost a third of a 4 KiB allreduce on shm),
 * then yielding it to other processes on the node until SPIN_NS. */
#define HOT_NS	5000ULL
#define SPIN_NS 50000ULL

/* Between two polls of the hot spin, a pause of about HOT_PAUSE_NS. Each
 * poll of libfabric's shm takes the lock of this process's shared region,
 * which the peer's writes into it take too: polled back to back, the lock
 * was busy so often that a 4 KiB allreduce spent a quarter of its CPU
 * spinning on it (perf). 100, 200 and 400 ns were tried: 200 ns took
 * 13-20% off a 4 KiB round back to back (README). A pause instruction
 * lasts from about 10 to 140 cycles by CPU, so the count is measured once. */
#define HOT_PAUSE_NS 200
static unsigned hot_pauses = 1;
static pthread_once_t hot_once = PTHREAD_ONCE_INIT;

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#else
	__asm__ volatile("" ::: "memory");
#endif
}

static void hot_calibrate(void)
{
	enum { N = 2000 };
	uint64_t t0 = pc_now_ns();
	for (int i = 0; i < N; i++)
		cpu_pause();
	uint64_t ns = pc_now_ns() - t0;
	uint64_t n = ns ? (uint64_t)HOT_PAUSE_NS * N / ns : 64;
	hot_pauses = n < 1 ? 1 : n > 1024 ? 1024 : (unsigned)n;
}

static inline void hot_pause(void)
{
	for (unsigned i = 0; i < hot_pauses; i++)
		cpu_pause();
}

/* The longest poll() of a blocked caller. 1 ms each time, as before, woke
 * every blocked process 1,000 times a second: at P = 64 on 2 cores over four
 * namespace hosts, where a step waits tens of ms, those wake-ups (each a
 * progress pass: several epoll_waits) kept the cores busy and slowed the
 * processes that had work. */
#define POLL_MAX_MS 32

/* How often a quiet blocked caller looks whether a same-node peer is gone. */
#define LIVENESS_NS 200000000ULL

/*
 * The timeout rule, seen from the other side: a process that itself did not
 * run for longer than the timeout (SIGSTOP, a frozen VM) must assume that its
 * peers have given up on it, and fail before it completes another round --
 * else, once resumed, it could finish rounds its peers never will. prev and
 * now are successive wake-ups of one loop that never sleeps longer than the
 * idle backoff (4x idle_sleep_max_us) or 100 ms.
 */
static int self_stalled(pcoll_ctx_t *ctx, uint64_t prev, uint64_t now)
{
	if (ctx->error || ctx->cfg.timeout_ms < 0)
		return ctx->error;
	uint64_t lim = (uint64_t)ctx->cfg.timeout_ms * 1000000ULL +
		       4ULL * ctx->cfg.idle_sleep_max_us * 1000ULL + 100000000ULL;
	if (now - prev <= lim)
		return 0;
	ctx->error = PCOLL_ERR_TIMEOUT;
	snprintf(ctx->errmsg, sizeof(ctx->errmsg),
		 "job rank %d did not run for %.1f s, longer than the timeout (%d ms): its peers "
		 "have given up on it",
		 ctx->rank, (double)(now - prev) * 1e-9, ctx->cfg.timeout_ms);
	return ctx->error;
}

int pc_engine_wait_on(pcoll_ctx_t *ctx, const pc_wait_t *w)
{
	pthread_once(&hot_once, hot_calibrate);
	uint64_t t0 = pc_now_ns(), last = t0, last_live = t0, woke = t0;
	unsigned idle = 0;
	int rc = 0, slack = -1;
	pthread_mutex_lock(&ctx->lock);
	/* A process stopped outside pcoll and resumed into this call: the
	 * progress thread, which wakes often, may not have run since. Measure
	 * the first wake-up from its last one, or the call could complete (a
	 * create whose peers all wrote before giving up on us) before the
	 * thread notices. Without a thread, time outside pcoll is the caller's. */
	if (ctx->thread_started && ctx->progress_woke && ctx->progress_woke < woke)
		woke = ctx->progress_woke;
	ctx->callers++;
	ctx->caller_enters++;
	for (;;) {
		uint64_t prev = woke;
		woke = pc_now_ns();
		if (self_stalled(ctx, prev, woke)) {
			rc = pc_error(ctx->error, "rank %d: %s", ctx->rank, ctx->errmsg);
			break;
		}
		int ev = pc_engine_progress(ctx);
		if (w->done(w->arg))
			break;
		const char *msg = ctx->errmsg;
		int err = w->failed(w->arg, &msg);
		if (err || ev < 0) {
			rc = pc_error(err ? err : ev, "rank %d: %s", ctx->rank, msg);
			break;
		}
		uint64_t now = pc_now_ns();
		if (ev > 0) {
			last = now;
			idle = 0;
			continue;
		}
		/* Another thread reduces our collective outside the lock: wait
		 * for exactly that (spinning would take its core, a poll() would
		 * not wake when it is done), then drive the rest ourselves. */
		if (w->coll && w->coll->busy) {
			pc_engine_quiesce(w->coll);
			last = pc_now_ns();
			idle = 0;
			continue;
		}
		/* Quiet for a while: is a peer on this node gone? Cheap (a read
		 * of /proc per peer), so every LIVENESS_NS while quiet. */
		if (now - last > LIVENESS_NS && now - last_live > LIVENESS_NS) {
			last_live = now;
			if (pc_ctx_check_peers(ctx))
				continue; /* reported at the top of the loop */
		}
		if (ctx->cfg.timeout_ms >= 0 &&
		    now - last > (uint64_t)ctx->cfg.timeout_ms * 1000000ULL) {
			rc = w->timed_out(w->arg, ctx->cfg.timeout_ms);
			break;
		}
		/* Spin for up to SPIN_NS since the last event (the answer is
		 * usually microseconds away), then sleep: in poll() on the
		 * fabric's fd, or with a backoff from 1 to 100 us. */
		int spin = now - last < SPIN_NS;
		idle = spin ? 0 : idle + 1;
		/* Linux rounds a sleep up by the thread's timer slack (50 us by
		 * default): a 1 us backoff sleep became ~55 us, which cost a
		 * quarter of a 1 MiB allreduce on shm. Narrow the slack while
		 * this call sleeps; the caller's own setting comes back on exit. */
		if (!spin && slack < 0) {
			slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
			if (slack > (int)TIMER_SLACK_NS)
				prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0);
			else
				slack = 0; /* already narrow: nothing to restore */
		}
		int can_block = spin ? 0 : pc_tp_trywait(ctx->tp);
		/* Blocked in poll() the fd wakes us for any event, so the timeout
		 * only bounds how late a timeout, a liveness look or a death notice
		 * is seen: double it while the call stays quiet. Another caller
		 * thread may reap the events this one waits for, so then 1 ms. */
		int poll_ms = ctx->callers > 1 || idle < 1 ? 1
			      : idle < 6		   ? 1 << (idle - 1)
							   : POLL_MAX_MS;
		pthread_mutex_unlock(&ctx->lock);
		if (spin) {
			/* Within HOT_NS, poll again at once: the answer is likely
			 * < 1 us away. */
			if (now - last >= HOT_NS)
				sched_yield();
			else
				hot_pause();
		} else if (can_block == 1)
			pc_tp_poll(ctx->tp, poll_ms);
		else if (can_block < 0)
			sleep_us(idle < 8 ? 1u << idle : 100);
		pthread_mutex_lock(&ctx->lock);
	}
	if (slack > 0)
		prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0);
	ctx->callers--;
	ctx->caller_exit_ns = pc_now_ns();
	/* The progress thread backs off while one caller stays blocked: wake
	 * it, so that it takes over the engine as soon as usual. Only after a
	 * long wait, where a futex wake is cheap by comparison. */
	if (!ctx->callers && ctx->progress_parked)
		pthread_cond_signal(&ctx->cv);
	if (w->wait_s)
		*w->wait_s += (double)(ctx->caller_exit_ns - t0) * 1e-9;
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

/* ---- blocking waits on a collective */

typedef struct {
	pcoll_coll_t *c;
	int (*done)(pcoll_coll_t *);
} coll_wait_t;

static int cw_done(void *arg)
{
	coll_wait_t *w = arg;
	return w->done(w->c);
}

static int cw_failed(void *arg, const char **msg)
{
	return pc_coll_failed(((coll_wait_t *)arg)->c, msg);
}

static int cw_timed_out(void *arg, int timeout_ms)
{
	pcoll_coll_t *c = ((coll_wait_t *)arg)->c;
	pcoll_ctx_t *ctx = c->ctx;
	const pc_op_t *op =
	    c->rs.in_round && c->ex.pc < c->sched.nops ? &c->sched.ops[c->ex.pc] : NULL;
	char who[96];
	if (op)
		snprintf(who, sizeof(who),
			 "the round waits for data from team rank %d (job rank %d)", op->peer,
			 c->team->members[op->peer]);
	else
		snprintf(who, sizeof(who), "no round was triggered (peers not arrived)");
	int rc =
	    pc_error(PCOLL_ERR_TIMEOUT,
		     "team rank %d (job rank %d): no progress from the peers for %d ms: %s "
		     "(round %llu, %s, triggered %llu, last arrival %lld, op %zu kind %d slot %u)",
		     c->rank, ctx->rank, timeout_ms, who, (unsigned long long)(c->rs.completed + 1),
		     c->rs.in_round ? "joined" : "not joined", (unsigned long long)c->rs.triggered,
		     (long long)c->rs.last_arrival, op ? c->ex.pc : 0, op ? op->kind : -1,
		     op ? op->flag : 0);
	/* Sticky: the progress thread must not go on taking part in rounds for
	 * a caller that has given up, or a stalled peer, once resumed, would run
	 * on alone with it (split brain). */
	fail(c, rc);
	return rc;
}

int pc_engine_wait(pcoll_ctx_t *ctx, pcoll_coll_t *c, int (*done)(pcoll_coll_t *))
{
	coll_wait_t cw = {c, done};
	pc_wait_t w = {.done = cw_done,
		       .arg = &cw,
		       .failed = cw_failed,
		       .timed_out = cw_timed_out,
		       .wait_s = &c->wait_s,
		       .coll = c};
	const pcoll_coll_t *outer = waiting_on;
	waiting_on = c;
	int rc = pc_engine_wait_on(ctx, &w);
	waiting_on = outer;
	return rc;
}

/* How long the progress thread leaves the engine to a caller that just returned. */
#define QUIET_NS 200000ULL

/* While a caller is blocked, the progress thread looks every PARK_NS
 * whether it has returned; while the same caller stays blocked, it looks
 * half as often each time, up to PARK_MAX_NS, and the caller wakes it when
 * it returns. Looking every 500 us for the whole wait cost each process
 * 2,000 wake-ups a second: with 64 processes on 2 cores, waiting for rounds
 * whose messages crossed hosts, those wake-ups took the cores from the
 * senders: the quick demo took 58-98 s instead of 15-19 s (README). */
#define PARK_NS	    500000ULL
#define PARK_MAX_NS 50000000ULL

/* Under lock, each time the progress thread wakes: the stall check against
 * its last wake-up -- from its creation on, so that a process stopped before
 * the thread first ran is found stalled too -- and the new one published for
 * blocking calls (pc_engine_wait_on). */
static void progress_wake(pcoll_ctx_t *ctx)
{
	uint64_t now = pc_now_ns();
	self_stalled(ctx, ctx->progress_woke, now);
	ctx->progress_woke = now;
}

static void *progress_main(void *arg)
{
	pcoll_ctx_t *ctx = arg;
	char where[64];
	if (ctx->cfg.bind_progress_thread)
		pc_topo_bind_progress(&ctx->topo, where, sizeof(where));
	else
		snprintf(where, sizeof(where), "unbound (disabled)");
	/* Short backoff sleeps should be short (see pc_engine_wait). */
	prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0);
	pthread_mutex_lock(&ctx->lock);
	snprintf(ctx->progress_cpuset, sizeof(ctx->progress_cpuset), "%s", where);
	unsigned idle = 0, maxs = ctx->cfg.idle_sleep_max_us;
	while (!atomic_load(&ctx->stop)) {
		progress_wake(ctx); /* stalled: then the engine moves nothing */
		/* A caller blocked in step drives progress itself: stay out of its
		 * way, and for a moment after it returns too -- it is most likely
		 * about to call again (or compute, when nothing is due for a while).
		 * Waking at once would contend for the lock and for the core on the
		 * latency-critical path. */
		uint64_t quiet = 0, park = PARK_NS, enters = ctx->caller_enters;
		while (!atomic_load(&ctx->stop)) {
			uint64_t now = pc_now_ns();
			if (ctx->callers > 0) {
				/* The same blocked call as last time: back off. */
				if (quiet && ctx->caller_enters == enters)
					park = park * 2 < PARK_MAX_NS ? park * 2 : PARK_MAX_NS;
				else
					park = PARK_NS;
				enters = ctx->caller_enters;
				quiet = park;
			} else if (now - ctx->caller_exit_ns < QUIET_NS)
				quiet = QUIET_NS - (now - ctx->caller_exit_ns);
			else
				break;
			ctx->progress_parked = quiet > PARK_NS;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)quiet;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&ctx->cv, &ctx->lock, &ts);
			ctx->progress_parked = 0;
			progress_wake(ctx);
			idle = 10;
		}
		if (atomic_load(&ctx->stop))
			break;
		int ev = pc_engine_progress(ctx);
		if (ev != 0) {
			idle = 0;
			if (ev < 0) {
				/* Sticky error recorded; keep sleeping until finalize. */
				pthread_mutex_unlock(&ctx->lock);
				sleep_us(maxs);
				pthread_mutex_lock(&ctx->lock);
			}
			continue;
		}
		idle++;
		int can_block = pc_tp_trywait(ctx->tp);
		pthread_mutex_unlock(&ctx->lock);
		if (can_block == 1) {
			pc_tp_poll(ctx->tp, 100);
		} else if (can_block < 0) {
			/* Exponential backoff to maxs; after about 200 idle sleeps (no
			 * round for ~0.2 s at the default) the job is idle, not between
			 * two rounds of a step: sleep 4x longer. */
			unsigned us = idle < 20 ? 1u << (idle / 2) : idle < 220 ? maxs : 4 * maxs;
			sleep_us(us < 4 * maxs ? us : 4 * maxs);
		}
		pthread_mutex_lock(&ctx->lock);
	}
	pthread_mutex_unlock(&ctx->lock);
	return NULL;
}

int pc_engine_start_thread(pcoll_ctx_t *ctx)
{
	atomic_store(&ctx->stop, 0);
	ctx->progress_woke = pc_now_ns();
	if (pthread_create(&ctx->thread, NULL, progress_main, ctx))
		return pc_error(PCOLL_ERR_NOMEM, "cannot start the progress thread");
	ctx->thread_started = 1;
	return 0;
}

void pc_engine_stop_thread(pcoll_ctx_t *ctx)
{
	if (!ctx->thread_started)
		return;
	pthread_mutex_lock(&ctx->lock);
	atomic_store(&ctx->stop, 1);
	pthread_cond_broadcast(&ctx->cv);
	pthread_mutex_unlock(&ctx->lock);
	pthread_join(ctx->thread, NULL);
	ctx->thread_started = 0;
}
