/*
 * The transport interface lib/ uses; providers/ implement it and never know
 * about rounds. One endpoint per context. A "flagged put" writes data into a
 * peer's registered region and, once the data is placed, makes the target
 * learn of it through a flag word in that region:
 *  - remote counters (FI_RMA_EVENT): the data write, then an 8-byte write of
 *    the flag value, ordered by FI_ORDER_RMA_WAW; the counter is the doorbell;
 *  - remote CQ data (fi_writedata): one write carrying notify_data; the
 *    target's progress hands notify_data to the notify callback, which updates
 *    the flag itself. No ordering is needed: the CQ entry comes with its own
 *    write's data (where writes are unordered, ofi.c keeps two writes to the
 *    same words from being in flight at once).
 * Value puts (no payload) write an 8- or 16-byte value straight into a slot.
 */
#ifndef PCOLL_TRANSPORT_H
#define PCOLL_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct pc_tp pc_tp_t;
typedef struct pc_tp_mr pc_tp_mr_t;

typedef struct pc_tp_rkey {
	uint64_t key;
	uint64_t base; /* remote address of offset 0 (0 unless FI_MR_VIRT_ADDR) */
} pc_tp_rkey_t;

typedef void (*pc_tp_notify_fn)(void *arg, uint64_t data);
/* A write to peer failed (error completion). certain: the connection was
 * refused or reset, as a dying peer's is; 0 for an error that a live peer
 * also causes (shm's EIO, which can follow another peer's death). The
 * receiver decides with what it can see of the peer. Called from
 * pc_tp_progress. */
typedef void (*pc_tp_lost_fn)(void *arg, int peer, int certain, const char *why);
/* Nonzero when peer is known to be gone: a send that cannot be queued for
 * it gives up instead of retrying until the timeout. */
typedef int (*pc_tp_gone_fn)(void *arg, int peer);
/* A peer's write into our memory failed (an error completion that is not
 * one of ours, naming no sender): look for dead peers now. */
typedef void (*pc_tp_look_fn)(void *arg);

typedef struct pc_tp_cfg {
	const char *provider; /* NULL: libfabric's choice */
	int notify;	      /* pcoll_notify_t */
	int timeout_ms;	      /* <0: none */
	pc_tp_notify_fn notify_fn;
	void *notify_arg; /* also passed to lost_fn, gone_fn and look_fn */
	pc_tp_lost_fn lost_fn;
	pc_tp_gone_fn gone_fn;
	pc_tp_look_fn look_fn;
	/* The NIC to use, as a libfabric domain name (tcp: the interface; verbs:
	 * the device). nic_required: PCOLL_NIC said so, and a provider without
	 * it is an error; else a preference (the NIC hwloc found near us). */
	const char *nic;
	int nic_required;
} pc_tp_cfg_t;

typedef struct pc_tp_info {
	char provider[64], fabric[64], domain[64];
	const char *nic_choice; /* "PCOLL_NIC", "hwloc", or "libfabric" (its first) */
	int notify;		/* resolved: PCOLL_NOTIFY_CNTR or PCOLL_NOTIFY_CQDATA */
	int manual_progress, rma_event, cq_data, wait_fd;
	int mr_local; /* local buffers must be registered (FI_MR_LOCAL) */
	size_t iov_limit;
} pc_tp_info_t;

/* Once per process, before anything else of pcoll runs (no thread of ours
 * yet): libfabric defaults pcoll changes unless the user set them. */
void pc_tp_preinit(void);
int pc_tp_open(const pc_tp_cfg_t *cfg, pc_tp_t **tp);
void pc_tp_close(pc_tp_t *tp);
void pc_tp_query(const pc_tp_t *tp, pc_tp_info_t *info);
/* Printable endpoint address. */
void pc_tp_addr_str(const pc_tp_t *tp, char *buf, size_t len);
int pc_tp_getname(pc_tp_t *tp, void *addr, size_t *len);
/* Insert every process's address (npeers * addrlen bytes, rank order). */
int pc_tp_set_peers(pc_tp_t *tp, const void *addrs, size_t addrlen, int npeers);

/* Register buf for remote writes and local sends; key must be unique per process. */
int pc_tp_mr_reg(pc_tp_t *tp, void *buf, size_t len, uint64_t key, pc_tp_mr_t **mr,
		 pc_tp_rkey_t *rkey);
void pc_tp_mr_dereg(pc_tp_mr_t *mr);

/*
 * Flagged put of iov (from the registered mr) to peer's region at offset off;
 * flag_off is the flag word's offset in the same region, flag_value the value
 * it must show (counter path), notify_data the CQ data (CQ data path).
 * *tx_done is incremented when the local completion arrives.
 */
int pc_tp_put(pc_tp_t *tp, int peer, const struct iovec *iov, int iovcnt, pc_tp_mr_t *mr,
	      const pc_tp_rkey_t *rk, uint64_t off, uint64_t flag_off, uint64_t flag_value,
	      uint64_t notify_data, uint64_t *tx_done);
/* The same, but where the first write cannot be queued at once (on rxm/tcp
 * while the connection to peer is being set up) it returns PC_TP_AGAIN with
 * nothing sent: a caller with puts to many peers posts the others meanwhile
 * rather than setting up one connection at a time. */
#define PC_TP_AGAIN 1
int pc_tp_put_try(pc_tp_t *tp, int peer, const struct iovec *iov, int iovcnt, pc_tp_mr_t *mr,
		  const pc_tp_rkey_t *rk, uint64_t off, uint64_t flag_off, uint64_t flag_value,
		  uint64_t notify_data, uint64_t *tx_done);
/* Write len (8 or 16) bytes of value straight into peer's region at off. */
int pc_tp_put_value(pc_tp_t *tp, int peer, const void *value, size_t len, const pc_tp_rkey_t *rk,
		    uint64_t off, uint64_t notify_data);

/* The process of job rank peer is gone: writes to it fail at once from now
 * on, and where a write to it may have stalled the endpoint (shm) the next
 * send comes from a fresh one. Under the engine lock. */
void pc_tp_peer_lost(pc_tp_t *tp, int peer);
/* Sends still in flight stop counting into *tx_done (its owner is going away). */
void pc_tp_forget(pc_tp_t *tp, const uint64_t *tx_done);
/* The remote-write counter as pc_tp_progress last read it (0 without one):
 * a write it counts is visible once the value has moved past it. */
uint64_t pc_tp_rcntr(const pc_tp_t *tp);
/* Drive progress: read completions, deliver notifications. >0 if anything happened. */
int pc_tp_progress(pc_tp_t *tp);
/* Under the engine lock: 1 when the caller may block in pc_tp_poll (nothing
 * pending), 0 when events are waiting, -1 when there is no fd wait object (the
 * caller then sleeps with its own backoff: shm). */
int pc_tp_trywait(pc_tp_t *tp);
/* Without the lock: block in poll() on the wait fds for up to timeout_ms. */
int pc_tp_poll(pc_tp_t *tp, int timeout_ms);

#endif
