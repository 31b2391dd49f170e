#!/bin/bash
# The demo's failure drill: pcoll_sgd --kill-rank R --kill-step N on 4
# processes under a launcher that keeps the job alive (Open MPI's mpirun with
# orte_enable_recovery). Rank R exits with _exit(1) in the first run; the
# launch as a whole may fail (a process died), so what counts are the lines of
# the survivors: every one must have shrunk to 3, finished every run and found
# the replicas identical, and the table must say P went from 4 to 3.
. "$(dirname "$0")/mp_lib.sh"
case "$("$RUN" -n 1 --dry-run -- true 2>/dev/null)" in
*mpirun* | *mpiexec*) ;;
*)
	echo "SKIP: the drill needs Open MPI's mpirun (keeps the job alive with orte_enable_recovery)"
	exit 77
	;;
esac
SGD="$top_builddir/tools/pcoll_sgd"
keep=(--launcher-arg=--mca --launcher-arg=orte_enable_recovery --launcher-arg=1
	--launcher-arg=--mca --launcher-arg=orte_abort_on_non_zero_status --launcher-arg=0)
out=$(mktemp -d "${TMPDIR:-/tmp}/pcoll-sgd-kill.XXXXXX") || exit 99
trap 'rm -rf "$out"' EXIT

drill() { # NAME VICTIM MODES PROVIDER: the first mode loses VICTIM, the second runs on 3
	local name=$1 victim=$2 modes=$3 prov=$4 log first second why='' n
	first=${modes%%,*}
	second=${modes#*,}
	log=$(mktemp)
	launch_log "$log" 4 PCOLL_TIMEOUT_MS=30000 FI_PROVIDER="$prov" -- "${keep[@]}" -- \
		"$SGD" --quick --no-plot -o "$out/$first" -M "$modes" --kill-rank "$victim" --kill-step 5
	n=$(grep -c "^pcoll_sgd: rank [0-9]* survived (team rank [0-2] of 3): replicas identical: yes, exit 0$" "$log")
	[ "$n" -eq 3 ] || why="$n of 3 survivors reported identical replicas"
	grep -q "^pcoll_sgd: rank $victim survived" "$log" && why="the victim survived"
	grep -q "^pcoll_sgd: rank $victim: --kill-rank: _exit(1) at step 5 of the $first run$" "$log" ||
		why="rank $victim did not exit at step 5"
	grep -q "^$first: P went from 4 to 3 at step [0-9]* (of team rank 0; job rank $victim gone).*replicas identical among the survivors: yes$" "$log" ||
		why="no 'P went from 4 to 3' line for $first"
	grep -Eq "^$first +4->3 .* yes$" "$log" || why="the $first row does not say 4->3, identical"
	grep -Eq "^$second +3 .* yes$" "$log" || why="the $second row does not say 3, identical"
	grep -q '^replicas identical: yes$' "$log" || why="no 'replicas identical: yes'"
	if [ -z "$why" ]; then
		grep -E "^($first|$second)( |:)" "$log" | sed 's/^/# /' >"$log.ok"
		cat "$log.ok" >>"$log"
		rm -f "$log.ok"
	fi
	verdict $((${#why} == 0)) "$name" "$log" "$why"
}
drill "pcoll_sgd --kill-rank 2 --kill-step 5, solo then sync, 4 -> 3, tcp" 2 solo,sync tcp
drill "pcoll_sgd --kill-rank 0 --kill-step 5, sync then solo, 4 -> 3, tcp" 0 sync,solo tcp
# shm: the survivors' 1 MiB gradients after the shrink stalled behind the dead
# process's writes before they sent from a fresh endpoint (README, On failure).
drill "pcoll_sgd --kill-rank 2 --kill-step 5, sync then solo, 4 -> 3, shm" 2 sync,solo shm
finish
