#!/usr/bin/env bash
# CPU per task of the task service's end-to-end benchmark, next to River's
# own no-op jobs: the test process's user+sys time and the CPU of every
# postgres process (live backends plus those the postmaster has reaped),
# before and after one run. Throughput alone moves with whatever else the
# machine runs; CPU per task moves much less.
# Usage: OSSA_TEST_POSTGRES_URL=… bench/taskcpu.sh [tasks (6000)] [runs (2)]
set -euo pipefail
n=${1:-6000}
runs=${2:-2}
cd "$(dirname "$0")/.."
: "${OSSA_TEST_POSTGRES_URL:?set OSSA_TEST_POSTGRES_URL to the PostgreSQL to measure on}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/taskagent.test" ./internal/taskagent

# pgcpu prints the CPU seconds of all postgres processes and their reaped children.
pgcpu() {
  local tick total=0 pid stat
  tick=$(getconf CLK_TCK)
  for pid in $(pgrep -x postgres || true); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    # Fields after the command: utime stime cutime cstime are 12th-15th.
    total=$((total + $(echo "${stat##*) }" | awk '{print $12 + $13 + $14 + $15}')))
  done
  awk -v t="$total" -v h="$tick" 'BEGIN { printf "%.2f", t / h }'
}

measure() {
  local name=$1 before after out
  before=$(pgcpu)
  out=$( { (cd internal/taskagent && /usr/bin/time -f 'GOCPU %U %S' "$tmp/taskagent.test" -test.run '^$' \
    -test.bench "Tasks/postgres/$name\$" -test.benchtime "${n}x" -test.count 1); } 2>&1 )
  after=$(pgcpu)
  echo "$out" | awk -v name="$name" -v n="$n" -v pg="$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')" '
    /^Benchmark/ { rate = $(NF-1) " " $NF }
    /^GOCPU/ { go = $2 + $3 }
    END { printf "%-11s %16s   go %4.0f µs   postgres %4.0f µs   total %4.0f µs per task\n",
      name, rate, go / n * 1e6, pg / n * 1e6, (go + pg) / n * 1e6 }'
}

for _ in $(seq "$runs"); do
  measure ossa-e2e
  measure river-noop
done
