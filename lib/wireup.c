/*
 * Which wireup a context gets, and the singleton. A process started alone
 * runs alone; a process whose environment says it is one of many, with no
 * PMIx server and no oob to find the others, fails instead of summing only
 * its own contributions and exiting 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcoll_internal.h"
#include "wireup.h"

static int single_allgather(pc_wireup_t *w, const void *mine, size_t len, void *all)
{
	(void)w;
	memcpy(all, mine, len);
	return 0;
}

static int single_barrier(pc_wireup_t *w)
{
	(void)w;
	return 0;
}

static void single_fini(pc_wireup_t *w)
{
	(void)w;
}

static const pc_wireup_ops_t single_ops = {"singleton", single_allgather, single_barrier,
					   single_fini};

void pc_wireup_singleton_init(pc_wireup_t *w)
{
	w->ops = &single_ops;
	w->rank = 0;
	w->size = 1;
}

/* Variables launchers set for every process of a job of more than one
 * process, with what the launcher is. SLURM_NTASKS alone is not one: an
 * salloc shell has it, and a program started there does run alone. */
static const struct {
	const char *var, *who;
} job_vars[] = {
    {"PMI_SIZE", "a PMI-1/PMI-2 launcher such as MPICH's mpiexec (hydra)"},
    {"SLURM_STEP_NUM_TASKS", "srun without --mpi=pmix"},
    {"OMPI_COMM_WORLD_SIZE", "Open MPI's mpirun without its PMIx server"},
    {"MPI_LOCALNRANKS", "MPICH's mpiexec (hydra)"},
    {"WORLD_SIZE", "a torchrun-style launcher"},
    {"PMIX_SIZE", NULL},
};

static int multi_process_env(char *msg, size_t len)
{
	for (size_t i = 0; i < sizeof(job_vars) / sizeof(job_vars[0]); i++) {
		if (!job_vars[i].who)
			continue;
		const char *v = getenv(job_vars[i].var);
		if (!v || !*v)
			continue;
		char *end;
		long n = strtol(v, &end, 10);
		if (*end || n <= 1)
			continue;
		snprintf(msg, len,
			 "%s=%s says this process is one of %ld, but there is no PMIx server "
			 "and no cfg.oob to find the others (started by %s?). Launch with "
			 "srun --mpi=pmix or Open MPI's mpirun, or pass the host's allgather "
			 "in cfg.oob; PCOLL_WIREUP=singleton runs each process alone anyway",
			 job_vars[i].var, v, n, job_vars[i].who);
		return 1;
	}
	return 0;
}

int pc_wireup_init(pc_wireup_t *w, const pcoll_oob_t *oob, int timeout_ms)
{
	/* The context says whom to tell of a lost peer before the wireup starts. */
	void (*lost)(void *, int, const char *) = w->peer_lost;
	void *lost_arg = w->peer_lost_arg;
	memset(w, 0, sizeof(*w));
	w->peer_lost = lost;
	w->peer_lost_arg = lost_arg;
	const char *force = getenv("PCOLL_WIREUP");
	if (force && *force && strcmp(force, "auto") && strcmp(force, "pmix") &&
	    strcmp(force, "singleton"))
		return pc_error(PCOLL_ERR_INVAL,
				"PCOLL_WIREUP=%s: expected auto, pmix or singleton", force);
	if (oob && oob->allgather) {
		if (force && !strcmp(force, "pmix"))
			return pc_error(PCOLL_ERR_INVAL,
					"PCOLL_WIREUP=pmix, but cfg.oob.allgather is set: "
					"one wireup per context");
		return pc_wireup_oob_init(w, oob);
	}
	if (oob && (oob->size || oob->rank || oob->arg))
		return pc_error(PCOLL_ERR_INVAL, "cfg.oob has rank %d, size %d but no allgather",
				oob->rank, oob->size);
	if (force && !strcmp(force, "singleton")) {
		pc_wireup_singleton_init(w);
		return 0;
	}
	if (pc_wireup_pmix_present())
		return pc_wireup_pmix_init(w, timeout_ms);
	char msg[512];
	if (force && !strcmp(force, "pmix"))
		return pc_error(PCOLL_ERR_WIREUP,
				"PCOLL_WIREUP=pmix, but no PMIx server is there "
				"(no PMIX_NAMESPACE or PMIX_SERVER_URI* in the environment)");
	if (multi_process_env(msg, sizeof(msg)))
		return pc_error(PCOLL_ERR_WIREUP, "%s", msg);
	pc_wireup_singleton_init(w);
	return 0;
}
