#!/bin/bash
# Create/destroy churn at flat cost and flat RSS (tests/mp_churn.c). Not in
# make check yet: the cost still grows in the PMIx datastore (README).
. "$(dirname "$0")/mp_lib.sh"
launch "churn P=2 shm 2000 cycles" 2 FI_PROVIDER=shm -- "$top_builddir/tests/mp_churn" 2000
launch "churn P=3 tcp 1000 cycles" 3 FI_PROVIDER=tcp -- "$top_builddir/tests/mp_churn" 1000
finish
