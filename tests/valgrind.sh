#!/bin/bash
# A clean run under valgrind memcheck finds no leak and no memory error:
# the invariants at P=2 (both notification paths) and the bad-input suite,
# which frees collectives after errors, PENDING destroys and finalize.
. "$(dirname "$0")/mp_lib.sh"
if [ -n "${PCOLL_SAN_FLAGS:-}" ]; then
	echo "SKIP: sanitizer build ($PCOLL_SAN_FLAGS): valgrind cannot run it"
	exit 77
fi
if ! command -v valgrind >/dev/null; then
	echo "SKIP: valgrind not installed"
	exit 77
fi
VG=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect
	--show-leak-kinds=definite,indirect --error-exitcode=9
	--suppressions="$top_srcdir/tests/valgrind.supp")
launch "valgrind invariants P=2 shm/cntr" 2 FI_PROVIDER=shm PCOLL_NOTIFY=cntr -- \
	"${VG[@]}" "$top_builddir/tests/mp_invariants" -n 6 -c 4096 -m sync,solo
launch "valgrind invariants P=2 tcp/cqdata" 2 FI_PROVIDER=tcp -- \
	"${VG[@]}" "$top_builddir/tests/mp_invariants" -n 6 -c 300 -m majority,quorum
launch "valgrind bad input P=2 shm" 2 FI_PROVIDER=shm -- "${VG[@]}" "$top_builddir/tests/mp_badinput"
launch "valgrind api (oob, abort) P=1" 1 FI_PROVIDER=shm -- "${VG[@]}" "$top_builddir/tests/api"
finish
