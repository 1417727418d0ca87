"""pjsua2 objects of the test peer: the audio port, the call and the account.

Imported only by `pjsua_peer.py`, inside the peer subprocess. SIP callbacks run on the pj main
thread; `AudioPort.onFrameRequested/onFrameReceived` run on the null sound device's clock
thread and therefore touch nothing of pjsua2 but the frame they are given.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pjsua2 as pj

from .peer_audio import FRAME_BYTES, RATE

Emit = Callable[..., None]

# 2.15 enum values to names; pjsip's own stateText abbreviates DISCONNECTED.
STATE_NAMES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}
MEDIA_STATUS_NAMES = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}
DTMF_METHODS = {pj.PJSUA_DTMF_METHOD_RFC2833: "rfc4733", pj.PJSUA_DTMF_METHOD_SIP_INFO: "info"}
SRTP_MODES = {
    "disabled": pj.PJMEDIA_SRTP_DISABLED,
    "optional": pj.PJMEDIA_SRTP_OPTIONAL,
    "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
}

_ZERO_FRAME = bytes(FRAME_BYTES)
_AUDIO = pj.PJMEDIA_FRAME_TYPE_AUDIO
_handles = itertools.count(1)
_clock_thread = threading.local()  # `pinned` is set on a thread whose state is kept


def _pin_thread_state() -> None:
    """Keep this (pjmedia clock) thread's Python thread state alive between callbacks.

    SWIG enters each frame callback with PyGILState_Ensure and leaves with Release; on a
    thread Python did not start, that makes and destroys a thread state every time, and
    each new one maps a fresh 16 KB frame stack (mmap, page faults, munmap: ~10% of a
    phone's CPU in perf; bench/phone_cost.py 11.6 -> 10.3 ms per call-second). One Ensure
    that is never released keeps the state (and this thread-local with it) until the
    thread ends; a new clock thread (pjsua reopens the sound device) pins its own.
    """
    if not getattr(_clock_thread, "pinned", False):
        ctypes.pythonapi.PyGILState_Ensure()
        _clock_thread.pinned = True


def _vector_begin(vec: Any) -> int:
    """Address of a pjsua2 ByteVector's first byte (a std::vector's begin pointer)."""
    return int(ctypes.c_void_p.from_address(int(vec.this)).value or 0)


def _vector_bytes(vec: Any) -> bytes:
    """Copy a pjsua2 ByteVector's content via its begin/end pointers (~1 us, not ~200 us)."""
    begin = _vector_begin(vec)
    end = ctypes.c_void_p.from_address(int(vec.this) + ctypes.sizeof(ctypes.c_void_p)).value
    if not begin or not end or end <= begin:
        return b""
    return ctypes.string_at(begin, end - begin)


def event_message(event: Any) -> str | None:
    """The whole received SIP message behind a call/transaction event, if there is one."""
    if event.type == pj.PJSIP_EVENT_RX_MSG:
        return str(event.body.rxMsg.rdata.wholeMsg) or None
    if event.type == pj.PJSIP_EVENT_TSX_STATE and event.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG:
        return str(event.body.tsxState.src.rdata.wholeMsg) or None
    return None


def tx_option(headers: dict[str, str] | list[list[str]] | None) -> pj.SipTxOption:
    """Extra headers: a dict, or a list of [name, value] pairs when a name repeats (e.g.
    several Identity headers)."""
    opt = pj.SipTxOption()
    pairs = headers.items() if isinstance(headers, dict) else (headers or [])
    for name, value in pairs:
        h = pj.SipHeader()
        h.hName = name
        h.hValue = value
        opt.headers.append(h)
    return opt


class AudioPort(pj.AudioMediaPort):  # type: ignore[misc]  # pjsua2 is untyped
    """One bridge port per call: plays a 16 kHz buffer into it and captures what it receives."""

    def __init__(self, handle: int, emit: Emit) -> None:
        super().__init__()
        self.handle = handle
        self._emit = emit
        self._lock = threading.Lock()
        self._play: bytes = b""
        self._pos = 0
        self._loop = False
        self._play_id = 0
        self.frames: list[bytes] = []  # received 20 ms frames, int16 LE at 16 kHz
        self.times: list[float] = []  # time.monotonic() at each received frame
        self.sent_frames = 0
        self.dropped = 0  # frames trimmed from the front of `frames`
        self.max_frames = 60 * 50 * 10  # ten minutes of audio, then the oldest are dropped
        # Sent frames are copied into one vector made here: `pj.ByteVector(chunk)` walks the
        # bytes one by one (22 us a frame, 4.4 ms of CPU a second for 4 calls), a memmove
        # into this one and the assignment (which copies it into the frame) take 2.4 us.
        self._out = pj.ByteVector(FRAME_BYTES)
        self._out_addr = _vector_begin(self._out)
        self._silence = pj.ByteVector(FRAME_BYTES)  # zeros, never written
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, 20000, 16)
        self.createPort(f"peer-call-{handle}", fmt)

    def start_playback(self, samples: np.ndarray, *, loop: bool) -> int:
        pcm = np.asarray(samples, dtype="<i2").tobytes()
        pad = (-len(pcm)) % FRAME_BYTES
        with self._lock:
            self._play_id += 1
            self._play = pcm + bytes(pad)
            self._pos = 0
            self._loop = loop
            return self._play_id

    def stop_playback(self) -> None:
        with self._lock:
            self._play = b""
            self._pos = 0

    def onFrameRequested(self, frame: Any) -> None:
        _pin_thread_state()
        done_id = 0
        with self._lock:
            if self._pos < len(self._play):
                end = self._pos + FRAME_BYTES
                ctypes.memmove(self._out_addr, self._play[self._pos : end], FRAME_BYTES)
                out = self._out
                self._pos = end
                if self._pos >= len(self._play):
                    if self._loop:
                        self._pos = 0
                    else:
                        done_id = self._play_id
                        self._play = b""
                        self._pos = 0
            else:
                out = self._silence
        frame.type = _AUDIO
        frame.buf = out  # copied into the frame (std::vector assignment)
        frame.size = FRAME_BYTES
        self.sent_frames += 1
        if done_id:
            self._emit("play_done", call=self.handle, play_id=done_id)

    def onFrameReceived(self, frame: Any) -> None:
        _pin_thread_state()
        data = _vector_bytes(frame.buf) if frame.type == _AUDIO else b""
        if len(data) != FRAME_BYTES:
            data = (data + _ZERO_FRAME)[:FRAME_BYTES]
        # The stamp first: a wait maps frames to stamps by index (``peer_waits``), and
        # with the frame first a poll between the two appends gave it the frame before's.
        self.times.append(time.monotonic())
        self.frames.append(data)
        if len(self.frames) > self.max_frames + 500:
            del self.frames[:500]
            del self.times[:500]
            self.dropped += 500

    @property
    def received(self) -> int:
        """Total frames received since the port was made (monotonic, survives trimming)."""
        return self.dropped + len(self.frames)

    def frames_since(self, index: int) -> list[bytes]:
        start = max(0, index - self.dropped)
        return self.frames[start:]


class PeerCall(pj.Call):  # type: ignore[misc]  # pjsua2 is untyped
    """A call with a stable per-process handle (pjsua call ids are reused)."""

    def __init__(self, peer: Any, acc: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        if call_id == pj.PJSUA_INVALID_ID:
            super().__init__(acc)
        else:
            super().__init__(acc, call_id)
        self.peer = peer
        self.acc = acc
        self.handle = next(_handles)
        # Made now (on the pj thread), so audio can be queued and waits can start before
        # the media is up; connected to the call's stream on every media update.
        self.port: AudioPort | None = AudioPort(self.handle, peer.emit)
        self.srtp: int | None = None  # per-call SRTP override, else the account's
        self.state = "NULL"
        self.media_status = "none"
        self.quiet = False  # a call refused by the digest challenge reports no events

    def emit(self, event: str, **fields: Any) -> None:
        if not self.quiet:
            self.peer.emit(event, call=self.handle, **fields)

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        self.state = STATE_NAMES.get(ci.state, str(ci.state))
        self.emit(
            "call_state",
            state=self.state,
            code=int(ci.lastStatusCode),
            reason=str(ci.lastReason),
            role="uac" if ci.role == pj.PJSIP_ROLE_UAC else "uas",
            sip_call_id=str(ci.callIdString),
            msg=event_message(prm.e),
        )
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.peer.call_ended(self)

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            status = MEDIA_STATUS_NAMES.get(mi.status, str(mi.status))
            self.media_status = status
            if mi.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                self._connect_audio(mi.index)
            self.emit("media_state", status=status, dir=int(mi.dir))
            if mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.emit("media_active")

    def _connect_audio(self, med_idx: int) -> None:
        if self.port is None:
            return
        am = self.getAudioMedia(med_idx)
        am.startTransmit(self.port)
        self.port.startTransmit(am)

    def onDtmfDigit(self, prm: Any) -> None:
        self.emit("dtmf", digit=str(prm.digit), method=DTMF_METHODS.get(prm.method, "other"))

    def onCallTransferRequest(self, prm: Any) -> None:
        accept = self.peer.accept_transfer
        new_handle = None
        if accept:
            new = PeerCall(self.peer, self.acc)
            self.peer.adopt(new)
            prm.newCall = new
            new_handle = new.handle
        else:
            prm.statusCode = 603
        self.emit("transfer_request", to=str(prm.dstUri), accepted=accept, new_call=new_handle)

    def onCallReplaced(self, prm: Any) -> None:
        """An INVITE with Replaces (attended transfer) took this call's place."""
        new = PeerCall(self.peer, self.acc, prm.newCallId)
        self.peer.adopt(new)
        prm.newCall = new
        self.emit("call_replaced", new_call=new.handle)

    def onCallTransferStatus(self, prm: Any) -> None:
        self.emit(
            "transfer_status",
            code=int(prm.statusCode),
            reason=str(prm.reason),
            final=bool(prm.finalNotify),
        )

    def onCreateMediaTransportSrtp(self, prm: Any) -> None:
        if self.srtp is not None:
            prm.srtpUse = self.srtp


class PeerAccount(pj.Account):  # type: ignore[misc]  # pjsua2 is untyped
    def __init__(self, peer: Any) -> None:
        super().__init__()
        self.peer = peer

    def onIncomingCall(self, prm: Any) -> None:
        call = PeerCall(self.peer, self, prm.callId)
        call.state = "INCOMING"
        self.peer.adopt(call)  # keep the reference, or the caller gets 603 at once
        ci = call.getInfo()
        msg = str(prm.rdata.wholeMsg)
        parties = {"from": str(ci.remoteUri), "to": str(ci.localUri)}
        refusal = self.peer.check_challenge(msg)
        if refusal is not None:
            code, headers, outcome = refusal
            call.quiet = True
            op = pj.CallOpParam()
            op.statusCode = code
            op.txOption = tx_option(headers)
            call.answer(op)
            self.peer.emit("challenged", code=code, outcome=outcome, msg=msg, **parties)
            return
        self.peer.emit(
            "incoming",
            call=call.handle,
            sip_call_id=str(ci.callIdString),
            src=str(prm.rdata.srcAddress),
            msg=msg,
            **parties,
        )
        self.peer.auto_answer(call)

    def onInstantMessage(self, prm: Any) -> None:
        """A SIP MESSAGE (RFC 3428) to this account; pjsua answers 200 by itself."""
        self.peer.emit("instant_message", from_uri=str(prm.fromUri), to_uri=str(prm.toUri),
                       content_type=str(prm.contentType), body=str(prm.msgBody),
                       msg=str(prm.rdata.wholeMsg))

    def onInstantMessageStatus(self, prm: Any) -> None:
        """The final answer to a MESSAGE this peer sent (`send_im`)."""
        self.peer.emit("im_status", to_uri=str(prm.toUri), code=int(prm.code),
                       reason=str(prm.reason))

    def onRegState(self, prm: Any) -> None:
        self.peer.emit(
            "reg_state",
            code=int(prm.code),
            reason=str(prm.reason),
            expiration=int(prm.expiration),
            active=bool(self.getInfo().regIsActive),
        )
