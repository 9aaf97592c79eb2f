#!/usr/bin/env bash
# A benchmark on two commits, side by side: each round runs it on BEFORE, then on AFTER, for
# each database, so that load from a neighbour lands on both.
#
#   bench/compare_commits.sh BEFORE AFTER [ROUNDS] [-- benchmark options]
#   bench/compare_commits.sh f18ee4c 0d23f4f 2 -- --runs 2 --cycles 20 --alone-cycles 60
#   BENCH=bench.pages BENCH_FROM=HEAD bench/compare_commits.sh 83b44b7 HEAD 1 -- --rounds 120
#
# BENCH names the benchmark (default bench.portal). BENCH_FROM=<commit> runs that commit's
# bench/ in both trees (the benchmark measures the application code, not itself), for a
# benchmark newer than BEFORE. Each commit is checked out in its own work tree under
# var/bench/trees/ (git worktree), sharing this checkout's .venv, so the two must need the
# same requirements. Output: one "=== round R, DATABASE, COMMIT" header per run, then the
# benchmark's report. PostgreSQL runs only when the server the benchmark uses answers.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
# Commit ids, not names: a tree made for "HEAD" would be kept, and stale, for the next run.
before=$(git rev-parse --short "$1") after=$(git rev-parse --short "$2") rounds=${3:-2}
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
  if [ -n "${BENCH_FROM:-}" ]; then
    rm -rf "$tree/bench" && git archive "$BENCH_FROM" bench | tar -x -C "$tree"
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
      (cd "$trees/$commit" && .venv/bin/python -m "${BENCH:-bench.portal}" --database "$database" "$@")
    done
  done
done
echo "Work trees are kept in $trees; remove them with: git worktree remove --force $trees/<commit>"
