#!/bin/bash
# PCOLL_THREAD_MULTIPLE: two threads, two collectives, one context, on shm
# and tcp (the TSan build of the suite runs this too); and a step blocked for
# 1.5 s wakes its process rarely where there is a wait fd (tcp; see
# tests/mp_blocked.c).
. "$(dirname "$0")/mp_lib.sh"
for prov in shm tcp; do
	launch "threads P=3 $prov" 3 FI_PROVIDER=$prov -- "$top_builddir/tests/mp_threads"
done
launch "threads P=3 shm, one collective on a team" 3 FI_PROVIDER=shm -- \
	"$top_builddir/tests/mp_threads" --team
launch "blocked step P=3 tcp: few wake-ups" 3 FI_PROVIDER=tcp -- "$top_builddir/tests/mp_blocked"
finish
