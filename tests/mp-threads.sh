#!/bin/bash
# PCOLL_THREAD_MULTIPLE: two threads, two collectives, one context, on shm
# and tcp, small and large (the TSan build of the suite runs this too); and a step blocked for
# 1.5 s wakes its process rarely where there is a wait fd (tcp; see
# tests/mp_blocked.c).
. "$(dirname "$0")/mp_lib.sh"
for prov in shm tcp; do
	launch "threads P=3 $prov" 3 FI_PROVIDER=$prov -- "$top_builddir/tests/mp_threads"
done
launch "threads P=3 shm, one collective on a team" 3 FI_PROVIDER=shm -- \
	"$top_builddir/tests/mp_threads" --team
# 1 MiB collectives: their reductions run outside the engine lock, each made
# 0.5 ms longer so that the other thread's collective, the progress thread
# and the flushes meet them there.
for prov in shm tcp; do
	launch "threads P=3 $prov, 1 MiB, reductions outside the lock" 3 FI_PROVIDER=$prov \
		PCOLL_FAULT_REDUCE_DELAY_US=500 -- "$top_builddir/tests/mp_threads" --count 131072
done
launch "blocked step P=3 tcp: few wake-ups" 3 FI_PROVIDER=tcp -- "$top_builddir/tests/mp_blocked"
finish
