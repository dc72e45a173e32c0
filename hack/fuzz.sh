#!/usr/bin/env bash
# fuzz.sh runs every fuzz target in the module for FUZZTIME each (default 30s), one at a time
# with one worker, so it fits a two-core machine. New crashers are written by `go test` into the
# package's testdata/fuzz/<Target>/ directory: commit them with the fix as regression seeds.
#
# Usage: hack/fuzz.sh [PATTERN]   (PATTERN filters target names, e.g. 'Extract|ParseFlow')
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
pattern=${1:-.}
status=0
for dir in $(grep -rlE '^func Fuzz' --include='*_test.go' . | xargs -n1 dirname | sort -u); do
	for target in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' "$dir"/*_test.go | awk '{print $2}' | sort -u); do
		echo "$target" | grep -qE "$pattern" || continue
		echo "== $dir $target ($fuzztime)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel 1 "$dir"; then
			status=1
		fi
	done
done
exit $status
