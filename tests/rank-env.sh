#!/bin/bash
# Give rank 0 one environment and the others another, to test disagreement:
#   rank-env.sh VAR=value-for-rank-0 VAR=value-for-the-others prog args...
r0=$1 rest=$2
shift 2
if [ "${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-0}}}" = 0 ]; then
	export "${r0?}"
else
	export "${rest?}"
fi
exec "$@"
