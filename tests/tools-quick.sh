#!/bin/sh
# tools-quick.sh -- make check: run every tool once, in quick mode, at P=2,
# through tools/pcoll-run. Fails if any run fails; no timing assertions.
# Exit 77 (automake SKIP) when no PMIx launcher is available.
#
# Environment: top_builddir, top_srcdir (set by make check);
# PCOLL_TEST_SKIP_MPI=1 skips the MPI peer benchmarks.

: "${top_builddir:=.}"
: "${top_srcdir:=$top_builddir}"
export top_srcdir

RUN="$top_builddir/tools/pcoll-run"
BENCH="$top_builddir/tools/pcoll_bench"
SGD="$top_builddir/tools/pcoll_sgd"
MPI_OMPI="$top_builddir/tools/pcoll_mpi_bench_openmpi"
MPI_MPICH="$top_builddir/tools/pcoll_mpi_bench_mpich"
NP=2
TIMEOUT=120

# A peer that stops answering should fail a run well before the launch timeout.
: "${PCOLL_TIMEOUT_MS:=60000}"
export PCOLL_TIMEOUT_MS
# The plot script, wherever the build tree is.
: "${PCOLL_PLOT_SCRIPT:=$top_srcdir/tools/plot_bench.gp}"
export PCOLL_PLOT_SCRIPT

failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pcoll-tools.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# run NAME CMD...: run and report; the status is kept in $rc.
run() {
	name=$1
	shift
	echo "=== $name: $*"
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "--- $name: ok"
	else
		fail "$name (exit $rc)"
	fi
	return $rc
}

for f in "$RUN" "$BENCH"; do
	if [ ! -x "$f" ]; then
		echo "ERROR: $f is missing (run make first)"
		exit 99
	fi
done

# ---------------------------------------------------------------- pcoll-run
echo "=== pcoll-run --dry-run"
"$RUN" -n $NP --timeout $TIMEOUT --dry-run "$BENCH" allreduce -q >"$tmp/dry.out" 2>&1
rc=$?
cat "$tmp/dry.out"
if [ $rc -eq 127 ]; then
	echo "SKIP: no PMIx launcher (srun in a SLURM allocation, prterun or Open MPI's mpirun)"
	exit 77
fi
if [ $rc -ne 0 ]; then
	fail "pcoll-run --dry-run (exit $rc)"
elif ! grep -q "pcoll_bench allreduce -q" "$tmp/dry.out"; then
	fail "pcoll-run --dry-run did not print the command"
fi

# pcoll-run must pass a failing process's status on.
echo "=== pcoll-run exit status"
"$RUN" -n $NP --timeout $TIMEOUT sh -c 'exit 3'
rc=$?
if [ $rc -eq 0 ]; then
	fail "pcoll-run returned 0 although the processes exited 3"
else
	echo "--- pcoll-run exit status: ok ($rc)"
fi

# ---------------------------------------------------- pcoll_bench usage paths
echo "=== pcoll_bench --help / bad usage (no launcher)"
"$BENCH" --help >"$tmp/help.out" 2>&1 || fail "pcoll_bench --help (exit $?)"
grep -q "Usage:" "$tmp/help.out" || fail "pcoll_bench --help printed no usage"
"$BENCH" --no-such-option >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || fail "pcoll_bench --no-such-option exited $rc, expected 2"
"$BENCH" allreduce -m 0 >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || fail "pcoll_bench -m 0 exited $rc, expected 2"

# ----------------------------------------------------------------- pcoll_bench
plot=
if command -v gnuplot >/dev/null 2>&1; then
	plot="--plot $tmp/allreduce.png"
fi
# shellcheck disable=SC2086 # $plot is empty or two words
if run "pcoll_bench allreduce" "$RUN" -n $NP --timeout $TIMEOUT \
	"$BENCH" allreduce -q -f -c "$tmp/allreduce.csv" $plot; then
	hdr=$(head -n 1 "$tmp/allreduce.csv")
	[ "$hdr" = "bench,impl,mode,provider,P,size,avg_us,min_us,max_us,iters,shape,algorithm" ] ||
		fail "allreduce CSV header: '$hdr'"
	for m in sync solo majority quorum:1; do
		grep -q "^allreduce,pcoll,$m,.*,$NP,4,.*,osu,recursive-doubling\$" "$tmp/allreduce.csv" ||
			fail "allreduce CSV has no row for mode $m, size 4"
	done
	if [ -n "$plot" ] && [ ! -s "$tmp/allreduce.png" ]; then
		fail "allreduce --plot wrote no PNG"
	fi
fi

# Back to back (-B), every mode: a process's last step must not wait forever on a
# round the others hold (the loop ends with a flush).
if run "pcoll_bench allreduce -B" "$RUN" -n $NP --timeout $TIMEOUT \
	"$BENCH" allreduce -q -B -c "$tmp/b2b.csv"; then
	for m in sync solo majority quorum:1; do
		grep -q "^allreduce,pcoll,$m,.*,$NP,4096,.*,b2b,recursive-doubling\$" "$tmp/b2b.csv" ||
			fail "allreduce -B CSV has no b2b row for mode $m, size 4096"
	done
fi

# Scale of the engine: 0 and 5 idle collectives, interleaved, every mode.
if run "pcoll_bench allreduce --idle-colls" "$RUN" -n $NP --timeout $TIMEOUT \
	"$BENCH" allreduce -q -m 4:64 --idle-colls 5 -c "$tmp/idlecolls.csv"; then
	for m in sync solo majority quorum:1; do
		grep -q "^allreduce_idle,pcoll,$m,.*,$NP,64,osu,5,1," "$tmp/idlecolls.csv" ||
			fail "allreduce --idle-colls CSV has no row for mode $m, size 64, 5 idle"
	done
fi

# The engine lock: a second thread steps a 1 MiB collective meanwhile, its
# reductions under the lock and outside it, interleaved.
if run "pcoll_bench allreduce --background" "$RUN" -n $NP --timeout $TIMEOUT \
	"$BENCH" allreduce -q -M sync,solo -m 4096:4096 --background 1M -c "$tmp/background.csv"; then
	for m in sync solo; do
		for where in under outside; do
			grep -q "^allreduce_background,pcoll,$m,.*,$NP,4096,osu,1048576,$where,1," \
				"$tmp/background.csv" ||
				fail "allreduce --background CSV has no $where row for mode $m"
		done
	done
fi

# The counter path's doorbells: a collective without and with them, interleaved.
if run "pcoll_bench allreduce --doorbells" env PCOLL_NOTIFY=cntr FI_PROVIDER=shm \
	"$RUN" -n $NP --timeout $TIMEOUT \
	"$BENCH" allreduce -q -M sync,solo -m 64:64 --doorbells -c "$tmp/doorbells.csv"; then
	for m in sync solo; do
		for db in 0 1; do
			grep -q "^allreduce_doorbells,pcoll,$m,.*,$NP,64,osu,$db,1," \
				"$tmp/doorbells.csv" ||
				fail "allreduce --doorbells CSV has no doorbells=$db row for mode $m"
		done
	done
fi

if run "pcoll_bench imbalance" "$RUN" -n $NP --timeout $TIMEOUT \
	"$BENCH" imbalance -q -c "$tmp/imbalance.csv"; then
	rows=$(grep -c '^imbalance,pcoll,' "$tmp/imbalance.csv")
	[ "$rows" -gt 0 ] || fail "imbalance CSV has no rows"
fi

# -------------------------------------------------------------- pcoll_model
# No launcher: fit the quick latencies, replay the quick imbalance run (the
# replay must draw the very times and initiators pcoll_bench did: its ideal
# must match the file's), predict a small sweep with its plot.
MODEL="$top_builddir/tools/pcoll_model"
if [ -x "$MODEL" ] && [ -s "$tmp/allreduce.csv" ] && [ -s "$tmp/imbalance.csv" ]; then
	"$MODEL" --help >/dev/null 2>&1 || fail "pcoll_model --help (exit $?)"
	"$MODEL" predict --no-such-option >/dev/null 2>&1
	rc=$?
	[ $rc -eq 2 ] || fail "pcoll_model --no-such-option exited $rc, expected 2"
	if run "pcoll_model fit" "$MODEL" fit --params "$tmp/params.csv" -c "$tmp/fit.csv" \
		"$tmp/allreduce.csv"; then
		[ "$(grep -c . "$tmp/params.csv")" -eq 2 ] || fail "pcoll_model fit: not one provider"
	fi
	if run "pcoll_model validate" "$MODEL" validate --params "$tmp/params.csv" \
		-c "$tmp/validate.csv" "$tmp/imbalance.csv" 2>"$tmp/validate.err"; then
		cat "$tmp/validate.err"
		! grep -q "not this replay's" "$tmp/validate.err" ||
			fail "pcoll_model validate: its replay is not pcoll_bench's ideal"
		[ "$(grep -c '^validate,' "$tmp/validate.csv")" -eq "$(grep -c '^imbalance,pcoll,' "$tmp/imbalance.csv")" ] ||
			fail "pcoll_model validate: not one row per measured cell"
	fi
	mplot=
	[ -z "$plot" ] || mplot="--plot $tmp/model.png"
	# shellcheck disable=SC2086 # $mplot is empty or two words
	prov=$(sed -n 2p "$tmp/params.csv" | cut -d, -f1)
	if run "pcoll_model predict" "$MODEL" predict --params "$tmp/params.csv" -p "$prov" -P 2:16 -n 10 \
		--patterns paper-1x5,paper-2x5 -c "$tmp/model.csv" --measured "$tmp/validate.csv" $mplot; then
		[ "$(grep -c '^model,' "$tmp/model.csv")" -eq 28 ] || fail "pcoll_model predict: rows"
		[ -z "$mplot" ] || [ -s "$tmp/model.png" ] || fail "pcoll_model --plot wrote no PNG"
	fi
fi

if run "pcoll_bench idle" "$RUN" -n $NP --timeout $TIMEOUT \
	"$BENCH" idle -q -T 1 -c "$tmp/idle.csv"; then
	grep -q '^idle,pcoll,baseline,' "$tmp/idle.csv" || fail "idle CSV has no baseline row"
fi

# --------------------------------------------------------------- pcoll_info
INFO="$top_builddir/tools/pcoll_info"
if run "pcoll_info shm/cntr" "$RUN" -n $NP --timeout $TIMEOUT "$INFO" -p shm -n cntr -a \
	>"$tmp/info.out"; then
	grep -q 'completion path: remote counters' "$tmp/info.out" ||
		fail "pcoll_info -n cntr does not report remote counters"
	[ "$(grep -c '^pcoll .*rank' "$tmp/info.out")" -eq $NP ] || fail "pcoll_info -a: not every rank printed"
fi
if run "pcoll_info tcp" "$RUN" -n $NP --timeout $TIMEOUT "$INFO" -p tcp >"$tmp/info2.out"; then
	grep -q 'completion path: remote CQ data' "$tmp/info2.out" ||
		fail "pcoll_info on tcp does not report remote CQ data"
fi
run "pcoll_info singleton" "$INFO" >/dev/null

# ---------------------------------------------------------------- pcoll_sgd
if [ -x "$SGD" ]; then
	if run "pcoll_sgd" "$RUN" -n $NP --timeout $TIMEOUT "$SGD" --quick -o "$tmp/sgd"; then
		ls "$tmp"/sgd/*_summary.csv >/dev/null 2>&1 || fail "pcoll_sgd wrote no summary CSV"
	fi
else
	echo "=== pcoll_sgd: $SGD not built, skipped"
fi

# ------------------------------------------------------ MPI peer benchmarks
if [ "${PCOLL_TEST_SKIP_MPI:-0}" != 1 ]; then
	if [ -x "$MPI_OMPI" ]; then
		# Same mpirun, used as an MPI launcher this time.
		if "$RUN" --launcher mpirun --dry-run true >/dev/null 2>&1; then
			run "pcoll_mpi_bench_openmpi" "$RUN" -n $NP --timeout $TIMEOUT \
				--launcher mpirun "$MPI_OMPI" allreduce -q -f
			run "pcoll_mpi_bench_openmpi -B" "$RUN" -n $NP --timeout $TIMEOUT \
				--launcher mpirun "$MPI_OMPI" allreduce -q -B
		else
			echo "=== pcoll_mpi_bench_openmpi: no Open MPI mpirun, skipped"
		fi
	fi
	if [ -x "$MPI_MPICH" ]; then
		if "$RUN" --launcher mpich --dry-run true >/dev/null 2>&1; then
			run "pcoll_mpi_bench_mpich" "$RUN" -n $NP --timeout $TIMEOUT \
				--launcher mpich "$MPI_MPICH" allreduce -q -f
			run "pcoll_mpi_bench_mpich -B" "$RUN" -n $NP --timeout $TIMEOUT \
				--launcher mpich "$MPI_MPICH" allreduce -q -B
		else
			echo "=== pcoll_mpi_bench_mpich: no MPICH mpiexec, skipped"
		fi
	fi
fi

if [ $failures -ne 0 ]; then
	echo "tools-quick: $failures failure(s)"
	exit 1
fi
echo "tools-quick: all passed"
exit 0
