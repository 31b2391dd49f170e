/* PCOLL_TRACE: per-process Chrome trace-event files (see trace.h). */
#include "trace.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "activation.h"
#include "config.h"
#include "round.h"

#define CHUNK_EVENTS   65536u
#define EVENTS_DEFAULT 1000000L
#define EVENTS_MAX     1000000000L
#define TRACE_DIR_MAX  3072

enum { EV_STEP, EV_FLUSH, EV_ROUND, EV_HOLD, EV_INITIATE, EV_POST };

typedef struct {
	uint64_t ts, dur; /* CLOCK_REALTIME ns */
	uint64_t round;
	uint64_t contrib; /* round: contributions; call: rounds ready (rc >= 0) */
	int64_t stale;	  /* round: staleness; call: rc; hold: 1 staleness, 0 ring */
	int64_t mine_stale;
	uint32_t coll, seq; /* the collective's id, and its lane: see slot_t */
	uint32_t flushed, mine;
	int32_t initiator; /* job rank, -1 unknown */
	uint8_t kind, mine_flushed;
} ev_t;

/* A collective as its lanes are named: the seq-th one this process traced
 * (processes create them in the same order, so seq mostly matches). */
typedef struct {
	uint32_t id;
	int mode, P, rank, S;
	size_t count;
} desc_t;

/* What the trace remembers of each live collective, by id. */
typedef struct {
	const pcoll_coll_t *coll; /* the last one seen with this id */
	uint32_t seq;
	int used;
	uint64_t last_round, join_ns, holds_seen, initiated;
	pc_hdr_t mine;
	int mine_flushed;
} slot_t;

struct pc_trace {
	int rank, size, seq;
	char path[TRACE_DIR_MAX + 64];
	ev_t **chunks;
	uint64_t n, max, dropped;
	slot_t *slots;
	uint32_t nslots;
	desc_t *descs;
	uint32_t ndescs, descs_cap;
};

static atomic_int contexts; /* traced contexts opened by this process */

uint64_t pc_trace_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int events_env(long *max)
{
	const char *v = getenv("PCOLL_TRACE_EVENTS");
	*max = EVENTS_DEFAULT;
	if (!v || !*v)
		return 0;
	char *end;
	long x = strtol(v, &end, 10);
	if (end == v || *end || x < 1 || x > EVENTS_MAX)
		return pc_error(PCOLL_ERR_INVAL,
				"PCOLL_TRACE_EVENTS=%s: expected an integer number of events "
				"(1 to 1000000000)",
				v);
	*max = x;
	return 0;
}

int pc_trace_check_env(void)
{
	long max;
	int rc = events_env(&max);
	if (rc)
		return rc;
	const char *d = getenv("PCOLL_TRACE");
	if (!d || !*d)
		return 0;
	if (strlen(d) > TRACE_DIR_MAX)
		return pc_error(PCOLL_ERR_INVAL,
				"PCOLL_TRACE=%s: expected a directory (path too long)", d);
	/* Every process may create it at once: one wins, the others see EEXIST. */
	if (mkdir(d, 0777) && errno != EEXIST)
		return pc_error(PCOLL_ERR_INVAL, "PCOLL_TRACE=%s: expected a directory (mkdir: %s)",
				d, strerror(errno));
	struct stat st;
	if (stat(d, &st))
		return pc_error(PCOLL_ERR_INVAL, "PCOLL_TRACE=%s: expected a directory (%s)", d,
				strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return pc_error(PCOLL_ERR_INVAL,
				"PCOLL_TRACE=%s: expected a directory (not a directory)", d);
	if (access(d, W_OK | X_OK))
		return pc_error(PCOLL_ERR_INVAL,
				"PCOLL_TRACE=%s: expected a directory this process can write (%s)",
				d, strerror(errno));
	return 0;
}

struct pc_trace *pc_trace_open(int rank, int size)
{
	const char *d = getenv("PCOLL_TRACE");
	long max;
	if (!d || !*d || events_env(&max)) /* validated at init: only off here */
		return NULL;
	struct pc_trace *t = calloc(1, sizeof(*t));
	uint64_t nch = ((uint64_t)max + CHUNK_EVENTS - 1) / CHUNK_EVENTS;
	if (t)
		t->chunks = calloc(nch, sizeof(*t->chunks));
	if (!t || !t->chunks) {
		free(t);
		fprintf(stderr, "pcoll: rank %d: PCOLL_TRACE: out of memory, not tracing\n", rank);
		return NULL;
	}
	t->rank = rank;
	t->size = size;
	t->max = (uint64_t)max;
	t->seq = atomic_fetch_add(&contexts, 1);
	/* The first context of a process is pcoll-trace.<rank>.json; later ones
	 * (a test that opens several) get the context's sequence number too. */
	if (t->seq)
		snprintf(t->path, sizeof(t->path), "%s/pcoll-trace.%d.%d.json", d, rank, t->seq);
	else
		snprintf(t->path, sizeof(t->path), "%s/pcoll-trace.%d.json", d, rank);
	return t;
}

static ev_t *ev_new(struct pc_trace *t, int kind)
{
	if (t->n >= t->max) {
		t->dropped++;
		return NULL;
	}
	uint64_t ch = t->n / CHUNK_EVENTS;
	if (!t->chunks[ch] && !(t->chunks[ch] = malloc(CHUNK_EVENTS * sizeof(ev_t)))) {
		t->dropped++;
		return NULL;
	}
	ev_t *e = &t->chunks[ch][t->n++ % CHUNK_EVENTS];
	memset(e, 0, sizeof(*e));
	e->kind = (uint8_t)kind;
	e->initiator = -1;
	return e;
}

static ev_t *ev_at(const struct pc_trace *t, uint64_t i)
{
	return &t->chunks[i / CHUNK_EVENTS][i % CHUNK_EVENTS];
}

/* The collective's slot; NULL when out of memory. A different collective
 * with the id (created after one was destroyed) starts a new generation. */
static slot_t *slot_of(struct pc_trace *t, const pcoll_coll_t *c)
{
	if (c->id >= t->nslots) {
		uint32_t n = c->id + 8;
		slot_t *s = realloc(t->slots, n * sizeof(*s));
		if (!s)
			return NULL;
		memset(s + t->nslots, 0, (n - t->nslots) * sizeof(*s));
		t->slots = s;
		t->nslots = n;
	}
	slot_t *s = &t->slots[c->id];
	if (s->used && s->coll == c && c->rs.completed >= s->last_round)
		return s;
	if (t->ndescs == t->descs_cap) {
		uint32_t n = t->descs_cap ? 2 * t->descs_cap : 16;
		desc_t *d = realloc(t->descs, n * sizeof(*d));
		if (!d)
			return NULL;
		t->descs = d;
		t->descs_cap = n;
	}
	t->descs[t->ndescs] = (desc_t){.id = c->id,
				       .mode = c->attr.mode,
				       .P = c->P,
				       .rank = c->rank,
				       .S = c->attr.staleness,
				       .count = c->count};
	s->seq = t->ndescs++;
	s->used = 1;
	s->coll = c;
	s->last_round = 0;
	s->holds_seen = 0;
	s->initiated = 0;
	s->join_ns = 0;
	return s;
}

static ev_t *coll_ev(pcoll_coll_t *c, int kind, slot_t **sp)
{
	struct pc_trace *t = c->ctx->trace;
	slot_t *s = slot_of(t, c);
	ev_t *e = s ? ev_new(t, kind) : NULL;
	if (!s)
		t->dropped++;
	if (e) {
		e->coll = c->id;
		e->seq = s->seq;
	}
	if (sp)
		*sp = s;
	return e;
}

void pc_trace_call(pcoll_coll_t *c, int kind, uint64_t t0, int rc)
{
	uint64_t now = pc_trace_clock();
	int k = kind == PC_TRACE_FLUSH ? EV_FLUSH : kind == PC_TRACE_POST ? EV_POST : EV_STEP;
	if (k != EV_POST && !t0)
		return; /* tracing began during the call: cannot happen */
	ev_t *e = coll_ev(c, k, NULL);
	if (!e)
		return;
	if (k == EV_POST)
		t0 = now;
	e->ts = t0;
	e->dur = now - t0;
	e->round = kind == PC_TRACE_FLUSH ? c->rs.completed : c->step_target;
	e->contrib = rc > 0 ? (uint64_t)rc : 0;
	e->stale = rc < 0 ? rc : 0;
}

void pc_trace_initiate(pcoll_coll_t *c, uint64_t r)
{
	slot_t *s;
	ev_t *e = coll_ev(c, EV_INITIATE, &s);
	if (s)
		s->initiated = r;
	if (!e)
		return;
	e->ts = pc_trace_clock();
	e->round = r;
	e->initiator = c->ctx->rank;
}

void pc_trace_join(pcoll_coll_t *c, uint64_t r, const pc_hdr_t *mine)
{
	struct pc_trace *t = c->ctx->trace;
	slot_t *s = slot_of(t, c);
	if (!s)
		return;
	s->join_ns = pc_trace_clock();
	s->mine = *mine;
	s->mine.round = r;
	s->mine_flushed = c->rs.flushed;
}

void pc_trace_round(pcoll_coll_t *c, const pc_hdr_t *h)
{
	slot_t *s;
	ev_t *e = coll_ev(c, EV_ROUND, &s);
	if (!e)
		return;
	uint64_t now = pc_trace_clock();
	int joined = s->mine.round == h->round && s->join_ns;
	e->ts = joined ? s->join_ns : now;
	e->dur = joined ? now - s->join_ns : 0;
	e->round = h->round;
	e->contrib = h->contributions;
	e->stale = h->staleness;
	e->flushed = (uint32_t)h->flushed;
	e->mine = joined ? (uint32_t)s->mine.contributions : 0;
	e->mine_stale = joined ? s->mine.staleness : -1;
	e->mine_flushed = (uint8_t)(joined && s->mine_flushed);
	/* Who triggered it, where this process knows: itself, the seeded
	 * initiator of majority, the root of quorum. Solo and sync: the merge
	 * finds initiators from the processes' "initiate" events. */
	if (s->initiated == h->round)
		e->initiator = c->ctx->rank;
	else if (c->attr.mode == PCOLL_MAJORITY)
		e->initiator = c->team->members[pc_initiator(c->attr.seed, h->round, c->P)];
	else if (c->attr.mode == PCOLL_QUORUM)
		e->initiator = c->team->members[0];
	s->last_round = h->round;
}

void pc_trace_holds(pcoll_coll_t *c)
{
	if (c->rs.holds == 0)
		return;
	struct pc_trace *t = c->ctx->trace;
	slot_t *s = slot_of(t, c);
	if (!s || c->rs.holds == s->holds_seen)
		return;
	s->holds_seen = c->rs.holds;
	ev_t *e = coll_ev(c, EV_HOLD, NULL);
	if (!e)
		return;
	e->ts = pc_trace_clock();
	e->round = c->rs.held_round;
	/* Held by the staleness bound, or by a full ring of result buffers. */
	e->stale = pc_rs_holds(&c->rs, c->rs.held_round);
	e->contrib = c->rs.holds;
}

/* ---- writing the file */

static void us(FILE *f, const char *key, uint64_t ns)
{
	fprintf(f, ",\"%s\":%llu.%03u", key, (unsigned long long)(ns / 1000),
		(unsigned)(ns % 1000));
}

static void write_event(FILE *f, const struct pc_trace *t, const ev_t *e)
{
	/* Two lanes per collective: its calls, and its rounds with their holds
	 * and initiations (rounds overlap calls, never each other). */
	unsigned lane = 1 + 2 * e->seq +
			(e->kind == EV_STEP || e->kind == EV_FLUSH || e->kind == EV_POST ? 0 : 1);
	static const char *name[] = {"step", "flush", "round", "hold", "initiate", "step_post"};
	fprintf(f, ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"%s\",\"pid\":%d,\"tid\":%u",
		name[e->kind], name[e->kind],
		e->kind == EV_STEP || e->kind == EV_FLUSH || e->kind == EV_ROUND ? "X" : "i",
		t->rank, lane);
	us(f, "ts", e->ts);
	if (e->kind <= EV_ROUND)
		us(f, "dur", e->dur);
	else
		fprintf(f, ",\"s\":\"t\"");
	fprintf(f, ",\"args\":{\"coll\":%u,\"seq\":%u", e->coll, e->seq);
	switch (e->kind) {
	case EV_POST:
		fprintf(f, ",\"round\":%llu,\"rc\":%lld", (unsigned long long)e->round,
			(long long)e->stale);
		break;
	case EV_STEP:
	case EV_FLUSH:
		fprintf(f, ",\"round\":%llu,\"ready\":%llu,\"rc\":%lld",
			(unsigned long long)e->round, (unsigned long long)e->contrib,
			(long long)e->stale);
		us(f, "wait_us", e->dur);
		break;
	case EV_ROUND:
		fprintf(f,
			",\"index\":%llu,\"contributions\":%llu,\"staleness\":%lld,\"flushed\":%u,"
			"\"mine\":%u,\"mine_staleness\":%lld,\"mine_flushed\":%u",
			(unsigned long long)e->round, (unsigned long long)e->contrib,
			(long long)e->stale, e->flushed, e->mine, (long long)e->mine_stale,
			e->mine_flushed);
		if (e->initiator >= 0)
			fprintf(f, ",\"initiator\":%d", e->initiator);
		break;
	case EV_HOLD:
		fprintf(f, ",\"round\":%llu,\"why\":\"%s\",\"holds\":%llu",
			(unsigned long long)e->round, e->stale ? "staleness" : "ring",
			(unsigned long long)e->contrib);
		break;
	default:
		fprintf(f, ",\"round\":%llu", (unsigned long long)e->round);
		break;
	}
	fputs("}}", f);
}

static int write_file(const struct pc_trace *t)
{
	char tmp[sizeof(t->path) + 16];
	snprintf(tmp, sizeof(tmp), "%s.tmp", t->path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	for (char *p = host; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 32)
			*p = '?';
	static const char *modes[] = {"sync", "solo", "majority", "quorum"};
	fprintf(f,
		"{\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
		"\"args\":{\"name\":\"rank %d (%s pid %d)\"}},\n"
		"{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
		"\"args\":{\"sort_index\":%d}}",
		t->rank, t->rank, host, (int)getpid(), t->rank, t->rank);
	for (uint32_t i = 0; i < t->ndescs; i++) {
		const desc_t *d = &t->descs[i];
		const char *m = (unsigned)d->mode < 4 ? modes[d->mode] : "?";
		for (int l = 0; l < 2; l++)
			fprintf(
			    f,
			    ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%u,"
			    "\"args\":{\"name\":\"#%u %s P=%d S=%d count=%zu (id %u): %s\"}},"
			    "\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%u,"
			    "\"args\":{\"sort_index\":%u}}",
			    t->rank, 1 + 2 * i + l, i, m, d->P, d->S, d->count, d->id,
			    l ? "rounds" : "calls", t->rank, 1 + 2 * i + l, 1 + 2 * i + l);
	}
	for (uint64_t i = 0; i < t->n; i++)
		write_event(f, t, ev_at(t, i));
	fprintf(f,
		"\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"pcoll_version\":\"%s\","
		"\"rank\":%d,\"size\":%d,\"context\":%d,\"host\":\"%s\",\"pid\":%d,"
		"\"clock\":\"CLOCK_REALTIME\",\"events\":%llu,\"dropped\":%llu,"
		"\"max_events\":%llu}}\n",
		PACKAGE_VERSION, t->rank, t->size, t->seq, host, (int)getpid(),
		(unsigned long long)t->n, (unsigned long long)t->dropped,
		(unsigned long long)t->max);
	int bad = ferror(f);
	if (fclose(f) || bad || rename(tmp, t->path)) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

void pc_trace_close(struct pc_trace *t, int write)
{
	if (!t)
		return;
	if (write && write_file(t))
		fprintf(stderr, "pcoll: rank %d: PCOLL_TRACE: cannot write %s: %s\n", t->rank,
			t->path, strerror(errno));
	else if (write && t->dropped)
		fprintf(stderr,
			"pcoll: rank %d: PCOLL_TRACE: %llu events dropped after %llu "
			"(PCOLL_TRACE_EVENTS)\n",
			t->rank, (unsigned long long)t->dropped, (unsigned long long)t->max);
	for (uint64_t i = 0; i * CHUNK_EVENTS < t->max; i++)
		free(t->chunks[i]);
	free(t->chunks);
	free(t->slots);
	free(t->descs);
	free(t);
}
