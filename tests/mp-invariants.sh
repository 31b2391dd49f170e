#!/bin/bash
# The five invariants of DESIGN.md in every mode, for P in {1,2,3,4,5,8}, on
# both notification paths (remote counters on shm; remote CQ data on tcp and
# on shm), the three data schedules (recursive doubling: 8 KB; reduce-scatter
# + allgather for even P and the ring for odd P: 32 KB; each forced where
# AUTO would not pick it), every datatype, and the other providers that have
# each path. Every collective's memory_bytes is checked against (S+4)x. Plus the progress check: fast processes do not wait for a straggler in
# solo and quorum, and do in sync.
. "$(dirname "$0")/mp_lib.sh"
BIN="$top_builddir/tests/mp_invariants"

for P in 1 2 3 4 5 8; do
	for cfg in "shm cntr" "shm cqdata" "tcp cqdata"; do
		set -- $cfg
		count=1000
		[ $((P % 2)) -eq 1 ] && count=4096 # odd P: the ring
		extra=
		[ "$P" -ge 2 ] && [ "$1" != tcp ] && [ "$2" = cntr ] && extra=--eager
		[ "$P" -eq 4 ] && [ "$1" = tcp ] && extra=--eager
		launch "invariants P=$P $1/$2 count=$count" "$P" FI_PROVIDER="$1" PCOLL_NOTIFY="$2" \
			-- "$BIN" -c "$count" -s $((P * 7 + 1)) $extra
	done
done
# The other schedule for even P, and staleness 0 and 5.
launch "invariants P=4 shm/cntr rsag S=5" 4 FI_PROVIDER=shm PCOLL_NOTIFY=cntr -- "$BIN" -c 8192 -S 5
launch "invariants P=6 tcp/cqdata rd S=0" 6 FI_PROVIDER=tcp -- "$BIN" -c 100 -S 0 -m solo,majority,quorum
# Reduce-scatter + allgather with folding (odd P) and the ring at P = 4.
launch "invariants P=5 shm/cntr rsag fold" 5 FI_PROVIDER=shm PCOLL_NOTIFY=cntr PCOLL_ALGORITHM=rsag -- "$BIN" -c 4096 -n 12
launch "invariants P=4 tcp ring S=3" 4 FI_PROVIDER=tcp PCOLL_ALGORITHM=ring -- "$BIN" -c 8192 -S 3 -n 12
# The pipelined schedule (never AUTO's choice here, README), segments of 1 KiB:
# 8 per step at P = 4, 16 at P = 2, and with folding at P = 5, on each path.
launch "invariants P=4 shm/cqdata pipe" 4 FI_PROVIDER=shm PCOLL_NOTIFY=cqdata PCOLL_ALGORITHM=pipe \
	PCOLL_SEGMENT_BYTES=1024 -- "$BIN" -c 8192 -n 12 --eager
launch "invariants P=2 tcp pipe" 2 FI_PROVIDER=tcp PCOLL_ALGORITHM=pipe PCOLL_SEGMENT_BYTES=1024 \
	-- "$BIN" -c 8192 -n 12
launch "invariants P=5 shm/cntr pipe fold" 5 FI_PROVIDER=shm PCOLL_NOTIFY=cntr PCOLL_ALGORITHM=pipe \
	PCOLL_SEGMENT_BYTES=1024 -- "$BIN" -c 8192 -n 12
# Teams: split with reversed keys (team ranks are not job ranks), every mode
# on each team at once, with a solo collective over the whole context in
# flight alongside (overlapping teams), on both notification paths.
launch "invariants P=5 teams of 3+2 shm/cntr overlap" 5 FI_PROVIDER=shm PCOLL_NOTIFY=cntr -- "$BIN" -c 4096 --team 2 --overlap --eager
launch "invariants P=4 teams of 2+2 tcp/cqdata overlap" 4 FI_PROVIDER=tcp -- "$BIN" -c 1000 --team 2 --overlap
launch "invariants P=6 teams of 2 shm/cqdata rsag" 6 FI_PROVIDER=shm PCOLL_NOTIFY=cqdata -- "$BIN" -c 8192 --team 3 -m solo,majority
launch "invariants P=3 one reversed team tcp" 3 FI_PROVIDER=tcp -- "$BIN" -c 4096 --team 1 --overlap -m quorum,sync
# Balanced back-to-back steps without a progress thread: one round per step,
# each with every contribution, in every mode and on each notification path;
# the caller's buffer, lent to the round, is overwritten as each step returns.
for cfg in "2 shm cqdata 262144" "2 shm cntr 262144" "3 shm cqdata 40000" "4 tcp cqdata 65536" "5 shm cntr 1000"; do
	set -- $cfg
	launch "balanced P=$1 $2/$3 count=$4" "$1" FI_PROVIDER="$2" PCOLL_NOTIFY="$3" PCOLL_PROGRESS_THREAD=0 \
		-- "$BIN" --balanced -c "$4" -n 60
done
# Collectives open and idle alongside (the engine's active queue), then each
# woken by one process only, on every notification path: on the counter
# path by doorbells (the default), and with rank 0 keeping its collectives
# in the queue instead (PCOLL_DOORBELLS=0: the others must not ring it, and
# must still ring each other).
for cfg in "shm cntr" "shm cqdata" "tcp cqdata"; do
	set -- $cfg
	launch "invariants P=3 $1/$2 with 30 idle collectives" 3 FI_PROVIDER="$1" PCOLL_NOTIFY="$2" \
		-- "$BIN" -c 1000 -n 12 -m solo,quorum --eager --idle 30
done
launch "invariants P=4 shm/cntr 30 idle, rank 0 without doorbells" 4 FI_PROVIDER=shm \
	PCOLL_NOTIFY=cntr -- "$top_srcdir/tests/rank-env.sh" PCOLL_DOORBELLS=0 PCOLL_DOORBELLS=1 \
	"$BIN" -c 1000 -n 12 -m solo,majority,quorum --eager --idle 30
# The CQ-data path on a provider that does not order writes (as if: shm and
# tcp with PCOLL_TEST_UNORDERED=1): no injected payload ahead of its header,
# and a write waits for an earlier one to the same words to be delivered.
launch "invariants P=3 shm/cqdata unordered" 3 FI_PROVIDER=shm PCOLL_NOTIFY=cqdata PCOLL_TEST_UNORDERED=1 \
	-- "$BIN" -c 4096 -n 12 --eager --idle 6
launch "invariants P=4 tcp/cqdata unordered teams" 4 FI_PROVIDER=tcp PCOLL_TEST_UNORDERED=1 \
	-- "$BIN" -c 1000 -n 12 --team 2 --overlap
# The NIC chosen by PCOLL_NIC (tcp's loopback interface instead of hwloc's).
launch "invariants P=2 tcp PCOLL_NIC=lo" 2 FI_PROVIDER=tcp PCOLL_NIC=lo -- "$BIN" -c 1000 -n 8 -m solo
# Rounds taken with pcoll_next_round_into into kept caller buffers.
launch "invariants P=3 shm into" 3 FI_PROVIDER=shm -- "$BIN" -c 4096 -n 12 --into
launch "invariants P=4 tcp into int32" 4 FI_PROVIDER=tcp -- "$BIN" -t int32 -c 1000 -n 12 --into
# Every datatype (exact integer-valued data), both schedules.
for t in float32 float16 bfloat16 int32 int64; do
	launch "invariants P=3 shm $t" 3 FI_PROVIDER=shm -- "$BIN" -t "$t" -c 9000 -n 12
	launch "invariants P=5 tcp $t rd" 5 FI_PROVIDER=tcp -- "$BIN" -t "$t" -c 300 -n 10 -m solo,sync
done
# Remote CQ data and remote counters on udp;ofi_rxd; CQ data on sockets
# (pcoll refuses sockets' counters, see README, known issues; mp-badinput.sh
# checks that every process gets the error).
launch "invariants P=3 rxd/cntr" 3 "FI_PROVIDER=udp;ofi_rxd" PCOLL_NOTIFY=cntr -- "$BIN" -c 4096 -n 12
launch "invariants P=3 rxd/cqdata" 3 "FI_PROVIDER=udp;ofi_rxd" PCOLL_NOTIFY=cqdata -- "$BIN" -c 1000 -n 12
launch "invariants P=3 sockets/cqdata" 3 FI_PROVIDER=sockets PCOLL_NOTIFY=cqdata -- "$BIN" -c 1000 -n 8
# net: its wait fd stays readable with nothing behind it, so waits fall back
# to sleeping (providers/ofi.c, SPURIOUS_MAX); the rounds must still move.
# net also leaks the fi_info copies it makes per endpoint and per accepted
# connection (libfabric 1.17; no other provider does with the same pcoll
# code), so LSan skips libfabric's allocations for this launch only.
net_env=(FI_PROVIDER=net)
if [ -n "${LSAN_OPTIONS:-}" ]; then
	net_supp=$(mktemp)
	{ cat "$top_srcdir/tests/lsan.supp"; echo "leak:libfabric.so"; } >"$net_supp"
	net_env+=("LSAN_OPTIONS=suppressions=$net_supp:print_suppressions=0")
fi
launch "invariants P=3 net/cqdata" 3 "${net_env[@]}" -- "$BIN" -c 1000 -n 8
if [ -n "${net_supp:-}" ]; then rm -f "$net_supp"; fi
finish
