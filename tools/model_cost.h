/*
 * model_cost.h -- LogGP costs of pcoll's rounds: what one allreduce round
 * of a given size costs on P processes, and how long the activation of a
 * partial round takes to reach each process. Mirrors the library's schedules
 * without linking it (tests/check_model.c checks the mirror against
 * lib/sched_rd.c, lib/sched_rsag.c and lib/activation.c):
 *
 * - algorithm: recursive doubling up to 16 KiB (PC_RD_MAX_BYTES), else
 *   reduce-scatter + allgather (Rabenseifner) when P is a power of two and the
 *   ring (lib/sched_ring.c: P-1 steps of reduce-scatter, P-1 of allgather)
 *   otherwise; reduce-scatter + allgather falls back to recursive doubling
 *   when count < the power-of-two part of P, the ring when count < P.
 *   Recursive doubling (and reduce-scatter + allgather forced) at a P that is
 *   not a power of two folds the first 2*rem ranks in pairs (a message and a
 *   reduction before, a message after).
 * - every step of a round is one message each way between partners, then
 *   (except the allgather's and the fold result's) a reduction of what came;
 *   a message carries a 64-byte round header except in the allgather.
 * - activation (solo, majority, quorum): 16-byte writes along a binomial tree
 *   rooted at the initiator (children rel + 2^m in increasing m, sent one
 *   after another); the initiator skips its first data partner when that is a
 *   leaf (the data tells it). Data landing for the round also tells a process.
 * - quorum: every arrival is an 8-byte write to rank 0, which initiates.
 *
 * LogGP (Alexandrov et al.): a k-byte message costs o at the sender, (k-1)G on
 * the wire after it, L of latency and o at the receiver; one process's
 * consecutive sends are max(o, g) apart. gamma is the reduction's cost per
 * byte. A step of a round costs 2o + L + (k-1)G + reduced * gamma: one message
 * each way at once, so only the sum alpha = L + 2o enters a round; o and g
 * enter only the activation's fan-out.
 *
 * Times in microseconds, G and gamma in microseconds per byte.
 */
#ifndef PCOLL_MODEL_COST_H
#define PCOLL_MODEL_COST_H

#include <stddef.h>
#include <stdint.h>

struct loggp {
	double L;     /**< latency */
	double o;     /**< overhead per message, at each end */
	double g;     /**< gap between one process's consecutive messages */
	double G;     /**< gap per byte */
	double gamma; /**< reduction, per byte reduced */
};

/** The algorithms (the values of lib/schedule.h's PC_ALGO_*). */
enum { MODEL_RD = 1, MODEL_RSAG = 2, MODEL_RING = 3 };

/** Bytes of the round header in front of a message (PC_HDR_BYTES). */
#define MODEL_HDR_BYTES 64
/** Largest buffer for recursive doubling (PC_RD_MAX_BYTES). */
#define MODEL_RD_MAX_BYTES 16384
/** Bytes of an activation write and of a quorum arrival write. */
#define MODEL_ACT_BYTES	   16
#define MODEL_NOTIFY_BYTES 8
/** Most entries of a round's critical path (P <= 2^30). */
#define MODEL_MAX_STEPS 64

/** Steps of a round's critical path: the largest message of the step and
 * the bytes reduced after it (0: none), `times` steps alike in a row (the
 * ring's P-1). */
struct model_step {
	size_t bytes;
	size_t reduced;
	int times;
};

/** The algorithm pcoll picks for P processes and count elements of dtsize. */
int model_algo(int P, size_t count, size_t dtsize);

/** The algorithm pcoll runs when want (MODEL_RD, MODEL_RSAG, MODEL_RING; 0:
 * auto) is asked for, as PCOLL_ALGORITHM does: reduce-scatter + allgather
 * falls back to recursive doubling below pof2(P) elements, the ring below P. */
int model_algo_want(int P, size_t count, size_t dtsize, int want);

/**
 * The critical path of one round: [fold in] phases [fold result]. Fills st
 * (MODEL_MAX_STEPS entries) and returns the number of entries (0 for P = 1).
 * Phase i is the largest message any rank sends in phase i. algo: as
 * model_algo_want.
 */
int model_round_steps(int P, size_t count, size_t dtsize, int algo, struct model_step *st);

/** A k-byte message: 2o + L + (k-1)G. */
double model_msg(const struct loggp *m, size_t bytes);

/** One round, every process joining at once: the sum over its steps. */
double model_round(const struct loggp *m, int P, size_t count, size_t dtsize);

/** The same, for the algorithm algo (0: the one pcoll picks). */
double model_round_algo(const struct loggp *m, int P, size_t count, size_t dtsize, int algo);

/**
 * model_round is linear in (alpha = L + 2o, G, gamma): coef[0..2] such that
 * model_round = coef[0] alpha + coef[1] G + coef[2] gamma; for the algorithm
 * algo (0: the one pcoll picks).
 */
void model_round_coef(int P, size_t count, size_t dtsize, int algo, double coef[3]);

/** Quorum: an arrival's write reaching rank 0. */
double model_notify(const struct loggp *m);

/**
 * Delay from the moment root initiates a round until each process knows it:
 * t[0..P-1] (t[root] = 0), by the activation tree, the data of the first
 * phase and the fold partners' pokes, whichever is first.
 */
void model_learn(const struct loggp *m, int P, size_t count, size_t dtsize, int root, double *t);

/** The majority initiator of round r (lib/activation.c pc_initiator). */
int model_initiator(uint64_t seed, uint64_t round, int P);

/** The children of rank in the activation tree of initiator (pc_act_children). */
int model_act_children(int P, int rank, int initiator, int *peers);

#endif
