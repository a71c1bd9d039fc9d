#!/usr/bin/env bash
# Gateway overhead, side by side, in one run: the same request
# (GET /api/v1/agents/{id}, answered by discovery from memory) sent
#   direct  — to discovery itself (split mode, with the identity header the
#             gateway would sign, computed by the client);
#   gateway — through `ossa serve --target=gateway` (API key → authn, RBAC,
#             rate limit (on, set high), signed identity, proxy);
#   nginx   — through nginx proxying to the same discovery (keep-alive pool;
#             the client's signed header passes through; no auth).
# Throughput: wrk, closed loop, c=1 and c=50. Latency: gatewaybench, open
# loop at a fixed rate. Needs nginx and wrk (apt-get install -y nginx wrk);
# not part of CI.
# Usage: bench/gateway/run.sh [seconds per run (10)] [runs at c=50 (3)] [open-loop rate (1000)]
# BASELINE_BIN=/path/to/older/ossa adds a row "gateway-base": the same
# gateway setup from that binary, measured in the same run (interleaved), so
# that a change can be compared under the same background load.
set -euo pipefail
secs=${1:-10}
runs=${2:-3}
rate=${3:-1000}
cd "$(dirname "$0")/../.."
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk" >&2; exit 1; }

tmp=$(mktemp -d)
go build -trimpath -o "$tmp/ossa" ./cmd/ossa
go build -trimpath -o "$tmp/gatewaybench" ./bench/gateway
secret=bench-internal-secret-0123456789abcdef0123
key=ossa_bench_admin_key_0123456789abcdef0123
disc=127.0.0.1:18211 gw=127.0.0.1:18200 ngx=127.0.0.1:18280 gwbase=127.0.0.1:18201
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [ -f "$tmp/nginx.pid" ] && kill -QUIT "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

common=(--log.level=warn --http.shutdown-delay=0s --auth.internal-secret="$secret")
"$tmp/ossa" serve --target=discovery --http.addr=$disc --database-url="$tmp/disc.db" \
  --discovery.probe-interval=0 "${common[@]}" >"$tmp/disc.log" 2>&1 &
pids+=($!)
"$tmp/ossa" serve --target=gateway --http.addr=$gw --database-url="$tmp/gw.db" --discovery.url=http://$disc \
  --admin-key=$key --gateway.rate-limit.requests=100000000 --gateway.rate-limit.burst=100000000 \
  "${common[@]}" >"$tmp/gw.log" 2>&1 &
pids+=($!)
targets=(direct nginx gateway)
if [ -n "${BASELINE_BIN:-}" ]; then
  "$BASELINE_BIN" serve --target=gateway --http.addr=$gwbase --database-url="$tmp/gwbase.db" --discovery.url=http://$disc \
    --admin-key=$key --gateway.rate-limit.requests=100000000 --gateway.rate-limit.burst=100000000 \
    "${common[@]}" >"$tmp/gwbase.log" 2>&1 &
  pids+=($!)
  targets+=(gateway-base)
fi

cat >"$tmp/nginx.conf" <<NGINX
worker_processes auto;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err warn;
events { worker_connections 1024; }
http {
  access_log off;
  upstream discovery { server $disc; keepalive 64; }
  server {
    listen $ngx;
    location / {
      proxy_pass http://discovery;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
nginx -c "$tmp/nginx.conf"

for u in http://$disc/readyz http://$gw/readyz ${BASELINE_BIN:+http://$gwbase/readyz}; do
  for _ in $(seq 1 500); do curl -fs -o /dev/null "$u" && break; sleep 0.02; done
done
id=$(curl -fs -X POST "http://$gw/api/v1/agents?endpoint=http://127.0.0.1:1" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/yaml' --data-binary @examples/agents/echo.yml | sed -E 's/.*"agent":\{"id":"([^"]+)".*/\1/')
path=/api/v1/agents/$id

# wrk_args TARGET: header arguments for a target; identity headers are
# signed just before each run (they are valid for 30 s).
wrk_args() {
  case $1 in
    gateway*) printf -- "-H\nAuthorization: Bearer %s\n" "$key" ;;
    *) "$tmp/gatewaybench" sign -secret "$secret" -path "$path" | while IFS= read -r h; do printf -- '-H\n%s\n' "$h"; done ;;
  esac
}
url_of() { case $1 in direct) echo "http://$disc$path" ;; gateway) echo "http://$gw$path" ;; gateway-base) echo "http://$gwbase$path" ;; nginx) echo "http://$ngx$path" ;; esac; }

throughput() { # target conns -> "req/s p50 p99"
  local args=()
  mapfile -t args < <(wrk_args "$1")
  wrk -t1 -c"$2" -d"${secs}s" --latency "${args[@]}" "$(url_of "$1")" >"$tmp/wrk.out"
  if grep -q "Non-2xx" "$tmp/wrk.out"; then
    echo "non-2xx answers from $1" >&2; cat "$tmp/wrk.out" "$tmp"/*.log >&2; exit 1
  fi
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {printf "%d %s %s\n", rps, p50, p99}' "$tmp/wrk.out"
}

echo "## Throughput (wrk -t1, ${secs}s per run, keep-alive; runs interleaved across paths)"
echo
declare -A c1 c50 p50s best
for target in "${targets[@]}"; do c1[$target]=$(throughput $target 1); best[$target]=0; done
# Interleaved, so that background load on the shared cores hits every path alike.
for _ in $(seq 1 "$runs"); do
  for target in "${targets[@]}"; do
    read -r r p _ < <(throughput $target 50)
    c50[$target]+="${c50[$target]:+ / }$r"; p50s[$target]+="${p50s[$target]:+ / }$p"
    (( r > best[$target] )) && best[$target]=$r
  done
done
echo "| path | c=1 req/s | c=1 p50 | c=1 p99 | c=50 req/s (runs) | c=50 p50 (runs) |"
echo "|---|---|---|---|---|---|"
for target in "${targets[@]}"; do
  read -r r1 p50 p99 <<<"${c1[$target]}"
  echo "| $target | $r1 | $p50 | $p99 | ${c50[$target]} | ${p50s[$target]} |"
done
echo
median() { tr '/' '\n' <<<"$1" | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
awk -v g="${best[gateway]}" -v n="${best[nginx]}" -v d="${best[direct]}" \
  'BEGIN { printf "Best c=50: gateway/nginx = %.2f×, gateway/direct = %.2f×, nginx/direct = %.2f×\n", g/n, g/d, n/d }'
echo
awk -v g="$(median "${c50[gateway]}")" -v n="$(median "${c50[nginx]}")" -v d="$(median "${c50[direct]}")" \
  'BEGIN { printf "Median c=50: gateway/nginx = %.2f×, gateway/direct = %.2f×, nginx/direct = %.2f×\n", g/n, g/d, n/d }'
if [ -n "${BASELINE_BIN:-}" ]; then
  echo
  awk -v g="$(median "${c50[gateway]}")" -v b="$(median "${c50[gateway-base]}")" -v n="$(median "${c50[nginx]}")" \
    'BEGIN { printf "Median c=50: gateway-base/nginx = %.2f×, gateway/gateway-base = %.2f×\n", b/n, g/b }'
fi
echo
echo "## Latency at a fixed $rate req/s (open loop, gatewaybench, ${secs}s; ms from the scheduled send)"
echo
echo "| path | rate | achieved/s | p50 | p90 | p99 | max | errors |"
echo "|---|---|---|---|---|---|---|---|"
"$tmp/gatewaybench" rate -label direct -url "http://$disc$path" -secret "$secret" -rate "$rate" -duration "${secs}s"
"$tmp/gatewaybench" rate -label nginx -url "http://$ngx$path" -secret "$secret" -rate "$rate" -duration "${secs}s"
"$tmp/gatewaybench" rate -label gateway -url "http://$gw$path" -key "$key" -rate "$rate" -duration "${secs}s"
if [ -n "${BASELINE_BIN:-}" ]; then
  "$tmp/gatewaybench" rate -label gateway-base -url "http://$gwbase$path" -key "$key" -rate "$rate" -duration "${secs}s"
fi
