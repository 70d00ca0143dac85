#!/usr/bin/env bash
# run-local.sh: what `make run` starts after building. The console (or, with
# no display, the headless core) on a data directory under the user's config
# directory, and a local agent enrolled to it, so this machine shows up at
# once. Ctrl-C (or quitting the console) stops both. The core serves HTTPS
# with the certificate it made; the local agent enrols once with a one-use
# join code this script asks the core for (with the admin token), and then
# checks the core by the certificate pin in that code.
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

# The core writes its admin token and TLS certificate on first start; wait
# for them and for the listener.
for _ in $(seq 1 100); do
  if [ -s "$data/admin.token" ] && [ -s "$data/tls.crt" ] && (exec 3<>"/dev/tcp/${listen%:*}/${listen##*:}") 2>/dev/null; then break; fi
  kill -0 "${pids[0]}" 2>/dev/null || { echo "esmon exited; see the log above" >&2; exit 1; }
  sleep 0.1
done

# The local agent: enrolled once (its credential stays in its state
# directory), with a one-use join code that expires in ten minutes.
agent_state="$data/local-agent"
agent_env=()
if [ ! -s "$agent_state/enrolment.json" ]; then
  code=$(packaging/join-code.sh "$data" "$listen" 1 "make run: local agent")
  [ -n "$code" ] || { echo "could not get a join code for the local agent" >&2; exit 1; }
  agent_env=(ESMON_JOIN_CODE="$code")
fi
env "${agent_env[@]}" bin/esmon-agent run --state-dir "$agent_state" &
pids+=($!)

cat <<TXT

  esmon is running with a local agent.
  Web dashboard: https://$listen/ (the browser will ask you to accept the
  core's own certificate; its SPKI SHA-256 pin is in the core's log)
  Sign in with the token in:  $data/admin.token
  Add other agents:           Agents page, "Create join code", then paste the
                              install command on the server
  Press Ctrl-C to stop.

TXT
# Stop when either process ends (the console's Quit ends the whole run).
wait -n "${pids[@]}"
