#!/usr/bin/env bash
# Cold start and idle memory of `ossa serve` (embedded default).
# Cold start: exec until /readyz answers 200, on a fresh data directory (so it
# includes creating the SQLite file and running every migration) and on a
# warm one. Idle RSS: VmRSS after the process has idled for IDLE seconds.
# Usage: bench/startup.sh [runs] ; needs curl.
set -euo pipefail
runs=${1:-5}
IDLE=${IDLE:-5}
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/ossa
go build -o "$bin" ./cmd/ossa
port=29100  # below the ephemeral range, so outgoing connections never hold it

trap 'pkill -f "$bin serve" 2>/dev/null || true' EXIT

measure() { # $1 = data dir
  local start end pid
  start=$(date +%s%N)
  "$bin" serve --http.addr=127.0.0.1:$port --database-url="$1/ossa.db" --log.level=error --http.shutdown-delay=0s \
    > "$1/serve.log" 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do
    kill -0 "$pid" 2>/dev/null || { echo "ossa serve exited early:" >&2; cat "$1/serve.log" >&2; exit 1; }
    sleep 0.005
  done
  end=$(date +%s%N)
  echo "$pid $(( (end - start) / 1000000 ))"
}

echo "run  fresh_ms  warm_ms  idle_rss_mib"
for i in $(seq 1 "$runs"); do
  dir=$(mktemp -d)
  read -r pid fresh < <(measure "$dir")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  read -r pid warm < <(measure "$dir")
  sleep "$IDLE"
  rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  printf "%-4s %-9s %-8s %.1f\n" "$i" "$fresh" "$warm" "$(echo "$rss_kb/1024" | bc -l)"
  rm -rf "$dir"
done
