/*
 * How the multi-process tests start pcoll. Built plainly, through PMIx.
 * Built with an MPI compiler and -DMP_OOB_MPI, as a host library would embed
 * pcoll: MPI_Init, then pcoll_init with MPI_Allgather as cfg.oob -- over
 * MPI_COMM_WORLD, or with MP_OOB_SUBSET=even over the even ranks only (the
 * odd ones never call pcoll), which is a subset of the job running pcoll.
 */
#ifndef PCOLL_MP_OOB_MPI_H
#define PCOLL_MP_OOB_MPI_H

#include <stdlib.h>
#include <string.h>

#include "pcoll.h"

#ifdef MP_OOB_MPI
#include <mpi.h>

static MPI_Comm mp_comm = MPI_COMM_NULL;

static int mp_mpi_allgather(const void *send, void *recv, size_t bytes, void *arg)
{
	MPI_Comm comm = *(MPI_Comm *)arg;
	return MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, comm) !=
	       MPI_SUCCESS;
}

/* Returns 1 when this process takes part, 0 when it sits the test out. */
static int mp_start(pcoll_ctx_t **ctx, int *rc)
{
	MPI_Init(NULL, NULL);
	int wrank;
	MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
	const char *sub = getenv("MP_OOB_SUBSET");
	int in = !(sub && !strcmp(sub, "even")) || wrank % 2 == 0;
	MPI_Comm_split(MPI_COMM_WORLD, in ? 0 : MPI_UNDEFINED, wrank, &mp_comm);
	if (!in) {
		MPI_Finalize();
		*rc = 0;
		return 0;
	}
	pcoll_config_t cfg;
	pcoll_config_init(&cfg);
	MPI_Comm_rank(mp_comm, &cfg.oob.rank);
	MPI_Comm_size(mp_comm, &cfg.oob.size);
	cfg.oob.allgather = mp_mpi_allgather;
	cfg.oob.arg = &mp_comm;
	*rc = pcoll_init(&cfg, ctx);
	return 1;
}

static int mp_stop(pcoll_ctx_t *ctx)
{
	int rc = pcoll_finalize(ctx);
	MPI_Comm_free(&mp_comm);
	MPI_Finalize();
	return rc;
}
#else
static int mp_start(pcoll_ctx_t **ctx, int *rc)
{
	*rc = pcoll_init(NULL, ctx);
	return 1;
}

static int mp_stop(pcoll_ctx_t *ctx)
{
	return pcoll_finalize(ctx);
}
#endif

#endif
