#!/usr/bin/env bash
# Make guise's man pages and shell completions from one source: the --help texts of the built
# binary (so they cannot drift from the options the code parses).
#
#   bash tools/gen-docs.sh GUISE VERSION OUTDIR
#
# OUTDIR/man1/guise.1 and guise-COMMAND.1 for every command `guise --help` lists (help2man);
# OUTDIR/guise.bash (bash, for bash-completion's completions/ directory) and OUTDIR/_guise
# (zsh, for a directory in $fpath): commands, and each command's options.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 GUISE VERSION OUTDIR" >&2
  exit 2
fi
guise=$1 version=$2 out=$3
command -v help2man >/dev/null || {
  echo "gen-docs: help2man not found (apt-get install help2man, or make deps)" >&2
  exit 1
}
"$guise" --help >/dev/null || {
  echo "gen-docs: running $guise --help failed" >&2
  exit 1
}

# "  NAME   summary" lines after "Commands:" in `guise --help`.
commands=()
summaries=()
while IFS= read -r line; do
  if [[ $line =~ ^\ \ ([a-z]+)\ +(.*)$ ]]; then
    commands+=("${BASH_REMATCH[1]}")
    summaries+=("${BASH_REMATCH[2]}")
  fi
done < <("$guise" --help | sed -n '/^Commands:/,/^$/p')
[ ${#commands[@]} -gt 0 ] || {
  echo "gen-docs: no commands in $guise --help" >&2
  exit 1
}

# The options of a command: every -x / --long(=) token in the option column of its help's
# option lines (those that start with blanks and a dash).
options_of() {
  local help
  help=$("$guise" "$1" --help)
  # The option column only: up to the first double blank after the indentation.
  { printf '%s\n' "$help" | grep -E '^ +-' || true; } | sed -E 's/^ +//; s/  .*//' |
    { grep -oE '(^|[ ,/[])--?[A-Za-z][A-Za-z0-9-]*=?' || true; } | sed -E 's/^[ ,/[]//' |
    sort -u | tr '\n' ' '
}

rm -rf "$out.tmp"
mkdir -p "$out.tmp/man1"
see_also="$out.tmp/see-also.h2m"
{
  echo "[SEE ALSO]"
  printf '.BR guise (1)'
  for c in "${commands[@]}"; do printf ',\n.BR guise-%s (1)' "$c"; done
  echo
  echo "[REPORTING BUGS]"
  echo "The README.md of guise's sources describes every command in more detail."
} >"$see_also"

man_page() { # NAME PROGRAM SUMMARY
  local page=$out.tmp/man1/$1.1 upper
  help2man --no-info --no-discard-stderr --version-string="$version" --include="$see_also" \
    --name="$3" --output="$page" "$2"
  # help2man names the page after the program's first word.
  upper=$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')
  sed -i "s/^\\.TH GUISE /.TH $upper /" "$page"
  grep -q '^\.SH DESCRIPTION' "$page" || {
    echo "gen-docs: help2man made no page for $2" >&2
    exit 1
  }
}

man_page guise "$guise" "rootless containers, images and builds"
bash_cases=""
zsh_cases=""
zsh_commands=""
for i in "${!commands[@]}"; do
  c=${commands[i]}
  man_page "guise-$c" "$guise $c" "${summaries[i]}"
  opts=$(options_of "$c")
  bash_cases+="  $c) opts='$opts' ;;"$'\n'
  zsh_cases+="    $c) opts=($opts) ;;"$'\n'
  summary=${summaries[i]//:/\\:}
  summary=${summary//\'/\'\\\'\'}
  zsh_commands+="    '$c:$summary'"$'\n'
done

cat >"$out.tmp/guise.bash" <<EOF
# bash completion for guise $version (made by tools/gen-docs.sh from guise's --help texts)
_guise() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd= i opts=
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
    -*) ;;
    *)
      cmd=\${COMP_WORDS[i]}
      break
      ;;
    esac
  done
  if [ -z "\$cmd" ]; then
    COMPREPLY=(\$(compgen -W '${commands[*]} help version --help --version' -- "\$cur"))
    return
  fi
  case \$cmd in
$bash_cases  esac
  # Not an option: bash's default (file names), from complete -o default.
  [[ \$cur == -* ]] && COMPREPLY=(\$(compgen -W "\$opts" -- "\$cur"))
  return 0
}
complete -o default -F _guise guise
EOF

cat >"$out.tmp/_guise" <<EOF
#compdef guise
# zsh completion for guise $version (made by tools/gen-docs.sh from guise's --help texts)
_guise() {
  local -a commands opts
  commands=(
$zsh_commands  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'guise command' commands
    return
  fi
  case \${words[2]} in
$zsh_cases  esac
  if [[ \$PREFIX == -* ]]; then
    compadd -a opts
  else
    _files
  fi
}
_guise "\$@"
EOF

bash -n "$out.tmp/guise.bash"
rm -f "$see_also"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "gen-docs: ${#commands[@]} commands: man pages and completions in $out"
