#!/bin/bash
# PCOLL_TRACE: three processes of the invariants test write one Chrome
# trace-event file each; every file parses, rounds carry their index,
# contributions and staleness; tools/pcoll_trace merges them, reports every
# rank and draws a PNG. The demo passes the variable through too; a full
# buffer drops and counts; bad values of the variables are refused at init.
. "$(dirname "$0")/mp_lib.sh"
BIN="$top_builddir/tests/mp_invariants"
TRACE="$top_builddir/tools/pcoll_trace"
SGD="$top_builddir/tools/pcoll_sgd"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || {
	echo "SKIP: no python3 to read the traces"
	exit 77
}
: "${PCOLL_TIMEOUT_MS:=60000}"
export PCOLL_TIMEOUT_MS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pcoll-trace-test.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# check_files DIR N: N files pcoll-trace.0..N-1.json, each a trace of its rank.
check_files() {
	"$PY" - "$1" "$2" <<'PYEOF'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
for r in range(n):
    j = json.load(open("%s/pcoll-trace.%d.json" % (d, r)))
    ev = j["traceEvents"]
    assert j["otherData"]["rank"] == r and all(e["pid"] == r for e in ev), "pid is not the rank"
    rounds = [e for e in ev if e["name"] == "round"]
    steps = [e for e in ev if e["name"] == "step"]
    assert rounds and steps, "rank %d: no rounds or no steps" % r
    for e in rounds:
        for k in ("index", "contributions", "staleness", "flushed", "mine"):
            assert k in e["args"], "round without %s: %s" % (k, e)
        assert e["ph"] == "X" and e["dur"] >= 0
    for e in steps:
        assert e["ph"] == "X" and e["dur"] >= 0 and "wait_us" in e["args"]
    print("# rank %d: %d events (%d rounds, %d steps, %d holds), %d dropped" % (
        r, len(ev), len(rounds), len(steps), sum(e["name"] == "hold" for e in ev),
        j["otherData"]["dropped"]))
PYEOF
}

# On a team (reversed ranks), with a solo collective over the whole context
# stepped alongside by pcoll_step_post.
launch "invariants P=3 shm traced" 3 FI_PROVIDER=shm PCOLL_TRACE="$tmp/inv" -- "$BIN" -c 1000 -n 20 --team 1 --overlap
check "3 trace files parse, rounds carry index/contributions/staleness" check_files "$tmp/inv" 3
check "pcoll_step_post is recorded" grep -q '"name":"step_post"' "$tmp/inv/pcoll-trace.2.json"

report() {
	"$TRACE" "$tmp/inv" >"$tmp/report.txt" || return 1
	cat "$tmp/report.txt" | sed 's/^/# /'
	for r in 0 1 2; do
		grep -q "^$r " "$tmp/report.txt" || {
			echo "rank $r missing from the report"
			return 1
		}
	done
	"$PY" -c 'import json, sys; j = json.load(open(sys.argv[1])); assert {e["pid"] for e in j["traceEvents"]} == {0, 1, 2}' \
		"$tmp/inv/pcoll-trace-merged.json" || return 1
	[ -s "$tmp/inv/pcoll-trace.png" ] && head -c 8 "$tmp/inv/pcoll-trace.png" | grep -q PNG
}
check "pcoll_trace merges, reports every rank, draws the PNG" report
check "pcoll_trace --help" "$TRACE" --help
check "pcoll_trace --version" "$TRACE" --version
check "pcoll_trace without traces fails" bash -c '! "$1" "$2"' _ "$TRACE" "$tmp"

# The demo passes it through: pcoll-run forwards PCOLL_* to every process.
launch "pcoll_sgd --quick P=3 traced" 3 FI_PROVIDER=shm PCOLL_TRACE="$tmp/sgd" -- "$SGD" --quick -o "$tmp/sgd-out"
check "the demo's trace files parse" check_files "$tmp/sgd" 3

# pcoll-run --trace DIR is PCOLL_TRACE=DIR (made absolute).
trace_flag() {
	(cd "$tmp" && "$RUN" -n 2 --timeout "$MP_TIMEOUT" --trace flag -- "$BIN" -c 100 -n 5 -m solo) &&
		check_files "$tmp/flag" 2
}
check "pcoll-run --trace DIR" trace_flag

# A full buffer drops later events, counts them, and the file still parses.
launch "invariants P=2 traced, 40 events" 2 FI_PROVIDER=shm PCOLL_TRACE="$tmp/small" PCOLL_TRACE_EVENTS=40 -- "$BIN" -c 100 -n 10 -m solo
check "dropped events are counted" "$PY" -c 'import json, sys
for r in (0, 1):
    j = json.load(open("%s/pcoll-trace.%d.json" % (sys.argv[1], r)))
    o = j["otherData"]
    assert o["events"] == 40 and o["dropped"] > 0, o' "$tmp/small"

# refused NAME VAR=value: init fails with PCOLL_ERR_INVAL naming the variable.
refused() {
	local name=$1 var=$2
	! env "$var" FI_PROVIDER=shm "$RUN" -n 2 --timeout "$MP_TIMEOUT" -- "$BIN" -c 100 -n 2 \
		>"$tmp/bad.log" 2>&1 || return 1
	grep -q "invalid argument.*${var%%=*}=" "$tmp/bad.log"
}
touch "$tmp/file"
check "PCOLL_TRACE=<a file> is refused" refused file "PCOLL_TRACE=$tmp/file"
check "PCOLL_TRACE_EVENTS=abc is refused" refused events PCOLL_TRACE_EVENTS=abc
check "PCOLL_TRACE_EVENTS=0 is refused" refused events0 PCOLL_TRACE_EVENTS=0
finish
