/* Context: configuration, wireup, the endpoint, the progress thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pcoll_internal.h"
#include "trace.h"

#define ADDR_MAX 504
typedef struct {
	uint32_t len;
	uint32_t notify;
	int32_t err;	   /* nonzero: this process failed its configuration or endpoint */
	uint32_t world_id; /* the id of the context's team here (CQ data) */
	pc_tp_rkey_t xkey; /* that team's exchange region */
	pc_proc_id_t proc;
	char addr[ADDR_MAX];
} addr_blob_t;

void pcoll_config_init(pcoll_config_t *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->provider = NULL;
	cfg->notify = PCOLL_NOTIFY_AUTO;
	cfg->timeout_ms = 0;
	cfg->progress_thread = 1;
	cfg->bind_progress_thread = 1;
	cfg->idle_sleep_max_us = 0;
}

/* Upper bound of PCOLL_TIMEOUT_MS: about 23 days, and far enough below
 * INT_MAX that rounding it up to seconds cannot overflow. */
#define PC_ENV_TIMEOUT_MS_MAX	 2000000000L
#define PC_ENV_IDLE_SLEEP_US_MAX 1000000L

static int resolve_config(pcoll_config_t *c, const pcoll_config_t *in, int *hugepages)
{
	if (in)
		*c = *in;
	else
		pcoll_config_init(c);
	if (!c->provider || !*c->provider) {
		const char *p = getenv("PCOLL_PROVIDER");
		if (!p || !*p)
			p = getenv("FI_PROVIDER");
		c->provider = p && *p ? p : NULL;
	}
	if (c->notify == PCOLL_NOTIFY_AUTO) {
		const char *n = getenv("PCOLL_NOTIFY");
		if (n && (!strcmp(n, "cntr") || !strcmp(n, "counter")))
			c->notify = PCOLL_NOTIFY_CNTR;
		else if (n && !strcmp(n, "cqdata"))
			c->notify = PCOLL_NOTIFY_CQDATA;
		else if (n && *n && strcmp(n, "auto"))
			return pc_error(PCOLL_ERR_INVAL,
					"PCOLL_NOTIFY=%s: expected cntr, cqdata or auto", n);
	} else if (c->notify != PCOLL_NOTIFY_CNTR && c->notify != PCOLL_NOTIFY_CQDATA) {
		return pc_error(PCOLL_ERR_INVAL, "config.notify %d is not a pcoll_notify_t",
				(int)c->notify);
	}
	/* Every variable is checked where it is read: a bad value is an error,
	 * never a silent default (atoi made "abc" and 0 "no timeout", and -5 us
	 * an idle sleep of 71 minutes). */
	if (c->timeout_ms == 0) {
		int t = 300000;
		if (pc_env_int("PCOLL_TIMEOUT_MS", -1, PC_ENV_TIMEOUT_MS_MAX, &t) < 0 || t == 0)
			return pc_env_error("PCOLL_TIMEOUT_MS",
					    "an integer number of milliseconds (1 to 2000000000, "
					    "or -1 for no timeout)");
		c->timeout_ms = t;
	}
	if (c->idle_sleep_max_us == 0) {
		int us = 1000;
		if (pc_env_int("PCOLL_IDLE_SLEEP_US", 1, PC_ENV_IDLE_SLEEP_US_MAX, &us) < 0)
			return pc_env_error("PCOLL_IDLE_SLEEP_US",
					    "an integer number of microseconds (1 to 1000000)");
		c->idle_sleep_max_us = (unsigned)us;
	} else if (c->idle_sleep_max_us > PC_ENV_IDLE_SLEEP_US_MAX) {
		return pc_error(PCOLL_ERR_INVAL,
				"config.idle_sleep_max_us %u: expected 1 to 1000000 "
				"microseconds (0: PCOLL_IDLE_SLEEP_US or 1000)",
				c->idle_sleep_max_us);
	}
	if (pc_env_int("PCOLL_PROGRESS_THREAD", 0, 1, &c->progress_thread) < 0)
		return pc_env_error("PCOLL_PROGRESS_THREAD", "0 or 1");
	if (pc_env_int("PCOLL_HUGEPAGES", 0, 1, hugepages) < 0)
		return pc_env_error("PCOLL_HUGEPAGES", "0 or 1");
	return pc_trace_check_env(); /* PCOLL_TRACE, PCOLL_TRACE_EVENTS */
}

/* The wireup learnt that a process is gone: every blocked and later call on
 * the teams it is in fails with PCOLL_ERR_PEER naming it (sticky). */
static void ctx_peer_lost(void *arg, int rank, const char *why)
{
	pcoll_ctx_t *ctx = arg;
	char msg[128];
	snprintf(msg, sizeof(msg), "PMIx event: %s", why);
	pthread_mutex_lock(&ctx->lock);
	pc_ctx_peer_gone(ctx, rank, msg);
	pthread_mutex_unlock(&ctx->lock);
}

static void peer_gone(pcoll_ctx_t *ctx, int r, const char *why, int told)
{
	if (r < 0 || r >= ctx->size || !ctx->gone || ctx->gone[r] || r == ctx->rank)
		return;
	ctx->gone[r] = 1;
	ctx->ngone++;
	if (ctx->tp)
		pc_tp_peer_lost(ctx->tp, r);
	if (!told && ctx->announce) {
		ctx->announce[r] = 1;
		ctx->nannounce++;
	}
	pc_team_member_gone(ctx, r, why);
}

void pc_ctx_peer_gone(pcoll_ctx_t *ctx, int r, const char *why)
{
	peer_gone(ctx, r, why, 0);
}

void pc_ctx_peer_told(pcoll_ctx_t *ctx, int r, const char *why)
{
	peer_gone(ctx, r, why, 1);
}

/* The transport's write to a peer failed. A refused or reset connection
 * (certain) means the peer is gone, and so does any error from one we cannot
 * see. A peer that provably still runs on this node may not be:
 * - libfabric 1.17's shm fails a large write to a live peer with EIO now and
 *   then right after another peer's death (about once in 170 kill tests);
 * - its tcp breaks a connection to a live peer (ENOTCONN) now and then during
 *   a shrink that another death interrupts (about once in 25 launches of
 *   mp-kill's "rank 3 of 5 killed in the shrink", tcp).
 * Taking that for a death shuts a live process out of the shrink: the
 * survivors split into teams of one. But a killed process resets its
 * connections before /proc shows it gone, so a reset from a pid that looks
 * alive is looked at again for LOOK_AGAIN_MS first. A peer still alive then
 * stays a member: with a death known (after looking now), the write was a
 * casualty of it, and the teams it could belong to have failed already (a
 * shrink resends its state); with none, the teams with that peer fail. */
#define LOOK_AGAIN_MS 100

static int still_alive(pcoll_ctx_t *ctx, int rank, int certain)
{
	const pc_proc_id_t *peer = &ctx->procs[rank], *me = &ctx->procs[ctx->rank];
	if (!pc_liveness_alive(peer, me))
		return 0;
	/* Under the lock, but rare: once per live-looking peer, not per failed
	 * write (a broken connection fails every write queued on it). */
	if (!certain || ctx->relooked[rank])
		return 1;
	ctx->relooked[rank] = 1;
	for (int ms = 0; ms < LOOK_AGAIN_MS; ms += 5) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
		if (!pc_liveness_alive(peer, me))
			return 0;
	}
	return 1;
}

static void ctx_write_failed(void *arg, int rank, int certain, const char *why)
{
	pcoll_ctx_t *ctx = arg;
	if (rank < 0 || rank >= ctx->size || !ctx->procs || !still_alive(ctx, rank, certain)) {
		pc_ctx_peer_gone(ctx, rank, why);
		return;
	}
	pc_ctx_check_peers(ctx);
	if (!ctx->ngone) {
		pc_team_member_unreachable(ctx, rank, why);
		ctx->nunreachable++; /* finalize will not wait for that peer */
	}
}

/* Under lock, from a send that cannot be queued: is its target gone? A
 * same-node peer is looked up at most every 200 ms while the send waits. */
static int ctx_peer_is_gone(void *arg, int rank)
{
	pcoll_ctx_t *ctx = arg;
	if (rank < 0 || rank >= ctx->size || !ctx->gone)
		return 0;
	uint64_t now = pc_now_ns();
	if (!ctx->gone[rank] && now - ctx->send_live_ns > 200000000ULL) {
		ctx->send_live_ns = now;
		pc_ctx_check_peers(ctx);
	}
	return ctx->gone[rank];
}

/* Under lock, from the transport: a write into our memory failed without
 * naming its sender (on shm, the large write of a process that just died). */
static void ctx_look_now(void *arg)
{
	pc_ctx_check_peers(arg);
}

static int shm_provider(pc_tp_t *tp)
{
	pc_tp_info_t ti;
	pc_tp_query(tp, &ti);
	return !strncmp(ti.provider, "shm", 3);
}

int pc_ctx_check_peers(pcoll_ctx_t *ctx)
{
	if (!ctx->procs || !ctx->gone)
		return 0;
	int before = ctx->ngone;
	pc_notice_scan(ctx); /* the counter path has no CQ entry to wake us */
	for (int r = 0; r < ctx->size; r++) {
		if (r == ctx->rank || ctx->gone[r] ||
		    !pc_liveness_gone(&ctx->procs[r], &ctx->procs[ctx->rank]))
			continue;
		char why[64];
		snprintf(why, sizeof(why), "pid %d on this node has exited",
			 (int)ctx->procs[r].pid);
		pc_ctx_peer_gone(ctx, r, why);
	}
	return ctx->ngone - before;
}

void pc_ctx_free(pcoll_ctx_t *ctx)
{
	if (ctx->teams)
		pc_team_free_parked(ctx);
	if (ctx->world) {
		pc_team_free(ctx->world);
		ctx->world = NULL;
	}
	pc_tp_close(ctx->tp);
	pc_topo_fini(&ctx->topo);
	pthread_mutex_destroy(&ctx->lock);
	pthread_cond_destroy(&ctx->cv);
	pthread_cond_destroy(&ctx->busy_cv);
	free(ctx->colls);
	free(ctx->teams);
	free(ctx->procs);
	free(ctx->gone);
	free(ctx->announce);
	free(ctx->relooked);
	pc_trace_close(ctx->trace, 0); /* a failed init; finalize wrote it */
	free(ctx);
}

int pcoll_init(const pcoll_config_t *cfg, pcoll_ctx_t **out)
{
	pc_error_clear();
	if (!out)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_init: ctx pointer is NULL");
	*out = NULL;
	pc_tp_preinit();
	pcoll_ctx_t *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return pc_error(PCOLL_ERR_NOMEM, "pcoll_init: out of memory");
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_cond_init(&ctx->cv, NULL);
	pthread_cond_init(&ctx->busy_cv, NULL);
	/* A caller built against an older header passes a shorter struct: the
	 * fields it did not know keep their defaults. */
	pcoll_config_t full;
	pcoll_config_init(&full);
	if (cfg && (cfg->size < PC_CONFIG_SIZE_MIN || cfg->size > sizeof(full))) {
		pc_ctx_free(ctx);
		return pc_error(PCOLL_ERR_INVAL,
				"pcoll_init: cfg.size is %zu: fill the configuration with "
				"pcoll_config_init() first",
				cfg->size);
	}
	if (cfg)
		memcpy(&full, cfg, cfg->size);
	/* Every public call takes the engine lock, so both levels are kept by
	 * the same code; the level is checked so that a typo is not a promise. */
	if (full.thread_level != PCOLL_THREAD_SERIALIZED &&
	    full.thread_level != PCOLL_THREAD_MULTIPLE) {
		pc_ctx_free(ctx);
		return pc_error(PCOLL_ERR_INVAL,
				"pcoll_init: cfg.thread_level %d is not a "
				"pcoll_thread_level_t",
				(int)full.thread_level);
	}
	/* A bad configuration on some processes only (one rank's environment)
	 * must not leave the others in the fence until it times out: take part
	 * in the wireup with the defaults and publish the error instead. */
	char cfg_why[256] = "";
	ctx->hugepages = 1;
	int bad_cfg = resolve_config(&ctx->cfg, &full, &ctx->hugepages);
	if (bad_cfg) {
		snprintf(cfg_why, sizeof(cfg_why), "%s", pcoll_last_error());
		pcoll_config_init(&ctx->cfg);
		ctx->cfg.oob = full.oob;
		ctx->cfg.timeout_ms = 300000;
		ctx->cfg.idle_sleep_max_us = 1000;
	}
	int rc;
	ctx->wu.peer_lost = ctx_peer_lost;
	ctx->wu.peer_lost_arg = ctx;
	rc = pc_wireup_init(&ctx->wu, &ctx->cfg.oob, ctx->cfg.timeout_ms);
	if (rc) {
		pc_ctx_free(ctx);
		return rc;
	}
	ctx->rank = ctx->wu.rank;
	ctx->size = ctx->wu.size;
	pc_topo_init(&ctx->topo);
	/* The NIC: PCOLL_NIC if set (a libfabric domain name: tcp's interface,
	 * verbs' device), else the one hwloc finds near this process, where the
	 * provider offers it; else libfabric's first choice. */
	const char *nic = getenv("PCOLL_NIC");
	int nic_required = nic && *nic;
	if (!nic_required)
		nic = strcmp(ctx->topo.nic, "none") ? ctx->topo.nic : NULL;
	pc_tp_cfg_t tc = {.nic = nic,
			  .nic_required = nic_required,
			  .provider = ctx->cfg.provider,
			  .notify = ctx->cfg.notify,
			  .timeout_ms = ctx->cfg.timeout_ms,
			  .notify_fn = pc_coll_notify,
			  .notify_arg = ctx,
			  .lost_fn = ctx_write_failed,
			  .gone_fn = ctx_peer_is_gone,
			  .look_fn = ctx_look_now};
	int local = bad_cfg ? bad_cfg : pc_tp_open(&tc, &ctx->tp);
	/* Publish the address even on failure, so every process learns that one
	 * failed instead of hanging in the fence. */
	addr_blob_t mine = {0};
	pc_liveness_self(&mine.proc);
	char why[256] = "";
	if (local == 0) {
		size_t len = ADDR_MAX;
		local = pc_tp_getname(ctx->tp, mine.addr, &len);
		mine.len = (uint32_t)len;
		pc_tp_info_t ti;
		pc_tp_query(ctx->tp, &ti);
		mine.notify = (uint32_t)ti.notify;
		ctx->mr_local = ti.mr_local;
		ctx->notify_cntr = ti.notify == PCOLL_NOTIFY_CNTR;
	}
	/* The context's team: its exchange region goes out with the address. */
	if (local == 0) {
		pthread_mutex_lock(&ctx->lock);
		local = pc_team_alloc(ctx, ctx->size, ctx->rank, &ctx->world, &mine.xkey);
		pthread_mutex_unlock(&ctx->lock);
		if (local)
			mine.len = 0; /* counts as a failed endpoint everywhere */
		else
			mine.world_id = ctx->world->id;
	}
	mine.err = local;
	if (local)
		snprintf(why, sizeof(why), "%s", bad_cfg ? cfg_why : pcoll_last_error());
	addr_blob_t *all = calloc((size_t)ctx->size, sizeof(*all));
	if (!all) {
		rc = pc_error(PCOLL_ERR_NOMEM, "pcoll_init: out of memory");
		goto fail;
	}
	rc = pc_wireup_allgather(&ctx->wu, &mine, sizeof(mine), all);
	if (rc)
		goto fail;
	if (local) {
		rc = pc_error(local, "rank %d: %s", ctx->rank, why);
		goto fail;
	}
	for (int r = 0; r < ctx->size; r++) {
		if (all[r].err == PCOLL_ERR_INVAL) {
			rc = pc_error(PCOLL_ERR_MISMATCH, "rank %d rejected its configuration", r);
			goto fail;
		}
		if (all[r].len == 0) {
			rc = pc_error(PCOLL_ERR_PEER, "rank %d failed to open its endpoint (%s)", r,
				      pcoll_strerror(all[r].err));
			goto fail;
		}
		if (all[r].notify != mine.notify) {
			rc = pc_error(PCOLL_ERR_MISMATCH,
				      "rank %d uses notification path %u, rank %d uses %u", r,
				      all[r].notify, ctx->rank, mine.notify);
			goto fail;
		}
		/* shm reaches only this kernel's processes: across nodes it would
		 * wait for writes that can never arrive, until the timeout. Every
		 * process sees the same table, so every one fails here. */
		if (all[r].proc.kernel != mine.proc.kernel && shm_provider(ctx->tp)) {
			rc = pc_error(PCOLL_ERR_UNSUPPORTED,
				      "rank %d: provider shm reaches only processes on one node, "
				      "but rank %d runs on another; choose a network provider "
				      "(PCOLL_PROVIDER=tcp, verbs, ...)",
				      ctx->rank, r);
			goto fail;
		}
	}
	/* Addresses are fixed-size per provider; insert with the common length. */
	ctx->procs = calloc((size_t)ctx->size, sizeof(*ctx->procs));
	ctx->gone = calloc((size_t)ctx->size, 1);
	ctx->announce = calloc((size_t)ctx->size, 1);
	ctx->relooked = calloc((size_t)ctx->size, 1);
	char *addrs = ctx->procs && ctx->gone && ctx->announce && ctx->relooked
			  ? malloc((size_t)ctx->size * ADDR_MAX)
			  : NULL;
	if (!addrs) {
		rc = pc_error(PCOLL_ERR_NOMEM, "pcoll_init: out of memory");
		goto fail;
	}
	for (int r = 0; r < ctx->size; r++) {
		memcpy(addrs + (size_t)r * ADDR_MAX, all[r].addr, ADDR_MAX);
		ctx->procs[r] = all[r].proc;
		ctx->world->members[r] = r;
		ctx->world->peer_ids[r] = all[r].world_id;
		ctx->world->xkeys[r] = all[r].xkey;
	}
	rc = pc_tp_set_peers(ctx->tp, addrs, ADDR_MAX, ctx->size);
	free(addrs);
	free(all);
	all = NULL;
	if (rc)
		goto fail;
	ctx->trace = pc_trace_open(ctx->rank, ctx->size); /* before the thread reads it */
	if (ctx->cfg.progress_thread) {
		rc = pc_engine_start_thread(ctx);
		if (rc)
			goto fail;
	} else {
		snprintf(ctx->progress_cpuset, sizeof(ctx->progress_cpuset), "none");
	}
	*out = ctx;
	return 0;
fail:
	free(all);
	pc_wireup_fini(&ctx->wu);
	pc_ctx_free(ctx);
	return rc;
}

int pcoll_finalize(pcoll_ctx_t *ctx)
{
	pc_error_clear();
	if (!ctx)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_finalize: ctx is NULL");
	if (ctx->finalized)
		return pc_error(PCOLL_ERR_STATE, "pcoll_finalize: already finalized");
	pc_engine_stop_thread(ctx);
	/* Everyone stops writing before anyone closes its endpoint -- unless
	 * the context has failed (a peer gone or unreachable, or pcoll_abort):
	 * then nobody is to be met, and waiting would only last until the fence
	 * timeout, keeping the peers from seeing that we are gone. */
	pthread_mutex_lock(&ctx->lock);
	int failed = ctx->error || ctx->ngone || ctx->nunreachable;
	if (ctx->nannounce) /* before we go: the others must learn who is gone */
		pc_notice_announce(ctx);
	pthread_mutex_unlock(&ctx->lock);
	int rc = failed ? 0 : pc_wireup_barrier(&ctx->wu);
	pthread_mutex_lock(&ctx->lock);
	for (uint32_t i = 0; i < ctx->ncolls_cap; i++) {
		pcoll_coll_t *c = ctx->colls[i];
		if (c) {
			pc_engine_quiesce(c);
			pc_coll_release_fabric(c);
			c->dead = 1;
			pc_engine_forget(c);
		}
	}
	/* Teams the user has not destroyed stay allocated until they are (their
	 * destroy then only frees); their regions go now, with the endpoint. */
	for (uint32_t i = 0; i < ctx->nteams_cap; i++) {
		if (ctx->teams[i])
			pc_team_release_fabric(ctx->teams[i]);
	}
	ctx->finalized = 1;
	pc_trace_close(ctx->trace, 1); /* the progress thread has stopped */
	ctx->trace = NULL;
	pc_tp_close(ctx->tp);
	ctx->tp = NULL;
	int live = ctx->live_colls + ctx->live_teams;
	pthread_mutex_unlock(&ctx->lock);
	pc_wireup_fini(&ctx->wu);
	if (live == 0)
		pc_ctx_free(ctx);
	return rc;
}

int pcoll_abort(pcoll_ctx_t *ctx)
{
	pc_error_clear();
	if (!ctx)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_abort: ctx is NULL");
	if (ctx->finalized)
		return pc_error(PCOLL_ERR_STATE, "pcoll_abort: already finalized");
	pthread_mutex_lock(&ctx->lock);
	if (!ctx->error) {
		ctx->error = PCOLL_ERR_STATE;
		snprintf(ctx->errmsg, sizeof(ctx->errmsg), "job rank %d aborted its context",
			 ctx->rank);
	}
	pthread_mutex_unlock(&ctx->lock);
	return pcoll_finalize(ctx);
}

int pcoll_rank(const pcoll_ctx_t *ctx)
{
	return ctx ? ctx->rank : PCOLL_ERR_INVAL;
}

int pcoll_size(const pcoll_ctx_t *ctx)
{
	return ctx ? ctx->size : PCOLL_ERR_INVAL;
}

int pcoll_ctx_query(const pcoll_ctx_t *ctx, pcoll_ctx_info_t *info)
{
	if (!ctx || !info)
		return pc_error(PCOLL_ERR_INVAL, "pcoll_ctx_query: NULL argument");
	if (ctx->finalized)
		return pc_error(PCOLL_ERR_FINALIZED, "pcoll_ctx_query: context finalized");
	memset(info, 0, sizeof(*info));
	pc_tp_info_t ti;
	pc_tp_query(ctx->tp, &ti);
	snprintf(info->provider, sizeof(info->provider), "%s", ti.provider);
	snprintf(info->fabric, sizeof(info->fabric), "%s", ti.fabric);
	snprintf(info->domain, sizeof(info->domain), "%s", ti.domain);
	pc_tp_addr_str(ctx->tp, info->endpoint, sizeof(info->endpoint));
	/* What hwloc found, and whether it chose libfabric's domain. */
	if (!strcmp(ti.nic_choice, "PCOLL_NIC"))
		snprintf(info->nic, sizeof(info->nic), "%.48s (PCOLL_NIC)", ti.domain);
	else if (!strcmp(ctx->topo.nic, "none"))
		snprintf(info->nic, sizeof(info->nic), "none");
	else
		snprintf(info->nic, sizeof(info->nic), "%.40s (%s)", ctx->topo.nic,
			 strcmp(ti.nic_choice, "hwloc") ? "not offered" : "used");
	snprintf(info->wireup, sizeof(info->wireup), "%s", ctx->wu.ops->name);
	snprintf(info->wait, sizeof(info->wait), "%s", ti.wait_fd ? "fd" : "sleep");
	/* The progress thread writes where it was placed once it runs. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&ctx->lock;
	pthread_mutex_lock(lock);
	snprintf(info->progress_cpuset, sizeof(info->progress_cpuset), "%s",
		 ctx->progress_cpuset[0] ? ctx->progress_cpuset : "pending");
	pthread_mutex_unlock(lock);
	info->notify = (pcoll_notify_t)ti.notify;
	info->progress_thread = ctx->cfg.progress_thread;
	info->manual_progress = ti.manual_progress;
	info->rma_event = ti.rma_event;
	info->cq_data = ti.cq_data;
	info->timeout_ms = ctx->cfg.timeout_ms;
	info->idle_sleep_max_us = ctx->cfg.idle_sleep_max_us;
	return 0;
}
