#!/usr/bin/env bash
# Drive our SIP endpoint with SIPp (Debian sip-tester) and baresip: OPTIONS, the built-in uac
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

# baresip (Debian) places a call to the endpoint and hangs up after 3 s.
if command -v baresip >/dev/null; then
  BDIR=$(mktemp -d)
  "$PY" - "$BDIR/tone.wav" <<'PYEOF'
import sys, wave, math, struct
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
                           for i in range(8000 * 3)))
PYEOF
  cat > "$BDIR/config" <<CFG
poll_method epoll
sip_listen $HOST:$((PORT + 13))
audio_player aufile,$BDIR/out.wav
audio_source aufile,$BDIR/tone.wav
audio_alert aufile,$BDIR/alert.wav
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module aufile.so
module_tmp account.so
module_app menu.so
CFG
  echo "<sip:baresip@$HOST>;regint=0" > "$BDIR/accounts"
  if timeout 20 baresip -f "$BDIR" -e "/dial sip:clinic@$HOST:$PORT" -t 3 </dev/null 2>&1 \
      | grep -aq "Call established"; then
    echo "PASS baresip/udp"
  else
    echo "FAIL baresip/udp"; status=1
  fi
  rm -rf "$BDIR"
else
  echo "SKIP baresip (not installed)"
fi
exit $status
