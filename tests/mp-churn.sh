#!/bin/bash
# Memory bounds. Create/destroy churn at flat cost and flat RSS (tests/mp_churn.c). Creates
# and destroys exchange over the team's fabric region, not PMIx (whose
# datastore made every cycle slower than the last: 1.7 s for the first 500
# cycles, 52 s for the last 500 of 2000 on tcp). On tcp, libfabric's tcp
# provider keeps about 0.4 KB per cycle in its own thread's heap (pcoll's
# heap stays flat): 600 cycles stay inside the 1 MiB bound (README).
. "$(dirname "$0")/mp_lib.sh"
# Sanitizer builds keep freed memory in quarantine and run several times
# slower: there the programs run for the sanitizers' checks, and the RSS and
# time bounds (checked by the plain build) are left out.
if [ -n "${PCOLL_SAN_FLAGS:-}" ]; then
	export MP_NO_BOUNDS=1
	echo "# sanitizer build ($PCOLL_SAN_FLAGS): RSS and time bounds not checked"
fi
launch "churn P=2 shm 2000 cycles" 2 FI_PROVIDER=shm -- "$top_builddir/tests/mp_churn" 2000
# On tcp the whole process stays under 40 MiB (13-16 MiB here; 99 MiB when
# rxm kept its bounce buffers: FI_OFI_RXM_ENABLE_PASSTHRU=0).
launch "churn P=3 tcp 600 cycles, RSS under 40 MiB" 3 FI_PROVIDER=tcp MP_RSS_MAX_KIB=40960 -- \
	"$top_builddir/tests/mp_churn" 600
# The spill bound: a process that flushed early keeps no copy per round of
# the others while it computes (the ring of S+1 buffers holds instead), nor
# while it blocks in pcoll_flush (which returns early for it to take rounds).
launch "spill bound P=2 shm 100 rounds of 1 MiB" 2 FI_PROVIDER=shm -- "$top_builddir/tests/mp_spill" 100 1048576
launch "spill bound P=3 tcp 60 rounds of 1 MiB" 3 FI_PROVIDER=tcp -- "$top_builddir/tests/mp_spill" 60 1048576
launch "spill bound P=2 shm blocking pcoll_flush" 2 FI_PROVIDER=shm -- "$top_builddir/tests/mp_spill" 100 1048576 blocking
launch "spill bound P=3 tcp blocking pcoll_flush" 3 FI_PROVIDER=tcp -- "$top_builddir/tests/mp_spill" 60 1048576 blocking
finish
