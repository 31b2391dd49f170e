#!/bin/bash
# pcoll embedded in MPI programs: the invariants bootstrapped by MPI_Allgather
# (cfg.oob) under MPICH's mpiexec (hydra, no PMIx server) and under Open MPI's
# mpirun (where the oob must win over the PMIx server that is there), at
# P = 1, 3, 4, and on a subset of the job (the even ranks of 4). Also: a plain
# pcoll program under hydra fails on every rank naming PMI_SIZE instead of
# running as P silent singletons.
. "$(dirname "$0")/mp_lib.sh"
B="$top_builddir/tests"

case "${PCOLL_SAN_FLAGS:-}" in
*thread*)
	# MPI's own threads and shared memory are not TSan-instrumented.
	echo "SKIP: the MPI oob programs are not run under TSan"
	exit 77
	;;
esac
# LeakSanitizer would report MPI's own allocations; pcoll's are checked by
# the PMIx-launched tests and valgrind.sh.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# oob_launch NAME LAUNCHER NP ENV... -- prog args: passes when every rank
# that runs pcoll passes and rank 0 reports the oob wireup.
oob_launch() {
	local name=$1 launcher=$2 np=$3 log
	shift 3
	log=$(mktemp)
	launch_log "$log" "$np" PCOLL_LAUNCHER="$launcher" "$@"
	local rc=$?
	[ "$rc" = 0 ] && grep -q 'wireup=oob' "$log"
	verdict $((! $?)) "$name" "$log" "exit $rc, or no 'wireup=oob'"
}

ran=0
if [ -x "$B/mp_invariants_mpich" ] && "$RUN" --launcher mpich -n 1 --dry-run -- true >/dev/null 2>&1; then
	ran=1
	for P in 1 3 4; do
		oob_launch "oob mpich P=$P shm" mpich "$P" PCOLL_PROVIDER=shm -- \
			"$B/mp_invariants_mpich" -c 4096 -n 10
	done
	oob_launch "oob mpich P=4 tcp" mpich 4 PCOLL_PROVIDER=tcp -- "$B/mp_invariants_mpich" -c 1000 -n 10 -m solo,majority
	oob_launch "oob mpich subset: even ranks of 4" mpich 4 PCOLL_PROVIDER=shm MP_OOB_SUBSET=even -- \
		"$B/mp_invariants_mpich" -c 1000 -n 10
	# Teams inside an oob context: split without the host, whole context alongside.
	oob_launch "oob mpich P=4 two teams + the whole context" mpich 4 PCOLL_PROVIDER=shm -- \
		"$B/mp_invariants_mpich" -c 1000 -n 10 --team 2 --overlap

	# No PMIx, no oob, PMI_SIZE=3: every rank must fail, naming the variable.
	log=$(mktemp)
	launch_log "$log" 3 PCOLL_LAUNCHER=mpich -- "$B/mp_invariants" -n 2
	rc=$?
	nerr=$(grep -c 'wireup failed.*PMI_SIZE=3' "$log")
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$nerr" -ge 3 ] && ! grep -q '^ok' "$log"
	verdict $((! $?)) "plain program under hydra fails on all 3 ranks naming PMI_SIZE" "$log" \
		"exit $rc, $nerr of 3 ranks named PMI_SIZE"
fi
if [ -x "$B/mp_invariants_openmpi" ]; then
	ran=1
	for P in 1 3 4; do
		oob_launch "oob openmpi P=$P shm" mpirun "$P" PCOLL_PROVIDER=shm -- \
			"$B/mp_invariants_openmpi" -c 4096 -n 10
	done
	oob_launch "oob openmpi subset: even ranks of 4" mpirun 4 PCOLL_PROVIDER=tcp MP_OOB_SUBSET=even -- \
		"$B/mp_invariants_openmpi" -c 1000 -n 10
fi
if [ "$ran" = 0 ]; then
	echo "SKIP: neither mpicc.mpich with mpiexec.mpich nor mpicc.openmpi found"
	exit 77
fi
finish
