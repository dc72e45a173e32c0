#!/usr/bin/env bash
# treestate.sh prints a digest of every tracked and untracked (not ignored) file's content, so two
# calls around a command tell whether it changed the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
{ git ls-files; git ls-files -o --exclude-standard; } | sort -u | while read -r f; do
	[ -f "$f" ] && printf '%s\0' "$f"
done | xargs -0 -r sha256sum | sha256sum
