#!/bin/bash
# No silent singletons: a process whose environment says it is one of many,
# with no PMIx server and no oob, fails naming the variable; a process started
# alone runs alone; PCOLL_WIREUP is validated. Then the embedding API test and
# the exported symbols (only pcoll_*).
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
INFO="$top_builddir/tools/pcoll_info"
npass=0
nfail=0
check() { # NAME EXPECT(ok|fail) PATTERN ENV...
	local name=$1 want=$2 pat=$3 out rc
	shift 3
	out=$(env -u PMIX_NAMESPACE -u PMIX_SERVER_URI41 -u PMIX_SERVER_URI4 -u PMIX_SERVER_URI3 \
		-u PMIX_SERVER_URI2 -u PMIX_SERVER_URI21 -u PMI_SIZE -u SLURM_STEP_NUM_TASKS \
		-u OMPI_COMM_WORLD_SIZE -u MPI_LOCALNRANKS -u WORLD_SIZE -u PCOLL_WIREUP \
		"$@" timeout 60 "$INFO" -p tcp 2>&1)
	rc=$?
	if { [ "$want" = ok ] && [ $rc = 0 ]; } || { [ "$want" = fail ] && [ $rc != 0 ] && [ $rc != 124 ]; } &&
		grep -q -- "$pat" <<<"$out"; then
		npass=$((npass + 1))
		echo "PASS: $name"
	else
		nfail=$((nfail + 1))
		echo "FAIL: $name (exit $rc, expected $want and /$pat/)"
		sed 's/^/      /' <<<"$out" | head -10
	fi
}
check "alone runs alone" ok "rank 0 of 1"
for v in PMI_SIZE SLURM_STEP_NUM_TASKS OMPI_COMM_WORLD_SIZE MPI_LOCALNRANKS WORLD_SIZE; do
	check "$v=4 without PMIx fails naming it" fail "$v=4 says this process is one of 4" "$v=4"
done
check "WORLD_SIZE=1 runs alone" ok "rank 0 of 1" WORLD_SIZE=1
check "SLURM_NTASKS alone (an salloc shell) runs alone" ok "rank 0 of 1" SLURM_NTASKS=4
check "PCOLL_WIREUP=singleton overrides" ok "wireup: *singleton" PMI_SIZE=4 PCOLL_WIREUP=singleton
check "PCOLL_WIREUP=pmix without a server" fail "no PMIx server" PCOLL_WIREUP=pmix
check "PCOLL_WIREUP=xyz is refused" fail "PCOLL_WIREUP=xyz: expected" PCOLL_WIREUP=xyz

if out=$(env -u PMIX_NAMESPACE timeout 60 "$top_builddir/tests/api" 2>&1); then
	npass=$((npass + 1))
	echo "PASS: $out"
else
	nfail=$((nfail + 1))
	echo "FAIL: tests/api"
	sed 's/^/      /' <<<"$out" | head -10
fi

so=$(ls "$top_builddir"/.libs/libpcoll.so 2>/dev/null)
if [ -n "$so" ] && command -v nm >/dev/null; then
	extra=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDBR]/ && $3 !~ /^pcoll_/ {print $3}')
	if [ -z "$extra" ]; then
		npass=$((npass + 1))
		echo "PASS: libpcoll.so exports only pcoll_* ($(nm -D --defined-only "$so" | grep -c ' pcoll_') symbols)"
	else
		nfail=$((nfail + 1))
		echo "FAIL: libpcoll.so exports non-pcoll symbols:" $extra
	fi
fi
echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
