/*
 * Activation: a round is announced by small writes along a binomial tree
 * rooted at its initiator. The child at relative rank rel + 2^m of rel is
 * written in its activation slot m (the slot of source child - 2^m), so the
 * slots a process reads are fixed and few: ceil(log2 P). Several initiators of
 * the same round (solo) are harmless: knowing round r is idempotent.
 */
#ifndef PCOLL_ACTIVATION_H
#define PCOLL_ACTIVATION_H

#include <stdint.h>

/** Activation slots per process: ceil(log2 P) (0 for P = 1). */
int pc_act_nslots(int P);

/**
 * Children of `rank` in the tree of `initiator`: fills peers[i] and the slot
 * index at that peer, returns how many (at most pc_act_nslots(P)).
 */
int pc_act_children(int P, int rank, int initiator, int *peers, int *slots);

/** The majority initiator of round r: the same on every process for a seed. */
int pc_initiator(uint64_t seed, uint64_t round, int P);

#endif
