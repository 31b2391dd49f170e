/*
 * pcoll_team_shrink: the survivors of a team agree on who is gone and build
 * a new team of the others (ULFM's MPI_Comm_shrink, NCCL's ncclCommShrink).
 *
 * The agreement is uniform consensus on the gone set, with a failure
 * detector that counts a peer gone only when it is (its pid gone from /proc
 * on this node, a write to it refused, a PMIx event, or another survivor's
 * word for one of these). It follows the hierarchical uniform consensus of
 * Cachin, Guerraoui and Rodrigues (Introduction to Reliable and Secure
 * Distributed Programming, 2011, algorithm 5.4), which any number of further
 * deaths during the agreement does not break:
 *
 *  - The leader of round r is team rank r. A member moves past round r once
 *    it counts r gone, adopting r's proposal if it has one from r.
 *  - The leader proposes the value it adopted, if any; else its gone set,
 *    once every member it does not count gone has sent it theirs (every set
 *    received is merged into its own).
 *  - A member acks the proposal of a leader at or after its round.
 *  - The leader decides once every member it does not count gone has acked
 *    (or decided); a member decides on the first decision it sees. Each
 *    sends its decision to all before it returns.
 *
 * If a leader decided V, every member alive then had acked V, so whoever
 * leads later adopts V: every decision is V, even when the decider died at
 * once, and a survivor that learns of a death after another decided still
 * gets the same team. A member that died during the agreement may be in the
 * new team; the new team is then failed from the start wherever the death is
 * known (shrink it again, like any team that lost a member). The price: a
 * member that never takes part (alive but not calling) holds the agreement
 * until the timeout, like every other team-collective call.
 *
 * Messages go over the old team's shrink slots, one per sender in one of two
 * areas by the parity of the team's shrink count (a member is at most one
 * shrink ahead of another: it cannot decide a shrink without the others).
 * Each message is the sender's whole state: its gone set, or its proposal or
 * decision; the leader it acked; its id and region of the new team (so the
 * new team needs no further exchange). It is sent to every member not
 * counted gone whenever the state changes, and again every RESEND_NS, so a
 * message overwritten before it was read costs time, never safety.
 *
 * Test hook: PCOLL_FAULT_SHRINK_KILL=state|propose|decided makes the process
 * kill itself (SIGKILL) right after its first message of that kind has been
 * posted to one peer (mp-kill.sh uses it for deaths during the agreement).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pcoll_internal.h"

enum { SH_STATE = 1, SH_PROPOSE = 2, SH_DECIDED = 3 };

typedef struct {
	uint64_t seq;	/* the sender's message number (its flag on the counter path) */
	uint64_t sum;	/* of everything after it: a torn read is read again */
	uint32_t epoch; /* which shrink of the team */
	uint32_t id;	/* the sender's id of the new team */
	uint16_t nbits;
	uint8_t kind; /* SH_STATE: the set is its gone set; else its proposal or decision */
	uint8_t pad;
	int32_t ack;	   /* the leader whose proposal it acked (-1: none) */
	pc_tp_rkey_t xkey; /* the sender's region of the new team */
} shrink_hdr_t;

#define SHRINK_BITS ((PC_XCHG_SLOT - (int)sizeof(shrink_hdr_t)) * 8)

/* A member's state, again, at most this long after the last (lost messages). */
#define RESEND_NS 500000000ULL
/* How often the agreement looks for dead peers itself: its own messages keep
 * the engine busy, which would put off the engine's look for good. */
#define LOOK_NS 200000000ULL

typedef struct {
	pcoll_team_t *t, *nt;
	pc_tp_rkey_t nkey;
	uint32_t epoch;
	int area;	/* PC_X_SHRINK_AREA + the epoch's parity */
	size_t nbytes;	/* of a set */
	uint8_t *dead;	/* D: the members we count gone */
	uint8_t *value; /* adopted, proposed or decided */
	int adopted, proposed, decided, ack;
	int round; /* the leader we follow */
	/* what we last sent */
	uint8_t *sent;
	int sent_kind, sent_ack;
	uint64_t sent_ns;
	/* the last message of this shrink from each member */
	uint8_t *got; /* [size][nbytes] */
	uint8_t *got_kind;
	int32_t *got_ack;
	uint64_t *got_seq;
	uint32_t *got_id;
	pc_tp_rkey_t *got_key;
	uint8_t *reread; /* [size]: its slot failed the check: read it again */
	int excluded;	 /* a member that counts us gone, or -1 */
	int fault;	 /* the test hook's kind (0: off) */
} shrink_t;

static uint64_t fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static int bit(const uint8_t *m, int r)
{
	return (m[r / 8] >> (r % 8)) & 1;
}

static void set_bit(uint8_t *m, int r)
{
	m[r / 8] |= (uint8_t)(1u << (r % 8));
}

static int my_kind(const shrink_t *s)
{
	return s->decided ? SH_DECIDED : s->proposed ? SH_PROPOSE : SH_STATE;
}

/* Under lock: D from what the context knows. */
static void collect(shrink_t *s)
{
	pcoll_team_t *t = s->t;
	for (int r = 0; r < t->size; r++)
		if (r != t->rank && t->ctx->gone[t->members[r]])
			set_bit(s->dead, r);
}

/* Under lock: our state to every member we do not count gone. 0 when the
 * last message is still going out (send when it is done). */
static int broadcast(shrink_t *s)
{
	pcoll_team_t *t = s->t;
	pcoll_ctx_t *ctx = t->ctx;
	if (t->shrink_tx_done != t->shrink_tx_posted)
		return 0;
	int kind = my_kind(s);
	const uint8_t *set = kind == SH_STATE ? s->dead : s->value;
	char *tx = t->xmem + pc_team_slot_off(t, PC_X_AREAS, 1);
	shrink_hdr_t h = {.seq = ++t->shrink_sent,
			  .epoch = s->epoch,
			  .id = s->nt->id,
			  .nbits = (uint16_t)t->size,
			  .kind = (uint8_t)kind,
			  .ack = s->ack,
			  .xkey = s->nkey};
	memcpy(tx + sizeof(h), set, s->nbytes);
	memcpy(tx, &h, sizeof(h));
	h.sum = fnv(tx + 16, sizeof(h) - 16 + s->nbytes);
	memcpy(tx, &h, sizeof(h));
	memcpy(s->sent, set, s->nbytes);
	s->sent_kind = kind;
	s->sent_ack = s->ack;
	s->sent_ns = pc_now_ns();
	struct iovec iov = {.iov_base = tx, .iov_len = sizeof(h) + s->nbytes};
	uint64_t idx = (uint64_t)s->area * (uint64_t)t->size + (uint64_t)t->rank;
	for (int r = 0; r < t->size; r++) {
		if (r == t->rank || bit(s->dead, r))
			continue;
		t->shrink_tx_posted++;
		int rc =
		    pc_tp_put(ctx->tp, t->members[r], &iov, 1, t->xmr, &t->xkeys[r],
			      pc_team_slot_off(t, s->area, t->rank), idx * 8, h.seq,
			      pc_cq_encode(PC_TEAM_ID_BIT | t->peer_ids[r], PC_CQ_KIND_COUNT, idx),
			      &t->shrink_tx_done);
		if (rc) /* that peer is gone or going: it will be in D soon */
			t->shrink_tx_posted--;
		else if (s->fault == kind)
			kill(getpid(), SIGKILL); /* the test hook: one peer has it */
	}
	return 1;
}

/* Under lock: read what arrived, from every member (a leader that died may
 * have proposed first); merge the sets into D. */
static void receive(shrink_t *s)
{
	pcoll_team_t *t = s->t;
	for (int r = 0; r < t->size; r++) {
		if (r == t->rank)
			continue;
		size_t fi = (size_t)s->area * (size_t)t->size + (size_t)r;
		uint64_t f = pc_remote_load(&t->xflags[fi]);
		uint64_t *seen =
		    &t->shrink_flag[(size_t)(s->epoch & 1) * (size_t)t->size + (size_t)r];
		if (f == *seen && !s->reread[r])
			continue;
		*seen = f;
		char buf[PC_XCHG_SLOT];
		memcpy(buf, t->xmem + pc_team_slot_off(t, s->area, r),
		       sizeof(shrink_hdr_t) + s->nbytes);
		shrink_hdr_t h;
		memcpy(&h, buf, sizeof(h));
		s->reread[r] = 0;
		if (h.nbits != (uint16_t)t->size ||
		    h.sum != fnv(buf + 16, sizeof(h) - 16 + s->nbytes)) {
			s->reread[r] = 1; /* torn: a newer one is landing */
			continue;
		}
		/* Another shrink's (the slot's last one), or older than one read:
		 * messages on two endpoints (see ofi.c) may land out of order. */
		if (h.epoch != s->epoch || h.seq <= s->got_seq[r] || h.kind < SH_STATE ||
		    h.kind > SH_DECIDED)
			continue;
		const uint8_t *set = (const uint8_t *)buf + sizeof(h);
		s->got_seq[r] = h.seq;
		memcpy(s->got + (size_t)r * s->nbytes, set, s->nbytes);
		s->got_kind[r] = h.kind;
		s->got_ack[r] = h.ack;
		s->got_id[r] = h.id;
		s->got_key[r] = h.xkey;
		for (int d = 0; d < t->size; d++) {
			if (!bit(set, d) || bit(s->dead, d))
				continue;
			if (d == t->rank) {
				if (s->excluded < 0)
					s->excluded = r;
				continue;
			}
			char why[96];
			snprintf(why, sizeof(why), "team rank %d (job rank %d) found it gone", r,
				 t->members[r]);
			pc_ctx_peer_told(t->ctx, t->members[d], why);
			set_bit(s->dead, d);
		}
	}
}

/* Under lock: the algorithm's moves on what we know now. */
static void advance(shrink_t *s)
{
	pcoll_team_t *t = s->t;
	int me = t->rank, n = t->size;
	/* A decision seen anywhere is the decision. */
	for (int r = 0; r < n && !s->decided; r++)
		if (r != me && s->got_kind[r] == SH_DECIDED) {
			memcpy(s->value, s->got + (size_t)r * s->nbytes, s->nbytes);
			s->decided = 1;
		}
	if (s->decided)
		return;
	/* Past the leaders we count gone, adopting what they proposed. */
	while (s->round < me && bit(s->dead, s->round)) {
		if (s->got_kind[s->round] >= SH_PROPOSE) {
			memcpy(s->value, s->got + (size_t)s->round * s->nbytes, s->nbytes);
			s->adopted = 1;
		}
		s->round++;
	}
	/* Ack the latest leader at or after our round that proposed (a later
	 * one counts the earlier ones gone). */
	for (int r = n - 1; r >= s->round && r > s->ack; r--)
		if (r != me && s->got_kind[r] == SH_PROPOSE) {
			s->ack = r;
			break;
		}
	if (s->round != me)
		return;
	/* We lead: propose, then decide once every member alive has acked. */
	if (!s->proposed) {
		if (!s->adopted) {
			for (int r = 0; r < n; r++)
				if (r != me && !bit(s->dead, r) && !s->got_kind[r])
					return; /* its gone set has not come yet */
			memcpy(s->value, s->dead, s->nbytes);
		}
		s->proposed = 1;
		return; /* sent before anyone can ack it */
	}
	for (int r = 0; r < n; r++)
		if (r != me && !bit(s->dead, r) && s->got_kind[r] != SH_DECIDED &&
		    !(s->got_kind[r] && s->got_ack[r] == me))
			return;
	s->decided = 1;
}

/* Under lock: the member the agreement waits for (for the timeout's message). */
static int waiting_for(const shrink_t *s, const char **what)
{
	const pcoll_team_t *t = s->t;
	int me = t->rank;
	*what = "did not take part";
	if (s->round != me && !s->decided) {
		*what = "leads the agreement and has not decided";
		return s->round;
	}
	for (int r = 0; r < t->size; r++) {
		if (r == me || bit(s->dead, r) || (s->decided && bit(s->value, r)))
			continue;
		if (!s->got_kind[r])
			return r;
		if (!s->decided && s->proposed && s->got_kind[r] != SH_DECIDED &&
		    s->got_ack[r] != me) {
			*what = "did not ack the proposal";
			return r;
		}
	}
	return -1;
}

/* Under lock: the new team from the agreed set. A member that died during
 * the agreement may be in it: the team is then failed from the start. */
static void build(shrink_t *s)
{
	pcoll_team_t *t = s->t, *nt = s->nt;
	pcoll_ctx_t *ctx = t->ctx;
	int n = 0;
	for (int r = 0; r < t->size; r++) {
		if (bit(s->value, r))
			continue;
		if (r == t->rank)
			nt->rank = n;
		nt->members[n] = t->members[r];
		nt->peer_ids[n] = r == t->rank ? nt->id : s->got_id[r];
		nt->xkeys[n] = r == t->rank ? s->nkey : s->got_key[r];
		n++;
	}
	nt->size = n;
	pc_team_layout(nt);
	for (int i = 0; i < n && !nt->error; i++)
		if (ctx->gone[nt->members[i]]) {
			nt->error = PCOLL_ERR_PEER;
			snprintf(nt->errmsg, sizeof(nt->errmsg),
				 "job rank %d (team rank %d of %d) is gone: it died while the team "
				 "was agreed on (shrink again)",
				 nt->members[i], i, n);
		}
}

/* One agreement, as a wait of the engine's (which keeps every collective
 * moving and sleeps when nothing happens). */
typedef struct {
	shrink_t *s;
	uint64_t t0, looked;
	int verdict; /* 0: not yet; 1: agreed; PCOLL_ERR_PEER or PCOLL_ERR_TIMEOUT */
	int who;
	const char *what;
} agree_t;

/* Under lock: one step of the agreement; 1 when there is a verdict. */
static int agree_step(void *arg)
{
	agree_t *a = arg;
	shrink_t *s = a->s;
	pcoll_team_t *t = s->t;
	pcoll_ctx_t *ctx = t->ctx;
	if (ctx->error)
		return 0; /* agree_failed reports it */
	uint64_t now = pc_now_ns();
	if (now - a->looked > LOOK_NS) {
		a->looked = now;
		pc_ctx_check_peers(ctx);
	}
	collect(s);
	receive(s);
	advance(s);
	if (s->excluded >= 0) {
		a->who = s->excluded;
		a->verdict = PCOLL_ERR_PEER;
		return 1;
	}
	int kind = my_kind(s);
	if (kind != s->sent_kind || s->ack != s->sent_ack ||
	    memcmp(s->sent, kind == SH_STATE ? s->dead : s->value, s->nbytes) ||
	    now - s->sent_ns > RESEND_NS)
		broadcast(s); /* else (or if the last is still going out): next step */
	if (s->decided && s->sent_kind == SH_DECIDED) {
		/* Everyone has it from us; now the new members' ids and regions. */
		int ready = 1;
		for (int r = 0; r < t->size && ready; r++)
			if (r != t->rank && !bit(s->value, r) && !s->got_kind[r] &&
			    !ctx->gone[t->members[r]])
				ready = 0;
		if (ready) {
			if (bit(s->value, t->rank)) {
				a->who = -1;
				a->verdict = PCOLL_ERR_PEER;
			} else {
				build(s);
				a->verdict = 1;
			}
			return 1;
		}
	}
	if (ctx->cfg.timeout_ms >= 0 && now - a->t0 > (uint64_t)ctx->cfg.timeout_ms * 1000000ULL)
		a->verdict = PCOLL_ERR_TIMEOUT; /* counted from the start, not from the
						   last event: other teams may be busy */
	return a->verdict != 0;
}

static int agree_failed(void *arg, const char **msg)
{
	pcoll_ctx_t *ctx = ((agree_t *)arg)->s->t->ctx;
	*msg = ctx->errmsg;
	return ctx->error;
}

static int agree_error(agree_t *a)
{
	pcoll_team_t *t = a->s->t;
	int who = a->who;
	if (a->verdict == PCOLL_ERR_PEER && who >= 0)
		return pc_error(PCOLL_ERR_PEER,
				"pcoll_team_shrink: team rank %d (job rank %d) counts this process "
				"(team rank %d, job rank %d) as gone",
				who, t->members[who], t->rank, t->ctx->rank);
	if (a->verdict == PCOLL_ERR_PEER)
		return pc_error(PCOLL_ERR_PEER,
				"pcoll_team_shrink: the survivors agreed that this process (team "
				"rank %d, job rank %d) is gone",
				t->rank, t->ctx->rank);
	who = waiting_for(a->s, &a->what);
	return pc_error(PCOLL_ERR_TIMEOUT,
			"pcoll_team_shrink: no agreement within %d ms: team rank %d (job rank %d) "
			"%s",
			t->ctx->cfg.timeout_ms, who, who >= 0 ? t->members[who] : -1, a->what);
}

static int agree_timed_out(void *arg, int timeout_ms)
{
	(void)timeout_ms;
	agree_t *a = arg;
	a->verdict = PCOLL_ERR_TIMEOUT;
	return agree_error(a);
}

static int agree(shrink_t *s)
{
	agree_t a = {.s = s, .t0 = pc_now_ns(), .looked = pc_now_ns(), .who = -1};
	pc_wait_t w = {
	    .done = agree_step, .arg = &a, .failed = agree_failed, .timed_out = agree_timed_out};
	int rc = pc_engine_wait_on(s->t->ctx, &w);
	if (rc)
		return a.verdict ? rc : pc_error(rc, "pcoll_team_shrink: %s", pcoll_last_error());
	return a.verdict == 1 ? 0 : agree_error(&a);
}

static int fault_kind(void)
{
	const char *f = getenv("PCOLL_FAULT_SHRINK_KILL");
	if (!f)
		return 0;
	return !strcmp(f, "state")     ? SH_STATE
	       : !strcmp(f, "propose") ? SH_PROPOSE
	       : !strcmp(f, "decided") ? SH_DECIDED
				       : 0;
}

static void shrink_free(shrink_t *s)
{
	free(s->dead);
	free(s->value);
	free(s->sent);
	free(s->got);
	free(s->got_kind);
	free(s->got_ack);
	free(s->got_seq);
	free(s->got_id);
	free(s->got_key);
	free(s->reread);
}

int pcoll_team_shrink(pcoll_ctx_t *ctx, pcoll_team_t *team, pcoll_team_t **out)
{
	pc_error_clear();
	if (!ctx || !out)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_team_shrink: %s is NULL",
				ctx ? "survivors pointer" : "ctx");
	*out = NULL;
	if (ctx->finalized)
		return pc_error(PCOLL_ERR_FINALIZED, "pcoll_team_shrink: context finalized");
	pcoll_team_t *t = team ? team : ctx->world;
	if (t->ctx != ctx)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_team_shrink: the team belongs to another "
						 "context");
	if (t->size > SHRINK_BITS)
		return pc_error(PCOLL_ERR_UNSUPPORTED,
				"pcoll_team_shrink: teams of more than %d processes", SHRINK_BITS);
	size_t n = (size_t)t->size;
	shrink_t s = {.t = t, .nbytes = (n + 7) / 8, .ack = -1, .excluded = -1};
	s.dead = calloc(1, s.nbytes);
	s.value = calloc(1, s.nbytes);
	s.sent = calloc(1, s.nbytes);
	s.got = calloc(n, s.nbytes);
	s.got_kind = calloc(n, 1);
	s.got_ack = calloc(n, sizeof(int32_t));
	s.got_seq = calloc(n, sizeof(uint64_t));
	s.got_id = calloc(n, sizeof(uint32_t));
	s.got_key = calloc(n, sizeof(pc_tp_rkey_t));
	s.reread = malloc(n);
	s.fault = fault_kind();
	int rc = 0;
	pthread_mutex_lock(&ctx->lock);
	if (!t->shrink_flag)
		t->shrink_flag = calloc(2 * n, sizeof(uint64_t));
	if (!s.dead || !s.value || !s.sent || !s.got || !s.got_kind || !s.got_ack || !s.got_seq ||
	    !s.got_id || !s.got_key || !s.reread || !t->shrink_flag) {
		rc = pc_error(PCOLL_ERR_NOMEM, "pcoll_team_shrink: out of memory");
	} else {
		memset(s.reread, 1, n); /* what came before we were here */
		s.epoch = ++t->shrink_epoch;
		s.area = PC_X_SHRINK_AREA + (int)(s.epoch & 1);
		/* sized for the whole old team; build() sets the size agreed on */
		rc = pc_team_alloc(ctx, t->size, 0, &s.nt, &s.nkey);
	}
	pthread_mutex_unlock(&ctx->lock);
	if (!rc)
		rc = agree(&s);
	pthread_mutex_lock(&ctx->lock);
	if (rc) {
		pc_team_free(s.nt);
	} else {
		ctx->live_teams++;
		*out = s.nt;
	}
	pthread_mutex_unlock(&ctx->lock);
	shrink_free(&s);
	return rc;
}
