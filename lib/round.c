#include "round.h"

#include <string.h>

#include "activation.h"
#include "pcoll.h"
#include "remote.h"

void pc_rs_init(pc_rs_t *rs, int mode, int P, int rank, int S, int k, uint64_t seed)
{
	memset(rs, 0, sizeof(*rs));
	rs->mode = mode;
	rs->P = P;
	rs->rank = rank;
	rs->S = mode == PCOLL_SYNC ? 0 : S;
	rs->k = k;
	rs->seed = seed;
	rs->last_arrival = -1;
	rs->pend_oldest = -1;
}

int pc_rs_arrive(pc_rs_t *rs)
{
	uint64_t v = rs->version, next = v + 1;
	rs->steps++;
	rs->last_arrival = (int64_t)v;
	if (rs->pend_count++ == 0)
		rs->pend_oldest = (int64_t)v;
	if (rs->triggered >= next)
		return PC_ARRIVE_NONE;
	switch (rs->mode) {
	case PCOLL_SYNC:
		rs->triggered = next;
		return PC_ARRIVE_LOCAL;
	case PCOLL_SOLO:
		rs->triggered = next;
		rs->initiated++;
		return PC_ARRIVE_INITIATE;
	case PCOLL_MAJORITY:
		if (pc_initiator(rs->seed, next, rs->P) != rs->rank)
			return PC_ARRIVE_NONE;
		rs->triggered = next;
		rs->initiated++;
		return PC_ARRIVE_INITIATE;
	default:
		return PC_ARRIVE_NOTIFY_ROOT;
	}
}

void pc_rs_flush(pc_rs_t *rs)
{
	rs->flushed = 1;
}

void pc_rs_triggered(pc_rs_t *rs, uint64_t r)
{
	if (r > rs->triggered)
		rs->triggered = r;
}

int pc_rs_holds(const pc_rs_t *rs, uint64_t r)
{
	if (rs->flushed)
		return 0;
	return rs->last_arrival < (int64_t)r - 1 - (int64_t)rs->S;
}

void pc_rs_hold(pc_rs_t *rs, uint64_t r)
{
	if (rs->held_round != r) {
		rs->held_round = r;
		rs->holds++;
	}
}

uint64_t pc_rs_joinable(pc_rs_t *rs)
{
	if (rs->in_round)
		return 0;
	uint64_t next = rs->completed + 1;
	/* In sync a flushed process is arrived at every version: it joins at once. */
	int trig = rs->triggered >= next || (rs->mode == PCOLL_SYNC && rs->flushed);
	if (!trig)
		return 0;
	if (pc_rs_holds(rs, next)) {
		pc_rs_hold(rs, next);
		return 0;
	}
	return next;
}

void pc_rs_take(pc_rs_t *rs, uint64_t r, pc_hdr_t *mine)
{
	memset(mine, 0, sizeof(*mine));
	mine->round = r;
	mine->contributions = rs->pend_count;
	mine->staleness = rs->pend_count ? (int64_t)r - 1 - rs->pend_oldest : -1;
	mine->flushed = (uint64_t)rs->flushed;
	rs->pend_count = 0;
	rs->pend_oldest = -1;
	rs->in_round = 1;
	pc_rs_triggered(rs, r);
}

int pc_rs_complete(pc_rs_t *rs, const pc_hdr_t *res)
{
	rs->completed = res->round;
	rs->in_round = 0;
	if (res->flushed == (uint64_t)rs->P) {
		/* Everyone had flushed before taking part: every pending was emptied. */
		rs->flushed = 0;
		rs->epoch++;
		return 1;
	}
	return 0;
}

static int all_flushed(const pc_rs_t *rs, const volatile uint64_t *flushslot)
{
	for (int p = 0; p < rs->P; p++)
		if (pc_remote_load(&flushslot[p]) < rs->epoch + 1)
			return 0;
	return 1;
}

uint64_t pc_rs_self_initiate(pc_rs_t *rs, const volatile uint64_t *flushslot)
{
	if (rs->in_round || rs->triggered > rs->completed)
		return 0;
	uint64_t next = rs->completed + 1;
	if (rs->rank == 0 && flushslot && all_flushed(rs, flushslot))
		return next;
	if (rs->flushed && rs->mode == PCOLL_MAJORITY &&
	    pc_initiator(rs->seed, next, rs->P) == rs->rank)
		return next;
	return 0;
}

uint64_t pc_rs_quorum_ready(pc_rs_t *rs, const volatile uint64_t *arrival,
			    const volatile uint64_t *flushslot)
{
	if (rs->mode != PCOLL_QUORUM || rs->rank != 0)
		return 0;
	uint64_t next = rs->triggered + 1;
	/* One round at a time: flushed processes count as arrived for every
	 * round, which must not let the root run ahead of the rounds. */
	if (next > rs->completed + 1)
		return 0;
	int n = 0;
	for (int p = 0; p < rs->P; p++)
		if (pc_remote_load(&arrival[p]) >= next ||
		    pc_remote_load(&flushslot[p]) >= rs->epoch + 1)
			n++;
	return n >= rs->k ? next : 0;
}
