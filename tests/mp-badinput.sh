#!/bin/bash
# Bad input: every process involved gets a clear error, none hangs or crashes.
. "$(dirname "$0")/mp_lib.sh"
BIN="$top_builddir/tests/mp_badinput"
launch "bad input P=1" 1 -- "$BIN"
launch "bad input P=2 shm/cntr" 2 FI_PROVIDER=shm PCOLL_NOTIFY=cntr -- "$BIN"
launch "bad input P=3 tcp" 3 FI_PROVIDER=tcp -- "$BIN"
launch "bad input P=5 shm" 5 FI_PROVIDER=shm -- "$BIN"
launch "peer stops answering P=3 tcp" 3 FI_PROVIDER=tcp PCOLL_TIMEOUT_MS=1000 -- "$BIN" --timeout-case
launch "peer stops answering P=2 shm" 2 FI_PROVIDER=shm PCOLL_TIMEOUT_MS=1000 -- "$BIN" --timeout-case
launch "unusable notification path, every rank P=2" 2 -- "$BIN" --init-case all
launch "unusable notification path, one rank P=3" 3 -- "$BIN" --init-case one
# Every PCOLL_* variable with bad values (the program sets them in turn; the
# launcher forwards PCOLL_ALGORITHM, read at create): PCOLL_ERR_INVAL naming it.
launch "bad PCOLL_* environment P=2" 2 FI_PROVIDER=shm PCOLL_ALGORITHM=xyz -- "$BIN" --env-cases
finish
