/*
 * The embedding API on a process alone: run-time version, struct sizes,
 * cfg.oob (a one-process allgather, a failing one, bad ranks). Every check
 * is one a host library relies on; any failure exits non-zero.
 */
#include <stdio.h>
#include <string.h>

#include "mp_common.h"

static int copy_allgather(const void *send, void *recv, size_t bytes, void *arg)
{
	int *calls = arg;
	(*calls)++;
	memcpy(recv, send, bytes);
	return 0;
}

static int failing_allgather(const void *send, void *recv, size_t bytes, void *arg)
{
	(void)send, (void)recv, (void)bytes, (void)arg;
	return 7;
}

int main(void)
{
	mp_rank = 0;
	int ma = -1, mi = -1, pa = -1;
	int v = pcoll_version(&ma, &mi, &pa);
	MP_EXPECT(ma == PCOLL_VERSION_MAJOR && mi == PCOLL_VERSION_MINOR &&
		      pa == PCOLL_VERSION_PATCH,
		  "pcoll_version %d.%d.%d, header %d.%d.%d", ma, mi, pa, PCOLL_VERSION_MAJOR,
		  PCOLL_VERSION_MINOR, PCOLL_VERSION_PATCH);
	MP_EXPECT(v == PCOLL_VERSION && pcoll_version(NULL, NULL, NULL) == v,
		  "pcoll_version returned %#x, PCOLL_VERSION is %#x", v, PCOLL_VERSION);

	pcoll_ctx_t *ctx = NULL;
	pcoll_config_t cfg;
	pcoll_config_init(&cfg);
	MP_EXPECT(cfg.size == sizeof(cfg), "pcoll_config_init set size %zu", cfg.size);
	/* A struct not filled by pcoll_config_init is refused, not read as garbage. */
	memset(&cfg, 0xab, sizeof(cfg));
	int rc = pcoll_init(&cfg, &ctx);
	MP_EXPECT(rc == PCOLL_ERR_INVAL && !ctx && strstr(pcoll_last_error(), "pcoll_config_init"),
		  "garbage config: %d (%s)", rc, pcoll_last_error());

	/* oob: rank out of range, a failing allgather, allgather without a size. */
	pcoll_config_init(&cfg);
	int calls = 0;
	cfg.oob.allgather = copy_allgather;
	cfg.oob.arg = &calls;
	cfg.oob.rank = 1;
	cfg.oob.size = 1;
	rc = pcoll_init(&cfg, &ctx);
	MP_EXPECT(rc == PCOLL_ERR_INVAL && strstr(pcoll_last_error(), "rank 1"),
		  "oob rank 1 of 1: %d (%s)", rc, pcoll_last_error());
	cfg.oob.rank = 0;
	cfg.oob.allgather = failing_allgather;
	rc = pcoll_init(&cfg, &ctx);
	MP_EXPECT(rc == PCOLL_ERR_WIREUP && strstr(pcoll_last_error(), "returned 7"),
		  "failing oob: %d (%s)", rc, pcoll_last_error());
	cfg.oob.allgather = NULL;
	rc = pcoll_init(&cfg, &ctx);
	MP_EXPECT(rc == PCOLL_ERR_INVAL && strstr(pcoll_last_error(), "no allgather"),
		  "oob without allgather: %d (%s)", rc, pcoll_last_error());

	/* A working one-process oob: the wireup goes through it at init and
	 * finalize; creates and destroys exchange over the fabric, never
	 * through the host's allgather (which would be a job-wide collective of
	 * the host per create). */
	cfg.oob.allgather = copy_allgather;
	MP_OK(pcoll_init(&cfg, &ctx));
	pcoll_ctx_info_t in;
	MP_OK(pcoll_ctx_query(ctx, &in));
	MP_EXPECT(!strcmp(in.wireup, "oob"), "wireup is %s, expected oob", in.wireup);
	int at_init = calls;
	MP_EXPECT(at_init >= 1, "the oob allgather was not called by pcoll_init");

	pcoll_attr_t attr;
	pcoll_attr_init(&attr);
	MP_EXPECT(attr.size == sizeof(attr), "pcoll_attr_init set size %zu", attr.size);
	pcoll_coll_t *c = NULL;
	attr.size = 3;
	rc = pcoll_allreduce_create(ctx, 16, PCOLL_FLOAT32, &attr, &c);
	MP_EXPECT(rc == PCOLL_ERR_INVAL && !c && strstr(pcoll_last_error(), "pcoll_attr_init"),
		  "attr.size 3: %d (%s)", rc, pcoll_last_error());
	pcoll_attr_init(&attr);
	attr.mode = PCOLL_SOLO;
	MP_OK(pcoll_allreduce_create(ctx, 16, PCOLL_FLOAT32, &attr, &c));
	MP_EXPECT(calls == at_init, "create called the host's oob allgather");
	float g[16], out = 0;
	for (int i = 0; i < 16; i++)
		g[i] = (float)i;
	MP_OK(pcoll_step(c, g));
	pcoll_round_t r;
	while (pcoll_next_round(c, &r) == 1)
		out += ((const float *)r.data)[15];
	MP_FLUSH_TAKING(c, while (pcoll_next_round(c, &r) == 1) out += ((const float *)r.data)[15]);
	MP_EXPECT(out == 15.0f, "rounds summed to %g, expected 15", out);
	/* Query, as 0.4 callers (the macro passes the struct's size) and as a
	 * program built against 0.3 (the function: 0.3's fields only). */
	pcoll_coll_info_t qi;
	memset(&qi, 0xee, sizeof(qi));
	MP_OK(pcoll_coll_query(c, &qi));
	MP_EXPECT(qi.count == 16 && qi.memory_bytes >= 3 * 16 * sizeof(float) &&
		      qi.memory_bytes < (size_t)1 << 20,
		  "query: count %zu memory_bytes %zu", qi.count, qi.memory_bytes);
	memset(&qi, 0xee, sizeof(qi));
	MP_OK((pcoll_coll_query)(c, &qi));
	MP_EXPECT(qi.count == 16 && qi.memory_bytes == (size_t)0xeeeeeeeeeeeeeeeeULL,
		  "0.3's pcoll_coll_query wrote past 0.3's struct (count %zu)", qi.count);
	rc = pcoll_coll_query_sized(c, &qi, 8);
	MP_EXPECT(rc == PCOLL_ERR_INVAL, "query of 8 bytes: %d", rc);
	MP_OK(pcoll_destroy(c));
	MP_EXPECT(calls == at_init, "destroy called the host's oob allgather");
	MP_OK(pcoll_finalize(ctx));
	MP_EXPECT(calls > at_init, "finalize did not meet the others through the oob");

	/* pcoll_abort: local teardown; open collectives are invalidated. */
	MP_OK(pcoll_init(NULL, &ctx));
	MP_OK(pcoll_allreduce_create(ctx, 16, PCOLL_FLOAT32, NULL, &c));
	MP_OK(pcoll_abort(ctx));
	rc = pcoll_step(c, g);
	MP_EXPECT(rc == PCOLL_ERR_FINALIZED, "step after abort: %d (%s)", rc, pcoll_last_error());
	pcoll_destroy(c);
	printf("ok   api: version %d.%d.%d, struct sizes, oob (%d allgathers)\n", ma, mi, pa,
	       calls);
	return 0;
}
