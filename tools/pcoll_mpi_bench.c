/*
 * pcoll_mpi_bench -- the yardstick: MPI_Allreduce (MPI_SUM) latency with the
 * same flags, output and CSV rows as `pcoll_bench allreduce`. Built with
 * Open MPI's and MPICH's mpicc (pcoll_mpi_bench_openmpi, _mpich).
 *
 *   mpirun -n 2 pcoll_mpi_bench_openmpi [allreduce] [-m [MIN:]MAX] [-i N] [-x N] [-f] [-c CSV]
 *
 * Each iteration is timed on its own and followed by MPI_Barrier (as in
 * osu_allreduce); with -B (--b2b) the iterations run back to back, like a
 * training loop, and each rank's time is its total / iterations. Rank 0
 * prints the average over ranks of the per-rank averages, and with -f their
 * minimum and maximum.
 */
#define _GNU_SOURCE
#include "bench_common.h"

#include <mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "pcoll_mpi_bench"

#if defined(OPEN_MPI) && OPEN_MPI
#define IMPL_NAME "Open MPI"
#define IMPL_ID	  "openmpi"
#elif defined(MPICH_VERSION)
#define IMPL_NAME "MPICH"
#define IMPL_ID	  "mpich"
#else
#define IMPL_NAME "MPI"
#define IMPL_ID	  "mpi"
#endif

static int g_rank;

#define MPI_CHECK(call)                                                                            \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ != MPI_SUCCESS) {                                                          \
			char msg_[MPI_MAX_ERROR_STRING];                                           \
			int len_ = 0;                                                              \
			MPI_Error_string(rc_, msg_, &len_);                                        \
			fprintf(stderr, PROG ": rank %d: %s failed (line %d): %s\n", g_rank,       \
				#call, __LINE__, msg_);                                            \
			MPI_Abort(MPI_COMM_WORLD, 1);                                              \
		}                                                                                  \
	} while (0)

/* A label of the transport in use, from what the launcher/user set. */
static void transport_label(char *out, size_t len, const char *libver)
{
	out[0] = '\0';
#if defined(OPEN_MPI) && OPEN_MPI
	{
		const char *pml = getenv("OMPI_MCA_pml"), *btl = getenv("OMPI_MCA_btl");
		if (pml || btl)
			snprintf(out, len, "pml=%s/btl=%s", pml ? pml : "default",
				 btl ? btl : "default");
		else
			snprintf(out, len, "default");
	}
	(void)libver;
#else
	{
		const char *v, *dev = libver ? strstr(libver, "MPICH Device:") : NULL;
		char d[32] = "default";
		if (dev) {
			dev += strlen("MPICH Device:");
			while (*dev == ' ' || *dev == '\t')
				dev++;
			size_t n = strcspn(dev, " \t\r\n");
			if (n >= sizeof(d))
				n = sizeof(d) - 1;
			memcpy(d, dev, n);
			d[n] = '\0';
		}
		snprintf(out, len, "%s", d);
		if ((v = getenv("UCX_TLS")) != NULL)
			snprintf(out + strlen(out), len - strlen(out), "/UCX_TLS=%s", v);
		if ((v = getenv("FI_PROVIDER")) != NULL)
			snprintf(out + strlen(out), len - strlen(out), "/FI_PROVIDER=%s", v);
	}
#endif
	bench_csv_sanitize(out);
}

int main(int argc, char **argv)
{
	struct bench_opts O;
	int P, rc, len = 0;
	char libver[MPI_MAX_LIBRARY_VERSION_STRING + 1] = "", provider[128], title[256];
	MPI_Datatype mdt;
	size_t dts;
	FILE *csv = NULL;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
	MPI_Comm_size(MPI_COMM_WORLD, &P);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

	rc = bench_parse(argc, argv, &O, PROG, BENCH_KIND_MASK(BENCH_ALLREDUCE), "mpi");
	if (rc) {
		MPI_Finalize();
		return rc > 0 ? 0 : 2;
	}
	if (strcmp(O.datatype, "float32") == 0) {
		mdt = MPI_FLOAT;
		dts = 4;
	} else if (strcmp(O.datatype, "float64") == 0) {
		mdt = MPI_DOUBLE;
		dts = 8;
	} else if (strcmp(O.datatype, "int32") == 0) {
		mdt = MPI_INT32_T;
		dts = 4;
	} else if (strcmp(O.datatype, "int64") == 0) {
		mdt = MPI_INT64_T;
		dts = 8;
	} else {
		if (g_rank == 0)
			fprintf(stderr,
				PROG ": -t %s: unsupported (float32, float64, int32, int64)\n",
				O.datatype);
		MPI_Finalize();
		return 2;
	}

	MPI_Get_library_version(libver, &len);
	if (O.provider)
		snprintf(provider, sizeof(provider), "%s", O.provider);
	else
		transport_label(provider, sizeof(provider), libver);
	bench_csv_sanitize(provider);

	if (g_rank == 0 && O.csv) {
		csv = bench_csv_open(O.csv, BENCH_ALLREDUCE);
		if (!csv)
			fprintf(stderr, PROG ": rank 0: cannot write %s: %m\n", O.csv);
	}
	{
		int ok = (g_rank != 0 || !O.csv || csv) ? 1 : 0;
		MPI_CHECK(MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD));
		if (!ok) {
			MPI_Finalize();
			return 1;
		}
	}

	void *sendbuf = malloc(O.max_size >= dts ? O.max_size : dts);
	void *recvbuf = malloc(O.max_size >= dts ? O.max_size : dts);
	if (!sendbuf || !recvbuf) {
		fprintf(stderr, PROG ": rank %d: out of memory\n", g_rank);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	memset(sendbuf, 0, O.max_size >= dts ? O.max_size : dts);
	for (size_t i = 0; i < O.max_size / dts; i++) {
		if (mdt == MPI_FLOAT)
			((float *)sendbuf)[i] = 1.0f;
		else if (mdt == MPI_DOUBLE)
			((double *)sendbuf)[i] = 1.0;
		else if (dts == 4)
			((int32_t *)sendbuf)[i] = 1;
		else
			((int64_t *)sendbuf)[i] = 1;
	}

	if (g_rank == 0) {
		char first[128], info[320];
		size_t n = strcspn(libver, "\r\n");
		if (n >= sizeof(first))
			n = sizeof(first) - 1;
		memcpy(first, libver, n);
		first[n] = '\0';
		snprintf(title, sizeof(title), "# MPI Allreduce Latency Test (impl=%s, P=%d%s)",
			 IMPL_NAME, P, O.b2b ? ", back-to-back" : "");
		snprintf(info, sizeof(info), "# %s\n# transport: %s, datatype=%s", first, provider,
			 O.datatype);
		bench_print_latency_header(stdout, title, O.full ? info : NULL, O.full);
	}

	for (int i = 0; i < bench_settle_barriers(&O); i++)
		MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
	for (size_t size = O.min_size; size <= O.max_size; size *= 2) {
		int count = (int)(size / dts), iters, warmup;
		double timer = 0.0, lat, lo, hi, sum;
		if (count == 0)
			continue;
		bench_iters_for(&O, size, &iters, &warmup);
		MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
		if (O.b2b) {
			for (int i = 0; i < warmup; i++)
				MPI_CHECK(MPI_Allreduce(sendbuf, recvbuf, count, mdt, MPI_SUM,
							MPI_COMM_WORLD));
			MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
			double t0 = MPI_Wtime();
			for (int i = 0; i < iters; i++)
				MPI_CHECK(MPI_Allreduce(sendbuf, recvbuf, count, mdt, MPI_SUM,
							MPI_COMM_WORLD));
			timer = MPI_Wtime() - t0;
		}
		for (int i = 0; !O.b2b && i < warmup + iters; i++) {
			double t0 = MPI_Wtime();
			MPI_CHECK(
			    MPI_Allreduce(sendbuf, recvbuf, count, mdt, MPI_SUM, MPI_COMM_WORLD));
			double t1 = MPI_Wtime();
			if (i >= warmup)
				timer += t1 - t0;
			MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
		}
		/* The result must be P in every element we look at. */
		{
			double first, last;
			if (mdt == MPI_FLOAT) {
				first = ((float *)recvbuf)[0];
				last = ((float *)recvbuf)[count - 1];
			} else if (mdt == MPI_DOUBLE) {
				first = ((double *)recvbuf)[0];
				last = ((double *)recvbuf)[count - 1];
			} else if (dts == 4) {
				first = ((int32_t *)recvbuf)[0];
				last = ((int32_t *)recvbuf)[count - 1];
			} else {
				first = (double)((int64_t *)recvbuf)[0];
				last = (double)((int64_t *)recvbuf)[count - 1];
			}
			if (first != (double)P || last != (double)P) {
				fprintf(stderr,
					PROG ": rank %d: MPI_Allreduce of %d ones gave %g and %g, "
					     "expected %d\n",
					g_rank, count, first, last, P);
				MPI_Abort(MPI_COMM_WORLD, 1);
			}
		}
		lat = timer * 1e6 / iters;
		MPI_CHECK(MPI_Reduce(&lat, &lo, 1, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD));
		MPI_CHECK(MPI_Reduce(&lat, &hi, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD));
		MPI_CHECK(MPI_Reduce(&lat, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
		if (g_rank == 0) {
			bench_print_latency_row(stdout, size, sum / P, lo, hi, iters, O.full);
			if (csv)
				bench_csv_latency_row(csv, IMPL_ID, "mpi", provider, P, size,
						      sum / P, lo, hi, iters, bench_shape(&O),
						      NULL);
		}
	}
	free(sendbuf);
	free(recvbuf);
	MPI_Finalize();

	return bench_csv_finish(csv, &O, PROG, g_rank);
}
