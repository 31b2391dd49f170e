/*
 * Schedules: who writes what to whom in which phase of one round, separate
 * from the transport. A schedule is a straight-line program of ops built once
 * per collective for this rank; the executor (exec.c) runs it every round.
 * Every rank's memory layout has the same shape (sizes depend only on P and
 * the buffer size), so a sender computes offsets in its peer's region itself.
 */
#ifndef PCOLL_SCHED_H
#define PCOLL_SCHED_H

#include <stddef.h>
#include <stdint.h>

/** Bytes reserved for the round header in front of every message. */
#define PC_HDR_BYTES 64
/* Round up to 64 bytes: buffers and messages start cache-line aligned. */
#define PC_ALIGN64(x) (((x) + 63) & ~(size_t)63)

/** Round header carried with the data and reduced along with it. */
typedef struct pc_hdr {
	uint64_t round;		/* must match on both sides */
	uint64_t contributions; /* SUM */
	int64_t staleness;	/* MAX; -1 for no contribution */
	uint64_t flushed;	/* SUM */
	uint64_t pad[4];
} pc_hdr_t;

enum pc_op_kind {
	PC_OP_SEND,   /* write [hdr] + src range to peer's region, then notify */
	PC_OP_WAIT,   /* wait until the local flag of slot `flag` shows this round */
	PC_OP_REDUCE, /* dst range = a range + received message (and merge its hdr) */
	PC_OP_COPY,   /* dst range = a range */
	PC_OP_TXWAIT, /* wait until the first `cnt` sends of this round completed (the
			 engine waits for all of a round's sends before the next round) */
	PC_OP_SETHDR  /* write the accumulated header in front of the result */
};

/** Local buffers an op names. SRC is this process's contribution and is only
 * ever read (it may be the caller's own buffer: no copy); WORK and WORK2 are
 * scratch (recursive doubling only: the others reduce into RES in place); RX
 * is the receive area of the round (of its parity when there are two). */
enum pc_buf { PC_BUF_SRC, PC_BUF_WORK, PC_BUF_WORK2, PC_BUF_RES, PC_BUF_RX, PC_BUF_COUNT };

typedef struct pc_op {
	uint8_t kind;
	uint8_t hdr;	 /* SEND: header goes first; REDUCE: PC_HDR_MERGE or PC_HDR_FORWARD */
	uint8_t src_buf; /* SEND: source buffer; REDUCE/COPY: buffer of operand a */
	uint8_t dst_buf; /* SEND: region at the peer (RX or RES); REDUCE/COPY: dst */
	int peer;	 /* SEND: target; WAIT: the process that writes the flag */
	uint32_t flag;	 /* SEND: flag slot at the peer; WAIT: local flag slot */
	size_t off;	 /* elements: SEND source offset; REDUCE/COPY dst offset */
	size_t a_off;	 /* elements: REDUCE/COPY operand a offset */
	size_t cnt;	 /* elements (TXWAIT: number of sends) */
	size_t rx_off;	 /* bytes: REDUCE received message (hdr first) in the RX area */
	size_t dst_off;	 /* bytes: SEND destination offset in the peer's region */
} pc_op_t;

/* What a REDUCE does with the received header. MERGE adds it to everything
 * accumulated so far (the partner's message covers ranks we have not seen:
 * butterflies). FORWARD makes the accumulated header this process's own plus
 * the received one (a ring: the message already covers every rank upstream,
 * and adding it to what came before would count them twice). */
enum pc_hdr_use { PC_HDR_NONE = 0, PC_HDR_MERGE = 1, PC_HDR_FORWARD = 2 };

enum pc_algo {
	PC_ALGO_AUTO = 0,
	PC_ALGO_RD = 1,
	PC_ALGO_RSAG = 2,
	PC_ALGO_RING = 3,
	PC_ALGO_PIPE = 4
};

typedef struct pc_sched {
	int P, rank;
	int algo;	 /* resolved (RD for P=1 and for counts too small for the others) */
	uint32_t nseg;	 /* PIPE: segments of the pipelined last step (1 for the others) */
	size_t count;	 /* elements */
	size_t dtsize;	 /* bytes per element */
	size_t rx_bytes; /* receive area per parity, same on every rank */
	/* Receive areas: 2, one per round parity, when a partner may write round
	 * r+1's message before this process has read round r's (recursive
	 * doubling); 1 when every sender of a slot finishes round r only after
	 * this process has read the slot (reduce-scatter + allgather, ring: the
	 * sender needs this process's allgather message, sent after its reads). */
	int rx_areas;
	uint32_t nslots;       /* data flag slots per parity, same on every rank */
	int res_hdr_from_peer; /* result and header arrive whole from the fold partner */
	size_t nops;
	pc_op_t *ops;
	size_t nsends; /* SEND ops in the program */
} pc_sched_t;

/** Largest buffer (bytes) for which AUTO picks recursive doubling. */
#define PC_RD_MAX_BYTES 16384
/** PIPE's default segment (bytes) and most segments per step. */
#define PC_SEG_BYTES (64 * 1024)
#define PC_SEG_MAX   32

/**
 * Build the schedule of `rank` among P for count elements of dtsize bytes.
 * seg_bytes: PIPE's segment size (0: PC_SEG_BYTES); the others ignore it.
 * algo PC_ALGO_AUTO picks recursive doubling up to PC_RD_MAX_BYTES, above it
 * reduce-scatter + allgather when P is a power of two and the ring otherwise
 * (no fold: every rank's memory stays under N for receiving). RSAG needs
 * count >= the power-of-two part of P, the ring count >= P; both fall back to
 * RD below that. Returns 0 or a negative PCOLL_ERR_*.
 */
int pc_sched_build(pc_sched_t *s, int P, int rank, size_t count, size_t dtsize, int algo,
		   size_t seg_bytes);
void pc_sched_free(pc_sched_t *s);
const char *pc_sched_algo_name(int algo);

/* Internal to the sched_*.c files. */
typedef struct pc_sched_builder {
	pc_sched_t *s;
	size_t cap;
	int err;
} pc_sched_builder_t;
pc_op_t *pc_sched_push(pc_sched_builder_t *b, int kind);
/* Push the SEND op *send, then a WAIT on local slot `flag` written by `from`
 * (the send's partner in a pairwise exchange, the left neighbour in a ring). */
void pc_sched_send_wait(pc_sched_builder_t *b, const pc_op_t *send, uint32_t flag, int from);
void pc_sched_fold_geometry(int P, int *pof2, int *rem);
int pc_sched_real_rank(int newrank, int rem);
int pc_sched_newrank(int rank, int rem);
int pc_sched_fold_out(pc_sched_builder_t *b, uint32_t res_slot);
void pc_sched_fold_in(pc_sched_builder_t *b, int dst_buf);
void pc_sched_fold_result(pc_sched_builder_t *b, uint32_t res_slot);
int pc_sched_build_rd(pc_sched_builder_t *b);
int pc_sched_build_rsag(pc_sched_builder_t *b, size_t seg_bytes);
int pc_sched_build_ring(pc_sched_builder_t *b);
/* Block b of nblocks over count elements: [start, start+len). */
void pc_sched_block(size_t count, int nblocks, int b, size_t *start, size_t *len);

#endif
