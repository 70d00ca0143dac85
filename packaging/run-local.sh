#!/usr/bin/env bash
# run-local.sh: what `make run` starts after building. The console (or, with
# no display, the headless core) on a data directory under the user's config
# directory, and a local agent enrolled to it, so this machine shows up at
# once. Ctrl-C (or quitting the console) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

data="${ESMON_DATA:-${XDG_CONFIG_HOME:-$HOME/.config}/esmon}"
listen="${ESMON_LISTEN:-127.0.0.1:8470}"
mkdir -p "$data"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x bin/esmon ]; then
  echo "Starting the esmon console (data: $data)"
  bin/esmon --data "$data" --listen "$listen" &
else
  echo "No display: starting the headless core (data: $data)"
  bin/esmon-serve serve --data "$data" --listen "$listen" &
fi
pids+=($!)

# The core writes the agent's enrolment token on first start; wait for it
# and for the listener.
for _ in $(seq 1 100); do
  if [ -s "$data/agent.token" ] && (exec 3<>"/dev/tcp/${listen%:*}/${listen##*:}") 2>/dev/null; then break; fi
  kill -0 "${pids[0]}" 2>/dev/null || { echo "esmon exited; see the log above" >&2; exit 1; }
  sleep 0.1
done

bin/esmon-agent run --core "http://$listen" --token-file "$data/agent.token" \
  --state-dir "$data/local-agent" &
pids+=($!)

cat <<TXT

  esmon is running with a local agent.
  Web dashboard: http://$listen/
  Sign in with the token in:  $data/admin.token
  Enrol other agents with:    esmon-agent run --core http://<this host>:${listen##*:} --token \$(cat $data/agent.token)
  Press Ctrl-C to stop.

TXT
# Stop when either process ends (the console's Quit ends the whole run).
wait -n "${pids[@]}"
