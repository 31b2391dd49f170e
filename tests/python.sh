#!/bin/bash
# The Python binding's tests (python/tests: pytest), run with /usr/bin/python3
# against the build tree's libpcoll. Skips (77) when that python lacks numpy
# or pytest; a run that collects no tests is a failure, not a pass.
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
PY=${PCOLL_PYTHON:-/usr/bin/python3}
if [ ! -x "$PY" ]; then
	echo "SKIP: $PY not found"
	exit 77
fi
if [ -n "${PCOLL_SAN_FLAGS:-}" ]; then
	# A sanitizer runtime must be the first library of the process, which an
	# interpreter loading libpcoll through ctypes cannot give it; the C tests
	# cover the library under the sanitizers.
	echo "SKIP: sanitizer build ($PCOLL_SAN_FLAGS): python cannot load an instrumented libpcoll"
	exit 77
fi
for m in numpy pytest; do
	if ! "$PY" -c "import $m" >/dev/null 2>&1; then
		echo "SKIP: $PY lacks $m (apt-get install python3-numpy python3-pytest)"
		exit 77
	fi
done
export PYTHONPATH="$top_srcdir/python${PYTHONPATH:+:$PYTHONPATH}"
export PCOLL_BUILDDIR="$top_builddir"
unset PCOLL_LIBRARY
# The tests start processes alone (size 1) and through tools/pcoll-run.
cd "$top_builddir" || exit 1
timeout -k 10 "${PCOLL_PYTEST_TIMEOUT:-600}" "$PY" -m pytest -q -p no:cacheprovider \
	"$top_srcdir/python/tests"
rc=$?
case $rc in
0) exit 0 ;;
5) echo "FAIL: pytest collected no tests in $top_srcdir/python/tests"; exit 1 ;;
124) echo "FAIL: the python tests timed out"; exit 1 ;;
*) exit 1 ;;
esac
