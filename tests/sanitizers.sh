#!/bin/bash
# Build the library and tests with ASan+UBSan, then with TSan, each in a
# fresh copy of the source tree, and run `make check` in each.
#   tests/sanitizers.sh [address,undefined] [thread]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(address,undefined thread)
work=$(mktemp -d /tmp/pcoll-san.XXXXXX)
trap 'rm -rf "$work"' EXIT
files() {
	if git -C "$src" rev-parse >/dev/null 2>&1; then
		(git -C "$src" ls-files; git -C "$src" ls-files --others --exclude-standard) | sort -u
	else
		(cd "$src" && find . -type f -not -path './.git/*')
	fi
}
status=0
for k in "${kinds[@]}"; do
	dir="$work/${k//,/-}"
	mkdir -p "$dir"
	(cd "$src" && files | tar -cf - -T -) | (cd "$dir" && tar -xf -)
	echo "=== sanitizers: $k"
	if ! (cd "$dir" && ./autogen.sh >/dev/null 2>&1 &&
		./configure --enable-sanitizers="$k" >configure.out 2>&1 &&
		make -j2 >make.out 2>&1 && make check); then
		echo "=== sanitizers: $k FAILED"
		for f in "$dir"/tests/*.log; do
			grep -q -E '^(FAIL|ERROR)' "$f" 2>/dev/null || continue
			# What failed and which sanitizer report, first: a tail alone can miss it.
			echo "--- $f: failures and sanitizer reports"
			grep -n -E '^(FAIL|ERROR)|SUMMARY: |runtime error:' "$f" | head -40
			echo "--- $f: tail"
			tail -60 "$f"
		done
		tail -30 "$dir/make.out" 2>/dev/null || true
		status=1
	else
		echo "=== sanitizers: $k passed"
	fi
done
exit $status
