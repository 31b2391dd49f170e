#include "activation.h"

int pc_act_nslots(int P)
{
	int n = 0;
	while (n < 31 && (1 << n) < P)
		n++;
	return n;
}

int pc_act_children(int P, int rank, int initiator, int *peers, int *slots)
{
	int rel = ((rank - initiator) % P + P) % P, n = 0;
	for (int m = 0; m < 31 && (1 << m) < P; m++) {
		int step = 1 << m;
		if (rel < step && rel + step < P) {
			peers[n] = (int)(((int64_t)initiator + rel + step) % P);
			slots[n++] = m;
		}
	}
	return n;
}

/* splitmix64: a well-mixed function of (seed, round). */
static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int pc_initiator(uint64_t seed, uint64_t round, int P)
{
	/* Multiply-shift maps 64 random bits onto [0, P) without modulo bias. */
	unsigned __int128 m = (unsigned __int128)mix64(seed ^ mix64(round)) * (uint64_t)P;
	return (int)(m >> 64);
}
