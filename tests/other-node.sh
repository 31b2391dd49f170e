#!/bin/bash
# Run rank 1 in a pid namespace of its own: to pcoll it is on another node
# (its pids mean nothing here and shm cannot reach it), without a second host.
#   other-node.sh prog args...
if [ "${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-0}}}" = 1 ]; then
	exec unshare --pid --fork "$@"
fi
exec "$@"
