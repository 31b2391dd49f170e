#!/bin/bash
# SLURM: a one-node cluster of its own (tests/slurm_lib.sh: munged, slurmctld
# and slurmd in a temporary directory, stopped by pid on exit), then
#  - the invariants (two provider/mode sets) and the quick demo through
#    `srun --mpi=pmix -n 4 -O`;
#  - the same through tools/pcoll-run inside `salloc -n 4 -O`, where
#    pcoll-run must pick srun and take -n from SLURM_NTASKS;
#  - kill -9 of one rank under srun without --kill-on-bad-exit, on shm and
#    tcp: every survivor must get PCOLL_ERR_PEER naming the dead rank within
#    2 s and tear down within 1 s (tests/mp_kill.c asserts both), as
#    tests/mp-kill.sh does under mpirun. SLURM's mpi/pmix plugin kills the
#    whole step about 1 s after a PMIx client dies (its PMIx error handler
#    calls slurm_kill_job_step, whatever --kill-on-bad-exit says), so the
#    survivors must also be done before that.
# Installs nothing: skips unless it runs as root with slurm-wlm and munge
# (install-deps.sh installs them). Every launch runs under timeout(1).
# shellcheck disable=SC2317 # cleanup and sgd_ok are called indirectly (trap, check)
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
# Absolute: the processes run in a temporary directory.
top_builddir=$(cd "$top_builddir" && pwd) && top_srcdir=$(cd "$top_srcdir" && pwd) || exit 99
. "$top_srcdir/tests/slurm_lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: the SLURM test starts munged, slurmctld and slurmd of its own and needs root"
	exit 77
fi
miss=$(slurm_missing)
if [ -n "$miss" ]; then
	echo "SKIP: slurm-wlm and munge not installed (missing: $miss); install-deps.sh installs them"
	exit 77
fi
T=${MP_TIMEOUT:-60} # per launch; a quick launch here takes 1-3 s
# mp_lib.sh skips unless pcoll-run finds a launcher; srun is one here.
PCOLL_LAUNCHER=srun
export PCOLL_LAUNCHER
. "$top_srcdir/tests/mp_lib.sh"
unset PCOLL_LAUNCHER

INV="$top_builddir/tests/mp_invariants"
KILL="$top_builddir/tests/mp_kill"
SGD="$top_builddir/tools/pcoll_sgd"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pcoll-slurm.XXXXXX") || exit 99
cleanup() {
	local rc=$?
	slurm_cluster_stop
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

t0=$SECONDS
if ! slurm_cluster_start "$tmp" >"$tmp/start.log" 2>&1; then
	echo "FAIL: one-node SLURM cluster did not start"
	sed 's/^/      /' "$tmp/start.log"
	slurm_cluster_logs | sed 's/^/      /'
	exit 1
fi
# The processes run in the temporary directory: whatever they leave there
# (libpsm2 writes *.btr files on a crash) goes with it.
mkdir "$tmp/run" && cd "$tmp/run" || exit 99
echo "# one-node cluster up in $((SECONDS - t0)) s: $(sinfo -h -N -o '%N %c CPUs %T') ($(srun --version))"

SRUN=(timeout -k 10 "$T" srun --mpi=pmix -n 4 -O)
SALLOC=(timeout -k 10 "$T" salloc -n 4 -O --quiet)

# The demo passes when it exits 0 and says the replicas are identical.
sgd_ok() { # OUTDIR LAUNCH...
	local out=$1
	shift
	"$@" "$SGD" --quick --no-plot -o "$out" >"$tmp/sgd.log" 2>&1 || {
		cat "$tmp/sgd.log"
		return 1
	}
	if ! grep -q '^replicas identical: yes' "$tmp/sgd.log" || [ ! -s "$out/mlp_summary.csv" ]; then
		cat "$tmp/sgd.log"
		echo "no 'replicas identical: yes' or no summary CSV"
		return 1
	fi
	grep '^\(sync\|solo\|majority\) ' "$tmp/sgd.log" | sed 's/^/# /'
}

# ------------------------------------------------------------------ srun
check "srun: invariants P=4 shm sync,solo" \
	env FI_PROVIDER=shm "${SRUN[@]}" "$INV" -c 1000 -m sync,solo
check "srun: invariants P=4 tcp majority,quorum" \
	env FI_PROVIDER=tcp "${SRUN[@]}" "$INV" -c 4096 -m majority,quorum
check "srun: demo (pcoll_sgd --quick)" sgd_ok "$tmp/sgd-srun" "${SRUN[@]}"

# ------------------------------------------------- pcoll-run inside salloc
log=$(mktemp)
"${SALLOC[@]}" "$RUN" --dry-run -- true >"$log" 2>&1
grep -q -- 'srun --mpi=pmix -n 4 ' "$log"
verdict $((! $?)) "salloc: pcoll-run picks srun and -n 4 from SLURM_NTASKS" "$log" \
	"expected 'srun --mpi=pmix -n 4' in: $(cat "$log")"
check "salloc: pcoll-run invariants P=4 tcp sync,solo" \
	env FI_PROVIDER=tcp "${SALLOC[@]}" "$RUN" --timeout "$T" -- "$INV" -c 1000 -m sync,solo
check "salloc: pcoll-run invariants P=4 shm majority" \
	env FI_PROVIDER=shm "${SALLOC[@]}" "$RUN" --timeout "$T" -- "$INV" -c 4096 -m majority
check "salloc: pcoll-run demo (pcoll_sgd --quick)" \
	sgd_ok "$tmp/sgd-salloc" "${SALLOC[@]}" "$RUN" --timeout "$T" --

# ------------------------------------------------------------- kill -9
# The step fails as a whole (a process died, then SLURM kills the rest);
# what counts is every survivor's line.
kill_check() { # NAME NP VICTIM ENV... -- LAUNCH... -- mp_kill args
	local name=$1 np=$2 victim=$3 nok
	shift 3
	split_envs "$@"
	local envs=("${ENVS[@]}")
	split_envs "${REST[@]}" # LAUNCH... -- args, split the same way
	log=$(mktemp)
	env PCOLL_TIMEOUT_MS=30000 "${envs[@]}" "${ENVS[@]}" "$KILL" -r "$victim" "${REST[@]}" \
		>"$log" 2>&1
	nok=$(grep -c "^ok   rank .*naming job rank $victim " "$log")
	[ "$nok" -eq $((np - 1)) ] && ! grep -q 'FAIL' "$log"
	verdict $((! $?)) "$name" "$log" "$nok of $((np - 1)) survivors reported PCOLL_ERR_PEER in time"
}
KEEP=(timeout -k 10 "$T" srun --mpi=pmix -O --kill-on-bad-exit=0)
kill_check "srun: kill -9 rank 2 of 4, shm, sync" 4 2 FI_PROVIDER=shm -- "${KEEP[@]}" -n 4 -- -k 20
kill_check "srun: kill -9 rank 1 of 4, tcp, solo" 4 1 FI_PROVIDER=tcp -- "${KEEP[@]}" -n 4 -- -k 20 -m solo
# pcoll-run passes --kill-on-bad-exit=1; a later --launcher-arg overrides it.
kill_check "salloc: pcoll-run --kill-on-bad-exit=0, kill -9 rank 0 of 3, shm, majority" 3 0 \
	FI_PROVIDER=shm -- "${SALLOC[@]}" -n 3 "$RUN" --timeout "$T" --launcher-arg=--kill-on-bad-exit=0 -- \
	-- -k 15 -m majority

echo "# total $((SECONDS - t0)) s"
finish
