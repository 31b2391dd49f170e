# Shared by the multi-process test scripts (sourced). Every launch goes through
# tools/pcoll-run under a timeout, so a hang fails the test instead of make check.
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
RUN="$top_builddir/tools/pcoll-run"
MP_TIMEOUT=${MP_TIMEOUT:-120}
npass=0
nfail=0
failed=

if ! "$RUN" -n 1 --dry-run -- true >/dev/null 2>&1; then
	echo "SKIP: no PMIx launcher (mpirun, prterun or srun) found"
	exit 77
fi

# split_envs [VAR=value...] -- REST...: ENVS gets the assignments, REST what
# follows the "--" (how every launch here takes its environment).
split_envs() {
	ENVS=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		ENVS+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	REST=("$@")
}

# launch NAME NP [VAR=value...] -- prog args: run under the launcher with a timeout.
launch() {
	local name=$1 np=$2
	shift 2
	split_envs "$@"
	check "$name" env "${ENVS[@]}" "$RUN" -n "$np" --timeout "$MP_TIMEOUT" -- "${REST[@]}"
}

# check NAME CMD...: run CMD (which brings its own launcher and timeout) and
# count it: PASS with the ok/# lines of its output, or FAIL with the output.
check() {
	local name=$1
	shift
	local log
	log=$(mktemp)
	local t0=$SECONDS
	if "$@" >"$log" 2>&1; then
		npass=$((npass + 1))
		echo "PASS: $name ($((SECONDS - t0)) s)"
		grep -E '^(ok|#)' "$log" | sed 's/^/      /'
	else
		local rc=$?
		nfail=$((nfail + 1))
		failed="$failed
  $name"
		echo "FAIL: $name (exit $rc after $((SECONDS - t0)) s; 124 = timed out)"
		sed 's/^/      /' "$log" | grep -v '^      *$' | head -40
	fi
	rm -f "$log"
}

finish() {
	echo "$npass passed, $nfail failed"
	if [ "$nfail" -gt 0 ]; then
		echo "failed:$failed"
		exit 1
	fi
	exit 0
}

# verdict OK NAME LOG [WHY]: count a check made outside launch() (OK is 1 or
# 0); on failure print WHY and the log. The log is removed.
verdict() {
	local ok=$1 name=$2 log=$3 why=${4:-}
	if [ "$ok" = 1 ]; then
		npass=$((npass + 1))
		echo "PASS: $name"
		grep -E '^(ok|#)' "$log" | sed 's/^/      /'
	else
		nfail=$((nfail + 1))
		failed="$failed
  $name"
		echo "FAIL: $name${why:+: $why}"
		grep -v 'PMIX ERROR' "$log" | sed 's/^/      /' | head -30
	fi
	rm -f "$log"
}

# launch_log LOG NP ENV... -- prog args: run under the launcher into LOG,
# whatever its exit status (for checks that expect some processes to fail).
launch_log() {
	local log=$1 np=$2
	shift 2
	split_envs "$@"
	env "${ENVS[@]}" "$RUN" -n "$np" --timeout "$MP_TIMEOUT" "${REST[@]}" >"$log" 2>&1
}
