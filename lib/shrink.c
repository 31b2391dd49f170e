/*
 * pcoll_team_shrink: the survivors of a team agree on who is gone and build
 * a new team of the others (ULFM's MPI_Comm_shrink, NCCL's ncclCommShrink).
 *
 * Agreement by flooding over the old team's shrink area (one slot per
 * sender, so it works whatever exchange each survivor was in when the peer
 * died): every survivor sends its gone set D (team ranks) to every member
 * not in D, again whenever D grows, and merges every set it receives into
 * its own (failure notices make the sets converge fast). A survivor decides
 * once every member outside its D has sent exactly its D: they all hold the
 * same set then. The message also carries the sender's region for the new
 * team, so the new team needs no further exchange. A process that fails
 * while the others decide makes the new team fail in turn (shrink again); a
 * survivor that learns of a death after another decided waits for it in
 * vain and fails with PCOLL_ERR_TIMEOUT (shrink again, on the new team).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcoll_internal.h"

typedef struct {
	uint64_t seq; /* this sender's message number: its flag at the receiver */
	uint64_t sum; /* of everything after it: a torn read is read again */
	uint32_t id;  /* the sender's id of the new team */
	uint32_t nbits;
	pc_tp_rkey_t xkey; /* the sender's region of the new team */
} shrink_hdr_t;

#define SHRINK_BITS ((PC_XCHG_SLOT - (int)sizeof(shrink_hdr_t)) * 8)

typedef struct {
	pcoll_team_t *t, *nt;
	pc_tp_rkey_t nkey;
	size_t nbytes;	  /* of the gone bitmap */
	uint8_t *dead;	  /* our set D */
	uint8_t *sent;	  /* D as last sent */
	uint8_t *got;	  /* [size][nbytes]: the last set from each member */
	uint32_t *got_id; /* their new team ids and regions */
	pc_tp_rkey_t *got_key;
	uint8_t *has; /* [size]: a message from them arrived */
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

/* Under lock: D from what the context knows. */
static void collect(shrink_t *s)
{
	pcoll_team_t *t = s->t;
	for (int r = 0; r < t->size; r++)
		if (r != t->rank && t->ctx->gone[t->members[r]])
			s->dead[r / 8] |= (uint8_t)(1u << (r % 8));
}

/* Under lock: send D to every member outside it. */
static int broadcast(shrink_t *s)
{
	pcoll_team_t *t = s->t;
	pcoll_ctx_t *ctx = t->ctx;
	if (t->shrink_tx_done != t->shrink_tx_posted)
		return 0; /* the last one is still going out: send when it is done */
	char *tx = t->xmem + pc_team_slot_off(t, PC_X_AREAS, 1);
	shrink_hdr_t h = {
	    .seq = ++t->shrink_sent, .id = s->nt->id, .nbits = (uint32_t)t->size, .xkey = s->nkey};
	memcpy(tx + sizeof(h), s->dead, s->nbytes);
	memcpy(tx, &h, sizeof(h));
	h.sum = fnv(tx + 16, sizeof(h) - 16 + s->nbytes);
	memcpy(tx, &h, sizeof(h));
	memcpy(s->sent, s->dead, s->nbytes);
	struct iovec iov = {.iov_base = tx, .iov_len = sizeof(h) + s->nbytes};
	uint64_t idx = (uint64_t)PC_X_SHRINK_AREA * (uint64_t)t->size + (uint64_t)t->rank;
	for (int r = 0; r < t->size; r++) {
		if (r == t->rank || bit(s->dead, r))
			continue;
		t->shrink_tx_posted++;
		int rc =
		    pc_tp_put(ctx->tp, t->members[r], &iov, 1, t->xmr, &t->xkeys[r],
			      pc_team_slot_off(t, PC_X_SHRINK_AREA, t->rank), idx * 8, h.seq,
			      pc_cq_encode(PC_TEAM_ID_BIT | t->peer_ids[r], PC_CQ_KIND_COUNT, idx),
			      &t->shrink_tx_done);
		if (rc) /* that peer is gone or going: it will be in D soon */
			t->shrink_tx_posted--;
	}
	return 1;
}

/* Under lock: read what arrived; merge the sets into ours. */
static void receive(shrink_t *s)
{
	pcoll_team_t *t = s->t;
	for (int r = 0; r < t->size; r++) {
		if (r == t->rank || bit(s->dead, r))
			continue;
		uint64_t f = __atomic_load_n(
		    &t->xflags[(size_t)PC_X_SHRINK_AREA * (size_t)t->size + (size_t)r],
		    __ATOMIC_ACQUIRE);
		if (f <= t->shrink_seen[r])
			continue;
		char buf[PC_XCHG_SLOT];
		memcpy(buf, t->xmem + pc_team_slot_off(t, PC_X_SHRINK_AREA, r),
		       sizeof(shrink_hdr_t) + s->nbytes);
		shrink_hdr_t h;
		memcpy(&h, buf, sizeof(h));
		if (h.seq != f || h.nbits != (uint32_t)t->size ||
		    h.sum != fnv(buf + 16, sizeof(h) - 16 + s->nbytes))
			continue; /* a newer one is landing: read it next time */
		t->shrink_seen[r] = f;
		memcpy(s->got + (size_t)r * s->nbytes, buf + sizeof(h), s->nbytes);
		s->got_id[r] = h.id;
		s->got_key[r] = h.xkey;
		s->has[r] = 1;
		for (int d = 0; d < t->size; d++) {
			if (!bit((const uint8_t *)buf + sizeof(h), d) || bit(s->dead, d))
				continue;
			char why[96];
			snprintf(why, sizeof(why), "team rank %d (job rank %d) found it gone", r,
				 t->members[r]);
			if (d == t->rank)
				continue; /* checked by decided() */
			pc_ctx_peer_told(t->ctx, t->members[d], why);
		}
	}
}

/* Under lock: 1 when every member outside D sent exactly D; -1 when one
 * of them counts us as gone. */
static int decided(shrink_t *s, int *who)
{
	pcoll_team_t *t = s->t;
	for (int r = 0; r < t->size; r++) {
		if (r == t->rank || bit(s->dead, r))
			continue;
		if (s->has[r] && bit(s->got + (size_t)r * s->nbytes, t->rank)) {
			*who = r;
			return -1;
		}
		if (!s->has[r] || memcmp(s->got + (size_t)r * s->nbytes, s->dead, s->nbytes)) {
			*who = r;
			return 0;
		}
	}
	return 1;
}

/* Under lock: the new team from the agreed set. */
static void build(shrink_t *s)
{
	pcoll_team_t *t = s->t, *nt = s->nt;
	int n = 0;
	for (int r = 0; r < t->size; r++) {
		if (bit(s->dead, r))
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
}

/* One agreement, as a wait of the engine's (which keeps every collective
 * moving, looks for dead peers and sleeps when nothing happens). */
typedef struct {
	shrink_t *s;
	uint64_t t0;
	int need_send, who;
	int verdict; /* 0: not yet; 1: agreed; PCOLL_ERR_PEER or PCOLL_ERR_TIMEOUT */
} agree_t;

/* Under lock: one round of the flooding; 1 when there is a verdict. */
static int agree_step(void *arg)
{
	agree_t *a = arg;
	shrink_t *s = a->s;
	pcoll_ctx_t *ctx = s->t->ctx;
	if (ctx->error)
		return 0; /* agree_failed reports it */
	collect(s);
	receive(s);
	collect(s);
	if (memcmp(s->sent, s->dead, s->nbytes))
		a->need_send = 1;
	if (a->need_send && broadcast(s)) /* else: once the last send is out */
		a->need_send = 0;
	int d = decided(s, &a->who);
	if (d > 0 && !a->need_send) {
		build(s);
		a->verdict = 1;
	} else if (d < 0) {
		a->verdict = PCOLL_ERR_PEER;
	} else if (ctx->cfg.timeout_ms >= 0 &&
		   pc_now_ns() - a->t0 > (uint64_t)ctx->cfg.timeout_ms * 1000000ULL) {
		a->verdict = PCOLL_ERR_TIMEOUT; /* counted from the start, not from the
						   last event: other teams may be busy */
	}
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
	if (a->verdict == PCOLL_ERR_PEER)
		return pc_error(PCOLL_ERR_PEER,
				"pcoll_team_shrink: team rank %d (job rank %d) counts this process "
				"(team rank %d, job rank %d) as gone",
				who, t->members[who], t->rank, t->ctx->rank);
	return pc_error(PCOLL_ERR_TIMEOUT,
			"pcoll_team_shrink: no agreement within %d ms: team rank %d (job rank %d) "
			"%s",
			t->ctx->cfg.timeout_ms, who, who >= 0 ? t->members[who] : -1,
			who >= 0 && a->s->has[who] ? "holds another gone set"
						   : "did not take part");
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
	agree_t a = {.s = s, .t0 = pc_now_ns(), .need_send = 1, .who = -1};
	pc_wait_t w = {
	    .done = agree_step, .arg = &a, .failed = agree_failed, .timed_out = agree_timed_out};
	int rc = pc_engine_wait_on(s->t->ctx, &w);
	if (rc)
		return a.verdict ? rc : pc_error(rc, "pcoll_team_shrink: %s", pcoll_last_error());
	return a.verdict == 1 ? 0 : agree_error(&a);
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
	shrink_t s = {.t = t, .nbytes = ((size_t)t->size + 7) / 8};
	s.dead = calloc(1, s.nbytes);
	s.sent = calloc(1, s.nbytes);
	s.got = calloc((size_t)t->size, s.nbytes);
	s.got_id = calloc((size_t)t->size, sizeof(uint32_t));
	s.got_key = calloc((size_t)t->size, sizeof(pc_tp_rkey_t));
	s.has = calloc((size_t)t->size, 1);
	int rc = 0;
	pthread_mutex_lock(&ctx->lock);
	if (!t->shrink_seen)
		t->shrink_seen = calloc((size_t)t->size, sizeof(uint64_t));
	if (!s.dead || !s.sent || !s.got || !s.got_id || !s.got_key || !s.has || !t->shrink_seen)
		rc = pc_error(PCOLL_ERR_NOMEM, "pcoll_team_shrink: out of memory");
	else /* sized for the whole old team; build() sets the size agreed on */
		rc = pc_team_alloc(ctx, t->size, 0, &s.nt, &s.nkey);
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
	free(s.dead);
	free(s.sent);
	free(s.got);
	free(s.got_id);
	free(s.got_key);
	free(s.has);
	return rc;
}
