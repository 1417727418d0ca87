#!/usr/bin/env bash
# Drive our SIP endpoint with SIPp (Debian sip-tester): OPTIONS, the built-in uac
# (INVITE/200/ACK/BYE) and a hold/resume + INFO DTMF scenario, over UDP and TCP.
# Usage: bench/interop_sipp.sh [calls] [rate]      (defaults: 50 calls at 10 cps)
# Prints one line per scenario and exits non-zero if any scenario had a failed call.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-50}
RATE=${2:-10}
HOST=127.0.0.1
PORT=${SIP_PORT:-5070}
PY=${PYTHON:-.venv/bin/python}
command -v sipp >/dev/null || { echo "sipp not installed (apt-get install sip-tester)"; exit 2; }

"$PY" bench/sip_answer_server.py --host "$HOST" --port "$PORT" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
sleep 1

status=0
run() {  # name, then sipp arguments
  local name=$1; shift
  local out
  if out=$(sipp "$HOST:$PORT" -nostdin -timeout 60s -s gateway "$@" 2>&1); then
    echo "PASS $name"
  else
    echo "FAIL $name"; echo "$out" | tail -20; status=1
  fi
}
for t in u1 t1; do
  run "options/$t"   -sf bench/sipp/options.xml  -m "$CALLS" -r "$RATE" -t "$t"
  run "uac/$t"       -sn uac                     -m "$CALLS" -r "$RATE" -t "$t"
  run "uac_hold/$t"  -sf bench/sipp/uac_hold.xml -m "$CALLS" -r "$RATE" -t "$t"
done
exit $status
