/*
 * libfabric back-end of the transport interface: FI_EP_RDM endpoint, one AV
 * (FI_AV_TABLE), one CQ for local completions and remote CQ data, and on the
 * counter path one remote counter (FI_RMA_EVENT) used as the doorbell. On
 * shm, a peer's death can make this process send from a fresh endpoint (see
 * renew_tx); peers keep writing to the first one.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "error.h"
#include "shm_region.h"
#include "transport.h"

/* Operation context: first member is what FI_CONTEXT/FI_CONTEXT2 need. */
typedef struct pc_opctx {
	struct fi_context2 fctx;
	uint64_t *done;
	int peer;     /* the write's target: an error completion names it */
	int large;    /* not injected: on shm its local completion waits for the target */
	unsigned gen; /* the sending endpoint it was posted on (pc_tp.tx_gen) */
	uint64_t key, addr, len;      /* the words it writes there (unordered writes) */
	struct pc_opctx *next, *prev; /* free list, or the in-flight list */
} pc_opctx_t;

struct pc_tp_mr {
	struct fid_mr *mr;
	void *desc;
};

struct pc_tp {
	pc_tp_cfg_t cfg;
	pc_tp_info_t info;
	struct fi_info *fi;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_cntr *rcntr;
	struct fid_ep *ep; /* the endpoint peers write to */
	fi_addr_t *peers;
	int npeers;
	/* The endpoint this process sends from: ep, or after a peer's death on
	 * shm a fresh one (renew_tx), with its own AV; tx_gen counts them. */
	struct fid_ep *tx_ep;
	struct fid_av *tx_av;
	fi_addr_t *tx_peers;
	unsigned tx_gen;
	struct fid **retired; /* earlier fresh endpoints and AVs, closed at the end */
	int nretired;
	char *addrs; /* every peer's address (set_peers), for a fresh AV */
	size_t addrlen;
	uint8_t *lost; /* [npeers]: gone (pc_tp_peer_lost): never written to again */
	int nlost;
	int renew_on_loss;	  /* shm: a large write to a lost peer stalls the endpoint */
	int stale;		  /* it may have: send from a fresh endpoint from now on */
	int fault_write;	  /* test hook: PCOLL_FAULT_WRITE_{EIO,RESET} (a job rank), or -1 */
	uint64_t fault_write_nth; /* its :N, 0 for "after a loss" */
	int fault_reset;	  /* 1: the hook fails the write as a reset connection */
	uint64_t rcntr_seen;
	int fds[2], nfds;
	pc_opctx_t *free_ctx;
	pc_opctx_t inflight; /* sentinel of the in-flight contexts */
	uint64_t mr_mode;
	size_t inject_size;
	/* FI_ORDER_RMA_WAW asked for and granted: writes to one peer land in
	 * the order they were posted. Without it (a CQ-data provider that does
	 * not order, or PCOLL_TEST_UNORDERED=1) a write waits until no earlier
	 * write to the same words of that peer is in flight, and asks for
	 * delivery completion, so that complete means placed: an older write
	 * can never land after, and hide, a newer one (a value slot written
	 * round after round, a shrink set). */
	int waw;
	/* Set by pc_tp_poll (outside the engine lock) when its fd was ready;
	 * counted against the events the next progress finds. */
	atomic_int woke;
	unsigned spurious; /* wake-ups in a row that brought nothing */
};

/* After this many empty wake-ups in a row the fd is not trusted to block:
 * waits sleep with the caller's backoff until an event comes. net's fd, in
 * libfabric 1.17, stays readable with nothing behind it, which would turn
 * every wait into a spin; tcp's brings a few empty wake-ups per large
 * message, far fewer. */
#define SPURIOUS_MAX 256

/* A write that finds the send queue full spins this long, then yields the
 * core, and after RETRY_SLEEP_NS sleeps between tries (retry_wait). */
#define RETRY_SPIN_NS  20000ULL
#define RETRY_SLEEP_NS 1000000ULL

#define FI_ERR(rc, what)                                                                           \
	pc_error(PCOLL_ERR_FABRIC, "%s: %s (%d)", what, fi_strerror((int)-(rc)), (int)(rc))

/* What fi_getinfo is asked for beyond RMA writes. */
#define WANT_CNTR  1 /* remote completion counters (FI_RMA_EVENT) */
#define WANT_ORDER 2 /* writes to a peer land in order (FI_ORDER_RMA_WAW) */
/* The counter path needs both: its flag write must land after the data. */
#define WANT_CNTR_PATH (WANT_CNTR | WANT_ORDER)

static struct fi_info *make_hints(const pc_tp_cfg_t *cfg, int want)
{
	struct fi_info *h = fi_allocinfo();
	if (!h)
		return NULL;
	h->ep_attr->type = FI_EP_RDM;
	h->caps = FI_RMA | FI_WRITE | FI_REMOTE_WRITE | (want & WANT_CNTR ? FI_RMA_EVENT : 0);
	h->mode = FI_CONTEXT | FI_CONTEXT2;
	/* Every registration mode pcoll can honour; the provider keeps what it needs. */
	h->domain_attr->mr_mode =
	    FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_ENDPOINT;
	h->domain_attr->threading = FI_THREAD_DOMAIN;
	/* Asked only where it is needed: a provider that does not order writes
	 * is refused by every fi_getinfo that asks. */
	if (want & WANT_ORDER)
		h->tx_attr->msg_order = FI_ORDER_RMA_WAW | FI_ORDER_WAW;
	if (cfg->provider && *cfg->provider)
		h->fabric_attr->prov_name = strdup(cfg->provider);
	return h;
}

/* The entry of libfabric's list to use: its first (its preference), or the
 * first of the same provider whose domain is the NIC asked for. NULL when a
 * required NIC is not there. */
static struct fi_info *pick(struct fi_info *list, const pc_tp_cfg_t *cfg, const char **why)
{
	*why = "libfabric";
	if (!cfg->nic || !*cfg->nic)
		return list;
	for (struct fi_info *f = list; f; f = f->next)
		if (!strcmp(f->fabric_attr->prov_name, list->fabric_attr->prov_name) &&
		    f->domain_attr->name && !strcmp(f->domain_attr->name, cfg->nic)) {
			*why = cfg->nic_required ? "PCOLL_NIC" : "hwloc";
			return f;
		}
	return cfg->nic_required ? NULL : list;
}

/* libfabric's whole list for pcoll's hints, best first. */
static int getinfo_list(const pc_tp_cfg_t *cfg, int want, struct fi_info **list)
{
	struct fi_info *h = make_hints(cfg, want);
	if (!h)
		return -FI_ENOMEM;
	int rc = fi_getinfo(FI_VERSION(1, 10), NULL, NULL, 0, h, list);
	fi_freeinfo(h);
	return rc;
}

static int getinfo_why(const pc_tp_cfg_t *cfg, int want, struct fi_info **out, const char **why)
{
	struct fi_info *list = NULL;
	int rc = getinfo_list(cfg, want, &list);
	if (rc)
		return rc;
	struct fi_info *f = pick(list, cfg, why);
	*out = f ? fi_dupinfo(f) : NULL;
	fi_freeinfo(list);
	return f ? (*out ? 0 : -FI_ENOMEM) : -FI_ENODEV;
}

static int getinfo(const pc_tp_cfg_t *cfg, int want, struct fi_info **out)
{
	const char *why;
	return getinfo_why(cfg, want, out, &why);
}

/* The CQ-data path does not need ordered writes, but uses them where the
 * provider grants them (an injected payload ahead of its header, no wait
 * between writes to the same words): *fi becomes the same provider's entry
 * for the same domain with FI_ORDER_RMA_WAW asked, if there is one. Returns
 * 1 when it is. */
static int prefer_ordered(const pc_tp_cfg_t *cfg, struct fi_info **fi)
{
	struct fi_info *list = NULL, *f;
	if (getinfo_list(cfg, WANT_ORDER, &list))
		return 0;
	for (f = list; f; f = f->next)
		if (!strcmp(f->fabric_attr->prov_name, (*fi)->fabric_attr->prov_name) &&
		    f->fabric_attr->name && (*fi)->fabric_attr->name &&
		    !strcmp(f->fabric_attr->name, (*fi)->fabric_attr->name) &&
		    f->domain_attr->name && (*fi)->domain_attr->name &&
		    !strcmp(f->domain_attr->name, (*fi)->domain_attr->name) &&
		    f->domain_attr->cq_data_size >= 8)
			break;
	struct fi_info *dup = f ? fi_dupinfo(f) : NULL;
	fi_freeinfo(list);
	if (!dup)
		return 0;
	fi_freeinfo(*fi);
	*fi = dup;
	return 1;
}

/* PCOLL_NIC names a domain the provider does not have: say which it has. */
static int no_such_nic(const pc_tp_cfg_t *cfg)
{
	struct fi_info *list = NULL;
	char have[256] = "";
	size_t n = 0;
	if (getinfo_list(cfg, 0, &list) == 0)
		for (struct fi_info *f = list; f && n + 40 < sizeof(have); f = f->next)
			if (!strcmp(f->fabric_attr->prov_name, list->fabric_attr->prov_name) &&
			    !strstr(have, f->domain_attr->name))
				n += (size_t)snprintf(have + n, sizeof(have) - n, "%s%s",
						      n ? ", " : "", f->domain_attr->name);
	if (list)
		fi_freeinfo(list);
	return pc_error(PCOLL_ERR_INVAL,
			"PCOLL_NIC=%s: provider %s has no such domain (it has: %s)", cfg->nic,
			cfg->provider && *cfg->provider ? cfg->provider : "(libfabric's choice)",
			*have ? have : "none");
}

/* shm names its region after the pid; a region left in /dev/shm by a
 * process that was killed makes a later process with the same pid fail in
 * fi_enable (EBUSY). A name unique per endpoint avoids that; the first
 * endpoint of a process also removes the regions killed processes left. */
static int shm_setname(pc_tp_t *tp, struct fid_ep *ep)
{
	if (strcmp(tp->fi->fabric_attr->prov_name, "shm"))
		return 0;
	static atomic_flag swept = ATOMIC_FLAG_INIT;
	if (!atomic_flag_test_and_set(&swept))
		pc_shm_sweep("/dev/shm");
	char name[96];
	if (pc_shm_region_name(name, sizeof(name)))
		return pc_error(PCOLL_ERR_INTERNAL, "shm region name too long");
	int rc = fi_setname(&ep->fid, name, strlen(name) + 1);
	return rc ? FI_ERR(rc, "fi_setname") : 0;
}

static int has_waw(const struct fi_info *fi)
{
	return (fi->tx_attr->msg_order & (FI_ORDER_RMA_WAW | FI_ORDER_WAW)) != 0;
}

/*
 * libfabric 1.17's rxm over tcp gives every endpoint four 16 MiB bounce
 * buffer pools (FI_OFI_RXM_BUFFER_SIZE x 1024, written through at enable):
 * about 85 MiB of RSS and 0.2 s of page faults per process, for messages
 * pcoll never sends. With passthru rxm hands RMA straight to tcp, and
 * fi_getinfo still grants or refuses every capability pcoll asks for. At
 * P = 64 on one host that took pcoll_init from 16.6-16.8 s to 6.6-7.3 s.
 * setenv's overwrite = 0 keeps a user's own setting; once per process,
 * before our first thread, since setenv races with getenv elsewhere.
 */
static void preinit_once(void)
{
	setenv("FI_OFI_RXM_ENABLE_PASSTHRU", "1", 0);
}

void pc_tp_preinit(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, preinit_once);
}

int pc_tp_open(const pc_tp_cfg_t *cfg, pc_tp_t **out)
{
	pc_tp_t *tp = calloc(1, sizeof(*tp));
	if (!tp)
		return pc_error(PCOLL_ERR_NOMEM, "transport: out of memory");
	tp->cfg = *cfg;
	tp->inflight.next = tp->inflight.prev = &tp->inflight;
	tp->fault_write = -1;
	int rc, notify = cfg->notify, ordered = 0;
	struct fi_info *fi = NULL;
	const char *pname = cfg->provider && *cfg->provider ? cfg->provider : "(any)";
	const char *why = "libfabric";
	if (cfg->nic_required && cfg->nic) {
		rc = getinfo(cfg, notify == PCOLL_NOTIFY_CNTR ? WANT_CNTR_PATH : 0, &fi);
		if (rc == -FI_ENODEV) {
			rc = no_such_nic(cfg);
			goto fail;
		}
		if (fi)
			fi_freeinfo(fi);
		fi = NULL;
	}

	/* For tests: behave as on a provider that does not order writes. */
	const char *unord = getenv("PCOLL_TEST_UNORDERED");
	int unordered = unord && !strcmp(unord, "1");
	if (unord && *unord && strcmp(unord, "0") && !unordered) {
		rc = pc_error(PCOLL_ERR_INVAL, "PCOLL_TEST_UNORDERED=%s: expected 0 or 1", unord);
		goto fail;
	}
	if (notify == PCOLL_NOTIFY_CNTR) {
		rc = getinfo_why(cfg, WANT_CNTR_PATH, &fi, &why);
		if (rc) {
			rc = pc_error(PCOLL_ERR_UNSUPPORTED,
				      "provider %s offers no remote completion counters "
				      "(FI_RMA_EVENT): %s; use PCOLL_NOTIFY=cqdata",
				      pname, fi_strerror(-rc));
			goto fail;
		}
	} else {
		rc = getinfo_why(cfg, 0, &fi, &why); /* no ordering asked: see prefer_ordered */
		if (rc) {
			rc = pc_error(PCOLL_ERR_FABRIC,
				      "no libfabric provider %s with FI_EP_RDM and RMA writes: %s",
				      pname, fi_strerror(-rc));
			goto fail;
		}
		if (fi->domain_attr->cq_data_size < 8) {
			if (notify == PCOLL_NOTIFY_CQDATA) {
				rc = pc_error(PCOLL_ERR_UNSUPPORTED,
					      "provider %s carries only %zu bytes of remote CQ "
					      "data (pcoll needs 8); use PCOLL_NOTIFY=cntr",
					      fi->fabric_attr->prov_name,
					      fi->domain_attr->cq_data_size);
				goto fail;
			}
			fi_freeinfo(fi);
			fi = NULL;
			rc = getinfo_why(cfg, WANT_CNTR_PATH, &fi, &why);
			if (rc) {
				rc = pc_error(PCOLL_ERR_UNSUPPORTED,
					      "provider %s has neither 8-byte remote CQ data nor "
					      "remote counters",
					      pname);
				goto fail;
			}
			notify = PCOLL_NOTIFY_CNTR;
		} else {
			notify = PCOLL_NOTIFY_CQDATA;
			ordered = !unordered && prefer_ordered(cfg, &fi);
		}
	}
	tp->fi = fi;
	if (notify == PCOLL_NOTIFY_CNTR && !strcmp(fi->fabric_attr->prov_name, "sockets")) {
		/* Measured with libfabric 1.17: once a counter counts remote writes
		 * on a sockets endpoint (bound to the endpoint or to the region),
		 * its writes stop completing within about ten rounds of 16 KiB
		 * messages (EIO or silence); the same traffic with no counter bound
		 * runs clean. Refuse rather than hang. */
		rc = pc_error(PCOLL_ERR_UNSUPPORTED,
			      "provider sockets: remote counters stall its RMA writes "
			      "(libfabric %u.%u); use PCOLL_NOTIFY=cqdata (the default)",
			      FI_MAJOR(fi_version()), FI_MINOR(fi_version()));
		goto fail;
	}
	if (notify == PCOLL_NOTIFY_CNTR && (!has_waw(fi) || unordered)) {
		rc = pc_error(PCOLL_ERR_UNSUPPORTED,
			      "provider %s does not order RMA writes (FI_ORDER_RMA_WAW%s), which "
			      "the counter path needs; use PCOLL_NOTIFY=cqdata",
			      fi->fabric_attr->prov_name,
			      unordered ? ": PCOLL_TEST_UNORDERED=1" : "");
		goto fail;
	}
	if (fi->tx_attr->iov_limit < 2) {
		rc = pc_error(PCOLL_ERR_UNSUPPORTED, "provider %s: iov_limit %zu < 2",
			      fi->fabric_attr->prov_name, fi->tx_attr->iov_limit);
		goto fail;
	}
	tp->mr_mode = fi->domain_attr->mr_mode;
	tp->inject_size = fi->tx_attr->inject_size;
	/* The counter path asked for the ordering (fi_getinfo refuses what
	 * cannot give it); the CQ-data path uses it where prefer_ordered got it. */
	tp->waw = has_waw(fi) && (notify == PCOLL_NOTIFY_CNTR || ordered);
	tp->info.mr_local = (tp->mr_mode & FI_MR_LOCAL) != 0;
	tp->info.notify = notify;
	tp->info.iov_limit = fi->tx_attr->iov_limit;
	snprintf(tp->info.provider, sizeof(tp->info.provider), "%s", fi->fabric_attr->prov_name);
	snprintf(tp->info.fabric, sizeof(tp->info.fabric), "%s", fi->fabric_attr->name);
	snprintf(tp->info.domain, sizeof(tp->info.domain), "%s", fi->domain_attr->name);
	tp->info.nic_choice = why;
	tp->info.manual_progress = fi->domain_attr->data_progress == FI_PROGRESS_MANUAL;
	tp->info.cq_data = fi->domain_attr->cq_data_size >= 8;
	tp->info.rma_event = (fi->caps & FI_RMA_EVENT) != 0;
	if (!tp->info.rma_event) {
		/* Ask separately, for pcoll_info: does the provider have remote counters? */
		struct fi_info *f2 = NULL;
		if (getinfo(cfg, WANT_CNTR_PATH, &f2) == 0 && f2 &&
		    strcmp(f2->fabric_attr->prov_name, fi->fabric_attr->prov_name) == 0)
			tp->info.rma_event = 1;
		if (f2)
			fi_freeinfo(f2);
	}
	if (tp->inject_size < 16) {
		rc = pc_error(PCOLL_ERR_UNSUPPORTED, "provider %s: inject_size %zu < 16",
			      fi->fabric_attr->prov_name, tp->inject_size);
		goto fail;
	}

	if ((rc = fi_fabric(fi->fabric_attr, &tp->fabric, NULL))) {
		rc = FI_ERR(rc, "fi_fabric");
		goto fail;
	}
	if ((rc = fi_domain(tp->fabric, fi, &tp->domain, NULL))) {
		rc = FI_ERR(rc, "fi_domain");
		goto fail;
	}
	struct fi_av_attr av_attr = {.type = FI_AV_TABLE};
	if ((rc = fi_av_open(tp->domain, &av_attr, &tp->av, NULL))) {
		rc = FI_ERR(rc, "fi_av_open");
		goto fail;
	}
	/* Prefer an fd wait object: an idle progress thread then sleeps in poll()
	 * and wakes on arrival. shm has none: the engine backs off to sleeping. */
	struct fi_cq_attr cq_attr = {
	    .format = FI_CQ_FORMAT_DATA, .size = 0, .wait_obj = FI_WAIT_FD};
	int fd_ok = 1;
	if (fi_cq_open(tp->domain, &cq_attr, &tp->cq, NULL)) {
		fd_ok = 0;
		cq_attr.wait_obj = FI_WAIT_NONE;
		if ((rc = fi_cq_open(tp->domain, &cq_attr, &tp->cq, NULL))) {
			rc = FI_ERR(rc, "fi_cq_open");
			goto fail;
		}
	}
	if (notify == PCOLL_NOTIFY_CNTR) {
		struct fi_cntr_attr ca = {.events = FI_CNTR_EVENTS_COMP,
					  .wait_obj = fd_ok ? FI_WAIT_FD : FI_WAIT_NONE};
		if (fi_cntr_open(tp->domain, &ca, &tp->rcntr, NULL)) {
			fd_ok = 0;
			ca.wait_obj = FI_WAIT_NONE;
			if ((rc = fi_cntr_open(tp->domain, &ca, &tp->rcntr, NULL))) {
				rc = FI_ERR(rc, "fi_cntr_open");
				goto fail;
			}
		}
	}
	if ((rc = fi_endpoint(tp->domain, fi, &tp->ep, NULL))) {
		rc = FI_ERR(rc, "fi_endpoint");
		goto fail;
	}
	if ((rc = fi_ep_bind(tp->ep, &tp->av->fid, 0)) ||
	    (rc = fi_ep_bind(tp->ep, &tp->cq->fid, FI_TRANSMIT | FI_RECV))) {
		rc = FI_ERR(rc, "fi_ep_bind");
		goto fail;
	}
	if (tp->rcntr && (rc = fi_ep_bind(tp->ep, &tp->rcntr->fid, FI_REMOTE_WRITE))) {
		rc = FI_ERR(rc, "fi_ep_bind(remote counter)");
		goto fail;
	}
	if ((rc = shm_setname(tp, tp->ep)))
		goto fail;
	if ((rc = fi_enable(tp->ep))) {
		rc = FI_ERR(rc, "fi_enable");
		goto fail;
	}
	tp->tx_ep = tp->ep;
	tp->tx_av = tp->av;
	tp->renew_on_loss =
	    !strcmp(fi->fabric_attr->prov_name, "shm") && !(tp->mr_mode & FI_MR_ENDPOINT);
	/* Test hooks, PCOLL_FAULT_WRITE_EIO=R[:N]: the first write to job rank R
	 * that completes after a peer was lost (or the Nth write to R) is
	 * reported as failed with EIO, as libfabric 1.17's shm now and then does
	 * with a write to a live peer right after another peer's death;
	 * PCOLL_FAULT_WRITE_RESET=R[:N] the same as a reset connection, as its
	 * tcp now and then does during a shrink that a death interrupts. */
	const char *fault = getenv("PCOLL_FAULT_WRITE_EIO");
	const char *reset = getenv("PCOLL_FAULT_WRITE_RESET");
	if (reset && *reset) {
		fault = reset;
		tp->fault_reset = 1;
	}
	if (fault && *fault) {
		const char *n = strchr(fault, ':');
		tp->fault_write = atoi(fault);
		tp->fault_write_nth = n ? strtoull(n + 1, NULL, 10) : 0;
	}
	if (fd_ok) {
		int fd;
		if (fi_control(&tp->cq->fid, FI_GETWAIT, &fd) == 0)
			tp->fds[tp->nfds++] = fd;
		else
			fd_ok = 0;
		if (fd_ok && tp->rcntr) {
			if (fi_control(&tp->rcntr->fid, FI_GETWAIT, &fd) == 0)
				tp->fds[tp->nfds++] = fd;
			else
				fd_ok = 0;
		}
	}
	tp->info.wait_fd = fd_ok;
	*out = tp;
	return 0;
fail:
	pc_tp_close(tp);
	return rc;
}

void pc_tp_close(pc_tp_t *tp)
{
	if (!tp)
		return;
	if (tp->tx_ep && tp->tx_ep != tp->ep) {
		fi_close(&tp->tx_ep->fid);
		fi_close(&tp->tx_av->fid);
		free(tp->tx_peers);
	}
	for (int i = 0; i < tp->nretired; i++)
		fi_close(tp->retired[i]);
	free(tp->retired);
	if (tp->ep)
		fi_close(&tp->ep->fid);
	if (tp->rcntr)
		fi_close(&tp->rcntr->fid);
	if (tp->cq)
		fi_close(&tp->cq->fid);
	if (tp->av)
		fi_close(&tp->av->fid);
	if (tp->domain)
		fi_close(&tp->domain->fid);
	if (tp->fabric)
		fi_close(&tp->fabric->fid);
	if (tp->fi)
		fi_freeinfo(tp->fi);
	while (tp->inflight.next != &tp->inflight) {
		pc_opctx_t *c = tp->inflight.next;
		c->prev->next = c->next;
		c->next->prev = c->prev;
		free(c);
	}
	while (tp->free_ctx) {
		pc_opctx_t *n = tp->free_ctx->next;
		free(tp->free_ctx);
		tp->free_ctx = n;
	}
	free(tp->peers);
	free(tp->addrs);
	free(tp->lost);
	free(tp);
}

void pc_tp_query(const pc_tp_t *tp, pc_tp_info_t *info)
{
	*info = tp->info;
}

int pc_tp_getname(pc_tp_t *tp, void *addr, size_t *len)
{
	int rc = fi_getname(&tp->ep->fid, addr, len);
	return rc ? FI_ERR(rc, "fi_getname") : 0;
}

void pc_tp_addr_str(const pc_tp_t *tp, char *buf, size_t len)
{
	char name[256];
	size_t nlen = sizeof(name);
	buf[0] = '\0';
	if (fi_getname(&tp->ep->fid, name, &nlen) == 0)
		fi_av_straddr(tp->av, name, buf, &len);
}

int pc_tp_set_peers(pc_tp_t *tp, const void *addrs, size_t addrlen, int npeers)
{
	tp->peers = calloc((size_t)npeers, sizeof(fi_addr_t));
	tp->lost = calloc((size_t)npeers, 1);
	tp->addrs = malloc((size_t)npeers * addrlen);
	if (!tp->peers || !tp->lost || !tp->addrs)
		return pc_error(PCOLL_ERR_NOMEM, "transport: out of memory");
	memcpy(tp->addrs, addrs, (size_t)npeers * addrlen);
	tp->addrlen = addrlen;
	tp->tx_peers = tp->peers;
	for (int i = 0; i < npeers; i++) {
		int rc = fi_av_insert(tp->av, (const char *)addrs + (size_t)i * addrlen, 1,
				      &tp->peers[i], 0, NULL);
		if (rc != 1)
			return pc_error(PCOLL_ERR_FABRIC, "fi_av_insert of rank %d failed (%d)", i,
					rc);
	}
	tp->npeers = npeers;
	return 0;
}

/*
 * shm after a peer's death (libfabric 1.17): a write larger than the inject
 * size (4 KiB) is answered by its target through the sender's response
 * queue, one queue per endpoint for all targets, which the sender's progress
 * consumes strictly in order. A dead target never answers, so the entry of a
 * large write to it stays at the head, and the local completion of every
 * later large write, to any peer, waits behind it for good (the data still
 * lands). fi_av_remove does not touch that queue. A fresh endpoint has an
 * empty one: this process sends from a new endpoint from then on, in the same
 * domain (every registration stays valid) and bound to the same CQ and
 * counter (reading them progresses it). Peers still write to the first
 * endpoint, whose receiving side is not affected, so nobody needs a new
 * address. Writes to live peers posted on the old endpoint behind the dead
 * one's never complete locally; they belong to collectives of the failed
 * teams, which the user destroys.
 */
#define PC_TP_RENEW_MAX 64 /* endpoints per process (a region in /dev/shm each) */

static int renew_tx(pc_tp_t *tp)
{
	tp->stale = 0;
	if (tp->nretired + 2 > 2 * PC_TP_RENEW_MAX)
		return 0; /* large writes after this many deaths may stall again */
	struct fid_av *av = NULL;
	struct fid_ep *ep = NULL;
	fi_addr_t *peers = calloc((size_t)tp->npeers, sizeof(fi_addr_t));
	struct fid **ret = realloc(tp->retired, (size_t)(tp->nretired + 2) * sizeof(*ret));
	struct fi_av_attr av_attr = {.type = FI_AV_TABLE};
	int rc = 0;
	if (ret)
		tp->retired = ret;
	if (!peers || !ret)
		rc = pc_error(PCOLL_ERR_NOMEM, "transport: out of memory");
	else if ((rc = fi_av_open(tp->domain, &av_attr, &av, NULL)))
		rc = FI_ERR(rc, "fi_av_open (fresh endpoint)");
	else if ((rc = fi_endpoint(tp->domain, tp->fi, &ep, NULL)))
		rc = FI_ERR(rc, "fi_endpoint (fresh endpoint)");
	else if ((rc = fi_ep_bind(ep, &av->fid, 0)) ||
		 (rc = fi_ep_bind(ep, &tp->cq->fid, FI_TRANSMIT | FI_RECV)) ||
		 (tp->rcntr && (rc = fi_ep_bind(ep, &tp->rcntr->fid, FI_REMOTE_WRITE))))
		rc = FI_ERR(rc, "fi_ep_bind (fresh endpoint)");
	else if (!(rc = shm_setname(tp, ep)) && (rc = fi_enable(ep)))
		rc = FI_ERR(rc, "fi_enable (fresh endpoint)");
	for (int i = 0; !rc && i < tp->npeers; i++)
		if (fi_av_insert(av, tp->addrs + (size_t)i * tp->addrlen, 1, &peers[i], 0, NULL) !=
		    1)
			rc = pc_error(PCOLL_ERR_FABRIC,
				      "fi_av_insert of rank %d failed (fresh endpoint)", i);
	if (rc) {
		if (ep)
			fi_close(&ep->fid);
		if (av)
			fi_close(&av->fid);
		free(peers);
		return rc;
	}
	if (tp->tx_ep != tp->ep) { /* kept open: its writes may still be read */
		tp->retired[tp->nretired++] = &tp->tx_ep->fid;
		tp->retired[tp->nretired++] = &tp->tx_av->fid;
		free(tp->tx_peers);
	}
	tp->tx_ep = ep;
	tp->tx_av = av;
	tp->tx_peers = peers;
	tp->tx_gen++;
	return 0;
}

void pc_tp_peer_lost(pc_tp_t *tp, int peer)
{
	if (peer < 0 || peer >= tp->npeers || !tp->lost || tp->lost[peer])
		return;
	tp->lost[peer] = 1;
	tp->nlost++;
	if (!tp->renew_on_loss)
		return;
	for (pc_opctx_t *c = tp->inflight.next; c != &tp->inflight; c = c->next)
		if (c->peer == peer && c->large && c->gen == tp->tx_gen)
			tp->stale = 1; /* its answer may never come */
}

/* Before a send: the target must not be lost, the endpoint not stalled. */
static int tx_check(pc_tp_t *tp, int peer)
{
	if (tp->lost && tp->lost[peer])
		return pc_error(PCOLL_ERR_PEER, "job rank %d is gone: no more writes to it", peer);
	return tp->stale ? renew_tx(tp) : 0;
}

int pc_tp_mr_reg(pc_tp_t *tp, void *buf, size_t len, uint64_t key, pc_tp_mr_t **out,
		 pc_tp_rkey_t *rkey)
{
	pc_tp_mr_t *m = calloc(1, sizeof(*m));
	if (!m)
		return pc_error(PCOLL_ERR_NOMEM, "transport: out of memory");
	int rc =
	    fi_mr_reg(tp->domain, buf, len, FI_REMOTE_WRITE | FI_WRITE, 0, key, 0, &m->mr, NULL);
	if (rc) {
		free(m);
		return FI_ERR(rc, "fi_mr_reg");
	}
	if (tp->mr_mode & FI_MR_ENDPOINT) {
		rc = fi_mr_bind(m->mr, &tp->ep->fid, 0);
		if (!rc) {
			rc = fi_mr_enable(m->mr);
			if (rc == -FI_ENOSYS)
				rc = 0; /* not needed on this provider */
		}
		if (rc) {
			fi_close(&m->mr->fid);
			free(m);
			return FI_ERR(rc, "fi_mr_bind/enable");
		}
	}
	m->desc = fi_mr_desc(m->mr);
	rkey->key = fi_mr_key(m->mr);
	rkey->base = (tp->mr_mode & FI_MR_VIRT_ADDR) ? (uint64_t)(uintptr_t)buf : 0;
	*out = m;
	return 0;
}

void pc_tp_mr_dereg(pc_tp_mr_t *m)
{
	if (!m)
		return;
	fi_close(&m->mr->fid);
	free(m);
}

static pc_opctx_t *ctx_get(pc_tp_t *tp)
{
	pc_opctx_t *c = tp->free_ctx;
	if (c)
		tp->free_ctx = c->next;
	else if (!(c = calloc(1, sizeof(*c))))
		return NULL;
	/* Track it in flight, so that pc_tp_forget can detach its counter. */
	c->next = tp->inflight.next;
	c->prev = &tp->inflight;
	c->next->prev = c;
	tp->inflight.next = c;
	return c;
}

static void ctx_put(pc_tp_t *tp, pc_opctx_t *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	c->next = tp->free_ctx;
	tp->free_ctx = c;
}

void pc_tp_forget(pc_tp_t *tp, const uint64_t *tx_done)
{
	for (pc_opctx_t *c = tp->inflight.next; c != &tp->inflight; c = c->next)
		if (c->done == tx_done)
			c->done = NULL;
}

/* One of ours, in flight? Error entries of injected writes may carry a
 * context that is not ours (or none): never recycle what we did not give. */
static pc_opctx_t *inflight_ctx(pc_tp_t *tp, void *p)
{
	for (pc_opctx_t *c = tp->inflight.next; p && c != &tp->inflight; c = c->next)
		if (c == p)
			return c;
	return NULL;
}

/* An error completion. A write to a known peer that failed means the peer
 * is lost: tell the engine (which fails only the teams that peer is in) and
 * go on. Anything else fails the context. */
static int cq_error(pc_tp_t *tp)
{
	struct fi_cq_err_entry e = {0};
	int rc = (int)fi_cq_readerr(tp->cq, &e, 0);
	if (rc == -FI_EAGAIN)
		return 0;
	if (rc < 0)
		return FI_ERR(rc, "fi_cq_readerr");
	char buf[256], what[300], why[340];
	const char *detail = fi_cq_strerror(tp->cq, e.prov_errno, e.err_data, buf, sizeof(buf));
	snprintf(what, sizeof(what), "%s (%s)", fi_strerror(e.err), detail ? detail : "");
	snprintf(why, sizeof(why), "a write to it failed: %s", what);
	pc_opctx_t *c = inflight_ctx(tp, e.op_context);
	int peer = c ? c->peer : -1;
	if (c) {
		if (c->done) /* finished, if not well: its buffer is free again */
			(*c->done)++;
		ctx_put(tp, c);
	}
	if (peer >= 0 && tp->cfg.lost_fn) {
		tp->cfg.lost_fn(tp->cfg.notify_arg, peer, e.err != FI_EIO, why);
		return 1;
	}
	/* Not one of our operations: a peer's write into our memory failed
	 * here. On shm that is a large write of a process that died before we
	 * read its data (EIO: its pages are gone), often before anything else
	 * tells of its death. It names no sender, and a live sender gets the
	 * error itself: look for dead peers now, and drop the entry (whoever
	 * waits for the data learns of the death, or times out). */
	if (tp->cfg.look_fn)
		tp->cfg.look_fn(tp->cfg.notify_arg);
	return 1;
}

int pc_tp_progress(pc_tp_t *tp)
{
	struct fi_cq_data_entry ent[16];
	int events = 0;
	for (;;) {
		ssize_t n = fi_cq_read(tp->cq, ent, 16);
		if (n == -FI_EAGAIN)
			break;
		if (n == -FI_EAVAIL) {
			int e = cq_error(tp);
			if (e < 0)
				return e;
			events += e;
			continue;
		}
		if (n < 0)
			return FI_ERR(n, "fi_cq_read");
		for (ssize_t i = 0; i < n; i++) {
			/* Target-side entries: classify by FI_REMOTE_WRITE or a NULL
			 * context, never by FI_REMOTE_CQ_DATA alone (sockets sets that
			 * flag on the initiator's completion too). */
			if ((ent[i].flags & FI_REMOTE_WRITE) || !ent[i].op_context) {
				if (ent[i].flags & FI_REMOTE_CQ_DATA)
					tp->cfg.notify_fn(tp->cfg.notify_arg, ent[i].data);
			} else {
				pc_opctx_t *c = ent[i].op_context;
				int peer = c->peer;
				if (c->done)
					(*c->done)++;
				ctx_put(tp, c);
				if (peer == tp->fault_write && tp->cfg.lost_fn &&
				    (tp->fault_write_nth ? !--tp->fault_write_nth
							 : tp->nlost > 0)) {
					tp->fault_write = -1;
					tp->cfg.lost_fn(
					    tp->cfg.notify_arg, peer, tp->fault_reset,
					    tp->fault_reset
						? "a write to it failed: Transport endpoint is "
						  "not connected (PCOLL_FAULT_WRITE_RESET)"
						: "a write to it failed: Input/output error "
						  "(PCOLL_FAULT_WRITE_EIO)");
				}
			}
		}
		events += (int)n;
		if (n < 16)
			break;
	}
	if (tp->rcntr) {
		uint64_t v = fi_cntr_read(tp->rcntr);
		if (v != tp->rcntr_seen) {
			tp->rcntr_seen = v;
			events++;
		}
		if (fi_cntr_readerr(tp->rcntr) > 0)
			return pc_error(PCOLL_ERR_PEER, "remote counter reports errors");
	}
	if (events) {
		tp->spurious = 0;
		atomic_store(&tp->woke, 0);
	} else if (atomic_exchange(&tp->woke, 0) && tp->spurious < SPURIOUS_MAX)
		tp->spurious++;
	return events;
}

/* The send queue is full: make progress and try again -- unless the peer is
 * gone, for whom it would stay full until the timeout (rxm keeps trying to
 * reconnect to a dead peer meanwhile). *since: when this write first found
 * the queue full (0 before). The wait gives up the core after a moment:
 * with more processes than cores, a spinning sender starves the very peer
 * (or connection handshake) it waits for -- at P = 32 on 2 cores, rxm's
 * connection setup then failed often enough to leave writes stuck. */
static int retry_wait(pc_tp_t *tp, int peer, uint64_t *since)
{
	int rc = pc_tp_progress(tp);
	if (rc < 0)
		return rc;
	if (tp->cfg.gone_fn && tp->cfg.gone_fn(tp->cfg.notify_arg, peer))
		return pc_error(PCOLL_ERR_PEER, "job rank %d is gone: its writes cannot be queued",
				peer);
	uint64_t now = pc_now_ns();
	if (!*since)
		*since = now;
	uint64_t waited = now - *since;
	if (tp->cfg.timeout_ms >= 0 && waited > (uint64_t)tp->cfg.timeout_ms * 1000000ULL)
		return pc_error(PCOLL_ERR_TIMEOUT,
				"a write to job rank %d waited %d ms to be posted (send "
				"queue full, or an earlier write to the same words not "
				"delivered): peer not progressing",
				peer, tp->cfg.timeout_ms);
	if (waited > RETRY_SLEEP_NS) {
		struct timespec ts = {0, 50000};
		nanosleep(&ts, NULL);
	} else if (waited > RETRY_SPIN_NS)
		sched_yield();
	return 0;
}

/* Unordered writes (!tp->waw): wait until no earlier write to words in
 * [addr, addr + len) of peer's region key is in flight (see struct pc_tp).
 * Rare: writes to the same words are normally a round or more apart. */
static int wait_words_free(pc_tp_t *tp, int peer, uint64_t key, uint64_t addr, uint64_t len)
{
	uint64_t since = 0;
	for (;;) {
		pc_opctx_t *c = tp->inflight.next;
		while (c != &tp->inflight && !(c->peer == peer && c->key == key &&
					       c->addr < addr + len && addr < c->addr + c->len))
			c = c->next;
		if (c == &tp->inflight)
			return 0;
		int e = retry_wait(tp, peer, &since);
		if (e)
			return e;
	}
}

/* The in-flight context of a write of len bytes to addr in peer's region key. */
static pc_opctx_t *write_ctx(pc_tp_t *tp, int peer, uint64_t key, uint64_t addr, uint64_t len,
			     uint64_t *done)
{
	pc_opctx_t *c = ctx_get(tp);
	if (!c)
		return NULL;
	c->done = done;
	c->peer = peer;
	c->large = done != NULL; /* not injected */
	c->gen = tp->tx_gen;
	c->key = key;
	c->addr = addr;
	c->len = len;
	return c;
}

/* Unordered: delivery completion, so that a complete write has landed. */
#define UNORDERED_FLAGS(tp) ((tp)->waw ? 0 : FI_DELIVERY_COMPLETE)

/*
 * An injected write that names its target when it fails. fi_inject_write*
 * carry no context, so their error completions carry none either -- and
 * ofi_rxm (libfabric 1.17) dereferences that NULL context when a peer's
 * connection breaks (SIGSEGV in fi_cq_read in every survivor that wrote to
 * a killed process). A write with FI_INJECT | FI_COMPLETION and our own
 * context costs one completion more and reports the peer.
 */
static ssize_t inject_write(pc_tp_t *tp, int peer, const void *buf, size_t len, uint64_t addr,
			    uint64_t key, uint64_t data, uint64_t flags)
{
	pc_opctx_t *c = write_ctx(tp, peer, key, addr, len, NULL);
	if (!c)
		return -FI_ENOMEM;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct fi_rma_iov riov = {.addr = addr, .len = len, .key = key};
	struct fi_msg_rma msg = {.msg_iov = &iov,
				 .iov_count = 1,
				 .addr = tp->tx_peers[peer],
				 .rma_iov = &riov,
				 .rma_iov_count = 1,
				 .context = c,
				 .data = data};
	ssize_t rc =
	    fi_writemsg(tp->tx_ep, &msg, FI_INJECT | FI_COMPLETION | UNORDERED_FLAGS(tp) | flags);
	if (rc)
		ctx_put(tp, c);
	return rc;
}

/* nowait: when the first write cannot be queued at once (on rxm/tcp: the
 * connection to peer is still being set up), return PC_TP_AGAIN with nothing
 * sent instead of waiting for it. */
static int put(pc_tp_t *tp, int peer, const struct iovec *iov, int iovcnt, pc_tp_mr_t *mr,
	       const pc_tp_rkey_t *rk, uint64_t off, uint64_t flag_off, uint64_t flag_value,
	       uint64_t notify_data, uint64_t *tx_done, int nowait)
{
	void *desc[2] = {mr->desc, mr->desc};
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	struct fi_rma_iov riov = {.addr = rk->base + off, .len = total, .key = rk->key};
	uint64_t since = 0;
	const int iov_first = iovcnt;
	ssize_t rc = tx_check(tp, peer);
	if (rc)
		return (int)rc;
	/* Small writes take the provider's inject path (on shm: one copy through
	 * its bounce buffers instead of a CMA handshake). A header that would push
	 * a small payload over the inject size goes separately, after it:
	 * FI_ORDER_RMA_WAW keeps the notification behind the data. */
	if (iovcnt == 2 && total > tp->inject_size && iov[1].iov_len <= tp->inject_size &&
	    iov[0].iov_len <= tp->inject_size && tp->waw) {
		while ((rc = inject_write(tp, peer, iov[1].iov_base, iov[1].iov_len,
					  rk->base + off + iov[0].iov_len, rk->key, 0, 0)) ==
		       -FI_EAGAIN) {
			if (nowait)
				return PC_TP_AGAIN;
			int e = retry_wait(tp, peer, &since);
			if (e)
				return e;
		}
		if (rc)
			return FI_ERR(rc, "fi_writemsg(inject)");
		iovcnt = 1;
		total = iov[0].iov_len;
		riov.len = total;
	}
	if (!tp->waw) {
		int e = wait_words_free(tp, peer, rk->key, riov.addr, total);
		if (e)
			return e;
	}
	int inject = total <= tp->inject_size;
	/* An injected source is reusable at once; its completion (if the provider
	 * reports one) only returns the context. */
	pc_opctx_t *c = write_ctx(tp, peer, rk->key, riov.addr, total, inject ? NULL : tx_done);
	if (!c)
		return pc_error(PCOLL_ERR_NOMEM, "transport: out of memory");
	if (inject)
		(*tx_done)++;
	int cqdata = tp->info.notify == PCOLL_NOTIFY_CQDATA;
	struct fi_msg_rma msg = {.msg_iov = iov,
				 .desc = desc,
				 .iov_count = (size_t)iovcnt,
				 .addr = tp->tx_peers[peer],
				 .rma_iov = &riov,
				 .rma_iov_count = 1,
				 .context = c,
				 .data = notify_data};
	uint64_t flags = FI_COMPLETION | (cqdata ? FI_REMOTE_CQ_DATA : 0) |
			 (inject ? FI_INJECT : 0) | UNORDERED_FLAGS(tp);
	since = 0;
	while ((rc = fi_writemsg(tp->tx_ep, &msg, flags)) == -FI_EAGAIN) {
		/* Only while nothing of this put has gone out (no split header). */
		int e = nowait && iovcnt == iov_first ? PC_TP_AGAIN : retry_wait(tp, peer, &since);
		if (e) {
			ctx_put(tp, c);
			if (inject)
				(*tx_done)--; /* not sent: the caller takes it back */
			return e;
		}
	}
	if (rc) {
		ctx_put(tp, c);
		if (inject)
			(*tx_done)--;
		return FI_ERR(rc, "fi_writemsg");
	}
	if (cqdata)
		return 0;
	/* Counter path: the flag follows the data, ordered by FI_ORDER_RMA_WAW. */
	since = 0;
	int e = 0;
	while ((rc = inject_write(tp, peer, &flag_value, sizeof(flag_value), rk->base + flag_off,
				  rk->key, 0, 0)) == -FI_EAGAIN &&
	       !(e = retry_wait(tp, peer, &since)))
		;
	if (!rc)
		return 0;
	/* A put that fails is not counted in *tx_done (its caller takes it
	 * back), though its data write went out: that one must not count. */
	if (inflight_ctx(tp, c) && c->done == tx_done)
		c->done = NULL; /* still going out */
	else
		(*tx_done)--; /* counted: injected, or already complete */
	return e ? e : FI_ERR(rc, "fi_writemsg(inject flag)");
}

int pc_tp_put(pc_tp_t *tp, int peer, const struct iovec *iov, int iovcnt, pc_tp_mr_t *mr,
	      const pc_tp_rkey_t *rk, uint64_t off, uint64_t flag_off, uint64_t flag_value,
	      uint64_t notify_data, uint64_t *tx_done)
{
	return put(tp, peer, iov, iovcnt, mr, rk, off, flag_off, flag_value, notify_data, tx_done,
		   0);
}

int pc_tp_put_try(pc_tp_t *tp, int peer, const struct iovec *iov, int iovcnt, pc_tp_mr_t *mr,
		  const pc_tp_rkey_t *rk, uint64_t off, uint64_t flag_off, uint64_t flag_value,
		  uint64_t notify_data, uint64_t *tx_done)
{
	return put(tp, peer, iov, iovcnt, mr, rk, off, flag_off, flag_value, notify_data, tx_done,
		   1);
}

int pc_tp_put_value(pc_tp_t *tp, int peer, const void *value, size_t len, const pc_tp_rkey_t *rk,
		    uint64_t off, uint64_t notify_data)
{
	uint64_t since = 0;
	ssize_t rc = tx_check(tp, peer);
	if (rc)
		return (int)rc;
	int cqdata = tp->info.notify == PCOLL_NOTIFY_CQDATA;
	if (!tp->waw) {
		int e = wait_words_free(tp, peer, rk->key, rk->base + off, len);
		if (e)
			return e;
	}
	for (;;) {
		rc = inject_write(tp, peer, value, len, rk->base + off, rk->key, notify_data,
				  cqdata ? FI_REMOTE_CQ_DATA : 0);
		if (rc != -FI_EAGAIN)
			break;
		int e = retry_wait(tp, peer, &since);
		if (e)
			return e;
	}
	return rc ? FI_ERR(rc, "fi_writemsg(inject value)") : 0;
}

uint64_t pc_tp_rcntr(const pc_tp_t *tp)
{
	return tp->rcntr_seen;
}

int pc_tp_trywait(pc_tp_t *tp)
{
	if (!tp->info.wait_fd || tp->spurious >= SPURIOUS_MAX)
		return -1;
	struct fid *fids[2] = {&tp->cq->fid, tp->rcntr ? &tp->rcntr->fid : NULL};
	int rc = fi_trywait(tp->fabric, fids, tp->rcntr ? 2 : 1);
	if (rc != FI_SUCCESS)
		atomic_store(&tp->woke, 1); /* "events waiting": checked like a wake-up */
	return rc == FI_SUCCESS ? 1 : 0;
}

int pc_tp_poll(pc_tp_t *tp, int timeout_ms)
{
	struct pollfd p[2];
	for (int i = 0; i < tp->nfds; i++) {
		p[i].fd = tp->fds[i];
		p[i].events = POLLIN;
		p[i].revents = 0;
	}
	int rc = poll(p, (nfds_t)tp->nfds, timeout_ms);
	if (rc > 0)
		atomic_store(&tp->woke, 1);
	return rc;
}
