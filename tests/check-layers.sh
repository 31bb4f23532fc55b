#!/usr/bin/env bash
# Check that every source file includes only the folders its layer may include (HACKING.md's
# table).  Prints one line per offending include and exits 1 when there is any.
#
#   bash tests/check-layers.sh [TREE]      (default: the repository this script is in)
set -uo pipefail

tree=${1:-$(cd "$(dirname "$0")/.." && pwd)}

# folder -> the project folders its files may include (besides system headers).
declare -A allowed=(
  [util]="util"
  [tracer]="tracer util"
  [fakefs]="fakefs tracer util"
  [runtime]="runtime fakefs tracer util"
  [image]="image fakefs util"
  [builder]="builder runtime image fakefs util"
  [cli]="cli builder image runtime fakefs tracer util"
  [tools]="tools builder image runtime fakefs tracer util"
  [tests/unit]="builder image runtime fakefs tracer util"
  [tests/fuzz]="builder image runtime fakefs tracer util"
  [tests/helpers]=""
)

bad=0
for dir in "${!allowed[@]}"; do
  [ -d "$tree/$dir" ] || continue
  while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"${rest#*:}")
    case "$inc" in */*) ;; *) continue ;; esac # same-folder and generated headers
    case "$inc" in "$dir"/*) continue ;; esac   # the folder's own (tests/fuzz/fuzz.h)
    top=${inc%%/*}
    [ "$top" = build ] && continue
    ok=0
    for a in ${allowed[$dir]}; do
      [ "$top" = "$a" ] && ok=1
    done
    if [ $ok -eq 0 ]; then
      echo "${file#"$tree"/}:$line: includes \"$inc\", but $dir/ may include only: ${allowed[$dir]:-libc}"
      bad=1
    fi
  done < <(grep -n -H -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' \
    "$tree/$dir"/*.c "$tree/$dir"/*.h 2>/dev/null)
done
exit $bad
