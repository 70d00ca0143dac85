#!/usr/bin/env bash
# agent-overhead.sh: measure esmon-agent's CPU and memory side by side with
# Debian's prometheus-node-exporter on this machine, each doing the same job
# at the same interval: the agent collects and sends to a local core, the
# exporter is scraped (which is when it collects). Prints one table row per
# process and interval, in the form BENCHMARKS.md records.
#
#   packaging/bench/agent-overhead.sh [SECONDS]   (default 300)
#
# Needs bin/esmon-agent and bin/esmon-serve (make build-headless) and the
# prometheus-node-exporter package.
set -euo pipefail
dur=${1:-300}
warm=20
root=$(cd "$(dirname "$0")/../.." && pwd)
agent=$root/bin/esmon-agent
core=$root/bin/esmon-serve
nodeexp=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

tck=$(getconf CLK_TCK)
cputicks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rsskb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

"$core" serve --data "$tmp/core" --listen 127.0.0.1:0 >"$tmp/core.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  url=$(grep -o 'https://127.0.0.1:[0-9]*' "$tmp/core.log" | head -1 || true)
  [ -n "$url" ] && [ -s "$tmp/core/tls.crt" ] && break
  sleep 0.1
done
code=$("$root/packaging/join-code.sh" "$tmp/core" "${url#https://}" 2 "agent overhead bench")

declare -A pid
for iv in 5 1; do
  "$agent" run --join-code "$code" --interval "${iv}s" \
    --state-dir "$tmp/agent$iv" --log-level warn >"$tmp/agent$iv.log" 2>&1 &
  pid[agent$iv]=$!; pids+=($!)
  port=$((19100 + iv))
  "$nodeexp" --web.listen-address=127.0.0.1:$port >"$tmp/ne$iv.log" 2>&1 &
  pid[ne$iv]=$!; pids+=($!)
  ( while sleep "$iv"; do curl -s -o /dev/null "http://127.0.0.1:$port/metrics" || true; done ) &
  pids+=($!)
done

sleep "$warm"
declare -A t0 rsum rmax
for k in "${!pid[@]}"; do t0[$k]=$(cputicks "${pid[$k]}"); rsum[$k]=0; rmax[$k]=0; done
n=0
end=$((SECONDS + dur))
while [ $SECONDS -lt $end ]; do
  for k in "${!pid[@]}"; do
    r=$(rsskb "${pid[$k]}" 2>/dev/null || echo 0); rsum[$k]=$((rsum[$k] + r)); [ "$r" -gt "${rmax[$k]}" ] && rmax[$k]=$r
  done
  n=$((n + 1)); sleep 1
done
for k in "${!pid[@]}"; do
  if [ ! -e "/proc/${pid[$k]}" ]; then echo "$k exited early:"; cat "$tmp/${k/ne/ne}.log" 2>/dev/null | tail -20; exit 1; fi
done
printf '| %-28s | %8s | %12s | %12s | %12s |\n' "process" "interval" "CPU % of 1 core" "RSS avg MB" "RSS max MB"
for k in agent5 ne5 agent1 ne1; do
  t1=$(cputicks "${pid[$k]}")
  cpu=$(awk -v d=$((t1 - t0[$k])) -v hz="$tck" -v s="$dur" 'BEGIN{printf "%.3f", d/hz/s*100}')
  avg=$(awk -v a="${rsum[$k]}" -v n=$n 'BEGIN{printf "%.1f", a/n/1024}')
  mx=$(awk -v a="${rmax[$k]}" 'BEGIN{printf "%.1f", a/1024}')
  name=esmon-agent; [[ $k == ne* ]] && name="prometheus-node-exporter"
  printf '| %-28s | %7ss | %12s | %12s | %12s |\n' "$name" "${k: -1}" "$cpu" "$avg" "$mx"
done
grep -h "level=ERROR" "$tmp"/agent*.log | head -5 || true
