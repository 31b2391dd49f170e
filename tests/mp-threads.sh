#!/bin/bash
# PCOLL_THREAD_MULTIPLE: two threads, two collectives, one context, on shm
# and tcp (the TSan build of the suite runs this too).
. "$(dirname "$0")/mp_lib.sh"
for prov in shm tcp; do
	launch "threads P=3 $prov" 3 FI_PROVIDER=$prov -- "$top_builddir/tests/mp_threads"
done
launch "threads P=3 shm, one collective on a team" 3 FI_PROVIDER=shm -- \
	"$top_builddir/tests/mp_threads" --team
finish
