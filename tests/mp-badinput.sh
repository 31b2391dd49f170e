#!/bin/bash
# Bad input: every process involved gets a clear error, none hangs or crashes.
. "$(dirname "$0")/mp_lib.sh"
BIN="$top_builddir/tests/mp_badinput"
launch "bad input P=1" 1 -- "$BIN"
launch "bad input P=2 shm/cntr" 2 FI_PROVIDER=shm PCOLL_NOTIFY=cntr -- "$BIN"
launch "bad input P=3 tcp" 3 FI_PROVIDER=tcp -- "$BIN"
launch "bad input P=5 shm" 5 FI_PROVIDER=shm -- "$BIN"
launch "peer stops answering P=3 tcp" 3 FI_PROVIDER=tcp PCOLL_TIMEOUT_MS=1000 -- "$BIN" --timeout-case
launch "peer stops answering P=2 shm" 2 FI_PROVIDER=shm PCOLL_TIMEOUT_MS=1000 -- "$BIN" --timeout-case
launch "unusable notification path, every rank P=2" 2 -- "$BIN" --init-case all
launch "unusable notification path, one rank P=3" 3 -- "$BIN" --init-case one
# Every PCOLL_* variable with bad values (the program sets them in turn; the
# launcher forwards PCOLL_ALGORITHM, read at create): PCOLL_ERR_INVAL naming it.
launch "bad PCOLL_* environment P=2" 2 FI_PROVIDER=shm PCOLL_ALGORITHM=xyz -- "$BIN" --env-cases
# PCOLL_NIC naming a domain the provider does not have: INVAL on every rank,
# naming the variable and the domains there are.
log=$(mktemp)
launch_log "$log" 2 FI_PROVIDER=tcp PCOLL_NIC=nosuch0 -- "$top_builddir/tests/mp_invariants" -n 2
n=$(grep -c 'PCOLL_NIC=nosuch0: provider .* has no such domain (it has: ' "$log")
verdict $((n == 2)) "PCOLL_NIC=nosuch0 on tcp: refused at init on both ranks" "$log" "$n of 2"
# The counter path needs ordered writes: a provider without them (here as
# if, PCOLL_TEST_UNORDERED=1) is refused on every rank, naming the ordering.
log=$(mktemp)
launch_log "$log" 2 FI_PROVIDER=shm PCOLL_NOTIFY=cntr PCOLL_TEST_UNORDERED=1 -- "$top_builddir/tests/mp_invariants" -n 2
n=$(grep -c 'does not order RMA writes (FI_ORDER_RMA_WAW' "$log")
verdict $((n == 2)) "counters without ordered writes: refused at init on both ranks" "$log" "$n of 2"
# Valid but different PCOLL_ALGORITHM on different processes: the schedules
# would silently differ, so create must fail on both with the mismatch.
log=$(mktemp)
launch_log "$log" 2 FI_PROVIDER=shm -- "$top_srcdir/tests/rank-env.sh" PCOLL_ALGORITHM=rd \
	PCOLL_ALGORITHM=rsag "$top_builddir/tests/mp_invariants" -c 8192 -n 2
n=$(grep -c 'disagree.*algorithm=recursive-doubling.*algorithm=reduce-scatter\|disagree.*algorithm=reduce-scatter.*algorithm=recursive-doubling' "$log")
verdict $((n == 2)) "PCOLL_ALGORITHM rd on rank 0, rsag on rank 1: mismatch on both" "$log" "$n of 2"
# The same schedule cut into different segments would write past each other.
log=$(mktemp)
launch_log "$log" 2 FI_PROVIDER=shm PCOLL_ALGORITHM=pipe -- "$top_srcdir/tests/rank-env.sh" \
	PCOLL_SEGMENT_BYTES=1024 PCOLL_SEGMENT_BYTES=2048 "$top_builddir/tests/mp_invariants" -c 8192 -n 2
n=$(grep -c 'disagree.*segments=32;.*segments=16)\|disagree.*segments=16;.*segments=32)' "$log")
verdict $((n == 2)) "PCOLL_SEGMENT_BYTES 1024 on rank 0, 2048 on rank 1: mismatch on both" "$log" "$n of 2"

# A bad variable on one process only: every process fails at init, at once
# (the others used to wait in the fence until it timed out). Open MPI's
# mpirun would kill the others as soon as rank 0 exits: keep them.
keep=()
case "$("$RUN" -n 1 --dry-run -- true 2>/dev/null)" in
*mpirun* | *mpiexec*) keep=(--launcher-arg=--mca --launcher-arg=orte_abort_on_non_zero_status --launcher-arg=0) ;;
esac
log=$(mktemp)
t0=$SECONDS
launch_log "$log" 3 FI_PROVIDER=shm -- "${keep[@]}" -- "$top_srcdir/tests/rank-env.sh" \
	PCOLL_TIMEOUT_MS=abc PCOLL_TIMEOUT_MS=300000 "$top_builddir/tests/mp_invariants" -n 2
nbad=$(grep -c 'PCOLL_TIMEOUT_MS=abc: expected' "$log")
nother=$(grep -c 'rank 0 rejected its configuration' "$log")
verdict $((nbad == 1 && nother == 2 && SECONDS - t0 < 30)) \
	"bad PCOLL_TIMEOUT_MS on rank 0 only: every rank fails at init" "$log" \
	"$nbad + $nother of 3 ranks reported it, in $((SECONDS - t0)) s"
finish
