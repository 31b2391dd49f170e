/*
 * Failure notices: every member of the context's team has a value slot per
 * sender in its exchange region; a process that found a peer gone by its own
 * means writes that rank + 1 into its slot at every other live process. On
 * the CQ-data path the write wakes the target at once; on the counter path
 * the target reads the slots when it looks for dead peers anyway (every
 * 200 ms while a call waits with nothing moving). One slot per sender holds
 * the latest notice: a second death announced before the first was read is
 * still found by the reader's own means or its timeout.
 */
#include <stdio.h>

#include "pcoll_internal.h"

void pc_notice_scan(pcoll_ctx_t *ctx)
{
	pcoll_team_t *w = ctx->world;
	if (!w || !w->notices)
		return;
	for (int s = 0; s < w->size; s++) {
		uint64_t v = pc_remote_load(&w->notices[s]);
		if (!v || v > (uint64_t)ctx->size || ctx->gone[v - 1])
			continue;
		char why[64];
		snprintf(why, sizeof(why), "job rank %d reported it gone", s);
		pc_ctx_peer_told(ctx, (int)(v - 1), why);
	}
}

void pc_notice_announce(pcoll_ctx_t *ctx)
{
	pcoll_team_t *w = ctx->world;
	for (int r = 0; r < ctx->size && ctx->nannounce; r++) {
		if (!ctx->announce[r])
			continue;
		ctx->announce[r] = 0;
		ctx->nannounce--;
		uint64_t v = (uint64_t)r + 1;
		for (int m = 0; m < w->size; m++) {
			if (m == w->rank || ctx->gone[m])
				continue;
			/* Best effort: a peer we cannot reach learns it otherwise. */
			pc_tp_put_value(
			    ctx->tp, m, &v, sizeof(v), &w->xkeys[m],
			    pc_team_notice_off(w) + (size_t)w->rank * 8,
			    pc_cq_encode(PC_TEAM_ID_BIT | w->peer_ids[m], PC_CQ_KIND_VALUE, 0));
		}
	}
}
