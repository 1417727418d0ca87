"""The peer's audio port with real pjsua2 objects: the frames it hands out and takes in.

The frame callbacks are called here directly, as pjmedia's clock thread calls them, in a
subprocess (one pjsua2 Endpoint a process, and none may outlive the process unfinalised).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from .client import REPO_ROOT, _child_env, needs_pjsua2
from .peer_audio import FRAME_BYTES

pytestmark = [pytest.mark.pjsua2, needs_pjsua2]

# Plays 3.5 frames of a ramp (the last frame padded with zeros) twice without looping,
# then a 2-frame buffer looped; every MediaFrame is kept and read only at the end, so frames
# that shared one buffer would all read as the last one.
SCRIPT = r"""
import json, os, sys
import numpy as np
import pjsua2 as pj
from tests.peers.peer_objects import AudioPort, _vector_bytes

ep = pj.Endpoint()
ep.libCreate()
cfg = pj.EpConfig()
cfg.logConfig.level = 0
cfg.logConfig.consoleLevel = 0
cfg.medConfig.clockRate = 16000
ep.libInit(cfg)
events = []
port = AudioPort(7, lambda name, **fields: events.append([name, fields]))
ramp = (np.arange(320 * 3 + 160) * 7 % 6000 - 3000).astype(np.int16)
kept = []

def pull(n):
    for _ in range(n):
        frame = pj.MediaFrame()
        port.onFrameRequested(frame)
        kept.append(frame)
        events.append(["frame", {"index": len(kept) - 1}])

ids = [port.start_playback(ramp, loop=False)]
pull(5)
ids.append(port.start_playback(ramp, loop=False))
pull(4)
ids.append(port.start_playback(ramp[:640], loop=True))
pull(5)
port.stop_playback()
pull(1)
sent = [[int(f.type), int(f.size), _vector_bytes(f.buf).hex()] for f in kept]
for payload in (ramp[:320].tobytes(), b"\x01\x02"):
    frame = pj.MediaFrame()
    frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
    frame.buf = pj.ByteVector(payload)
    frame.size = len(payload)
    port.onFrameReceived(frame)
frame = pj.MediaFrame()
frame.type = pj.PJMEDIA_FRAME_TYPE_NONE
port.onFrameReceived(frame)
print(json.dumps({"ids": ids, "sent": sent, "events": events, "sent_frames": port.sent_frames,
                  "received": [f.hex() for f in port.frames], "times": port.times,
                  "audio_type": int(pj.PJMEDIA_FRAME_TYPE_AUDIO)}))
sys.stdout.flush()
os._exit(0)
"""


def test_frames_out_and_in_are_the_buffers_own_bytes() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO_ROOT,
        env=_child_env(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    ramp = (np.arange(320 * 3 + 160) * 7 % 6000 - 3000).astype(np.int16).tobytes()
    padded = ramp + bytes(320)
    once = [padded[i : i + FRAME_BYTES] for i in range(0, len(padded), FRAME_BYTES)]
    silence = bytes(FRAME_BYTES)
    looped = [ramp[:FRAME_BYTES], ramp[FRAME_BYTES : 2 * FRAME_BYTES]]
    expected = once + [silence] + once + looped * 2 + looped[:1] + [silence]
    assert [bytes.fromhex(h) for _, _, h in out["sent"]] == expected
    assert {(t, size) for t, size, _ in out["sent"]} == {(out["audio_type"], FRAME_BYTES)}
    assert out["sent_frames"] == len(expected)
    # play_done right after the frame that ends each unlooped buffer, never for the loop
    order = [e[1]["index"] if e[0] == "frame" else e for e in out["events"]]
    first, second = out["ids"][:2]
    assert order[3] == ["play_done", {"call": 7, "play_id": first}]
    assert order[9] == ["play_done", {"call": 7, "play_id": second}]
    assert sum(1 for e in out["events"] if e[0] == "play_done") == 2
    # received: a whole frame as it came, a short one padded, a frame without audio as zeros
    assert [bytes.fromhex(h) for h in out["received"]] == [
        ramp[:FRAME_BYTES],
        b"\x01\x02" + bytes(FRAME_BYTES - 2),
        silence,
    ]
    assert len(out["times"]) == 3
    assert out["times"] == sorted(out["times"])
