#!/usr/bin/env bash
# The portal benchmark on two commits, side by side: each round runs bench.portal on BEFORE,
# then on AFTER, for each database, so that load from a neighbour lands on both.
#
#   bench/compare_commits.sh BEFORE AFTER [ROUNDS] [-- bench.portal options]
#   bench/compare_commits.sh f18ee4c 0d23f4f 2 -- --runs 2 --cycles 20 --alone-cycles 60
#
# Each commit is checked out in its own work tree under var/bench/trees/ (git worktree),
# sharing this checkout's .venv, so the two must need the same requirements. Output goes to
# stdout: one "=== round R, DATABASE, COMMIT" header per run, then bench.portal's report.
# PostgreSQL runs only when the server bench.portal uses answers.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
before=$1 after=$2 rounds=${3:-2}
shift $(( $# >= 3 ? 3 : 2 ))
[ "${1:-}" = "--" ] && shift

trees=var/bench/trees
mkdir -p "$trees"
for commit in "$before" "$after"; do
  tree="$trees/$commit"
  if [ ! -d "$tree" ]; then
    git worktree add --quiet --detach "$tree" "$commit"
    ln -s "$PWD/.venv" "$tree/.venv"
  fi
done

databases=sqlite
if .venv/bin/python -c "from bench.django_env import postgres_available as up; raise SystemExit(not up())"; then
  databases="sqlite postgres"
fi

for round in $(seq 1 "$rounds"); do
  for database in $databases; do
    for commit in "$before" "$after"; do
      echo "=== round $round, $database, $commit, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%T)"
      (cd "$trees/$commit" && .venv/bin/python -m bench.portal --database "$database" "$@")
    done
  done
done
echo "Work trees are kept in $trees; remove them with: git worktree remove --force $trees/<commit>"
