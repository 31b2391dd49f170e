/*
 * sgd_control.c -- the control plane of pcoll_sgd: injected delays, the SYNC
 * control collective (barrier, agreement checks; moved to the survivors' team after a
 * shrink) and the round hashes.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <math.h>
#include <string.h>

#include "sgd.h"
/* --------------------------------------------------------------- imbalance */

/* Extra delay, in ms, of this process at its step number `step`; every process computes the
 * same choice of delayed processes from (seed, step). */
double delay_for(delayer_t *d, uint64_t step)
{
	switch (d->kind) {
	case IMB_PAPER: {
		if (d->k <= 0)
			return 0.0;
		if (d->k >= d->nprocs)
			return d->delta_ms;
		bench_rng_t r = bench_rng_key(d->seed, TAG_DELAY, step, 0);
		for (int i = 0; i < d->nprocs; i++)
			d->perm[i] = i;
		for (int i = 0; i < d->k; i++) { /* partial Fisher-Yates */
			int j = i + (int)bench_rng_below(&r, (uint64_t)(d->nprocs - i));
			int t = d->perm[i];
			d->perm[i] = d->perm[j];
			d->perm[j] = t;
			if (d->perm[i] == d->rank)
				return d->delta_ms;
		}
		return 0.0;
	}
	case IMB_SLOW:
		return d->rank == d->slow_rank ? d->delta_ms : 0.0;
	case IMB_TAIL: {
		bench_rng_t r = bench_rng_key(d->seed, TAG_DELAY, step, (uint64_t)d->rank + 1);
		double x = 0.25 * exp(1.25 * bench_rng_normal(&r)); /* median 1/4, mean ~0.55 */
		return d->delta_ms * (x < 20.0 ? x : 20.0);
	}
	case IMB_NONE:
	default:
		return 0.0;
	}
}

/* ------------------------------------------------------------ collectives */

/* A PCOLL_SYNC allreduce through a persistent collective: step, then take the round(s). */
void sync_allreduce(pcoll_coll_t *c, const void *in, void *out, size_t bytes)
{
	pcheck(pcoll_step(c, in), "pcoll_step (control)");
	pcoll_round_t rd;
	int got = 0, rc;
	while ((rc = pcheck(pcoll_next_round(c, &rd), "pcoll_next_round (control)")) == 1) {
		memcpy(out, rd.data, bytes);
		got = 1;
	}
	if (!got)
		die("control collective: pcoll_step returned without a round");
}

void barrier(pcoll_coll_t *ctrl)
{
	int64_t z[CTRL_COUNT] = {0}, out[CTRL_COUNT];
	sync_allreduce(ctrl, z, out, sizeof(out));
}

/* The control collective: SYNC, CTRL_COUNT int64, on team (NULL: the whole context). After a
 * shrink it moves to the survivors' team with the run's collectives. */
pcoll_coll_t *ctrl_create(pcoll_ctx_t *ctx, pcoll_team_t *team)
{
	pcoll_attr_t a;
	pcoll_attr_init(&a);
	a.mode = PCOLL_SYNC;
	a.team = team;
	pcoll_coll_t *ctrl = NULL;
	pcheck(pcoll_allreduce_create(ctx, CTRL_COUNT, PCOLL_INT64, &a, &ctrl),
	       "pcoll_allreduce_create (control)");
	return ctrl;
}

/* FNV-1a over a byte range, continuing from h. */
uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Fast word-wise hash of round data (FNV-style multiply per 8 bytes): cheap enough to run on
 * every round inside the timed loop. */
uint64_t digest64_u64(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x100000001b3ULL;
	return h ^ (h >> 29);
}

uint64_t digest64(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL, w;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0x100000001b3ULL;
	}
	for (; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h ^ (h >> 31);
}

/*
 * 1 when the 64-bit value h is the same on every process. Allreduce of the four 16-bit parts
 * and their squares: sum == P*x and sum of squares == P*x^2 mean zero variance, so each
 * process's verdict is the global one. Exact in int64 for any P < 2^31.
 */
int all_equal(pcoll_coll_t *ctrl, uint64_t h, int nprocs)
{
	int64_t in[CTRL_COUNT], out[CTRL_COUNT];
	for (int i = 0; i < 4; i++) {
		int64_t x = (int64_t)((h >> (16 * i)) & 0xffff);
		in[2 * i] = x;
		in[2 * i + 1] = x * x;
	}
	sync_allreduce(ctrl, in, out, sizeof(out));
	int ok = 1;
	for (int i = 0; i < CTRL_COUNT; i++)
		if (out[i] != (int64_t)nprocs * in[i])
			ok = 0;
	return ok;
}
