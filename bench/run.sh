#!/usr/bin/env bash
# `make bench`: run every bench/bench_*.sh; each prints its table and rewrites its own dated
# section of bench/README.md. BENCH_ONLY=start runs bench_start.sh alone.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
failed=()
for script in bench/bench_*.sh; do
  name=$(basename "$script" .sh)
  name=${name#bench_}
  if [ -n "${BENCH_ONLY:-}" ] && [ "$BENCH_ONLY" != "$name" ]; then
    continue
  fi
  echo "== bench: $name"
  if ! bash "$script"; then
    echo "== bench: $name FAILED" >&2
    failed+=("$name")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
