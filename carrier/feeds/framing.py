"""MLLP framing that resynchronises, pure: bytes as a sender wrote them -> frames.

A frame is ``<VT> message <FS><CR>``. Real senders get this wrong in ways that must not
cost the messages around the mistake, and every message must get exactly one reply, in
order (a sender in lock-step reads the next reply as the answer to its last message):

* bytes before a ``<VT>`` (line ends after the previous ``<FS><CR>``, noise from a
  restarted sender) are skipped, the frame after them is read;
* a ``<VT>`` inside a frame means the frame before it never got its end block: that
  message is refused on its own (``UNTERMINATED``), the one after it is read;
* a frame longer than the limit is skipped through its end block and refused once
  (``TOO_LONG``), however many reads it arrives in; the buffer never holds more than the
  limit (plus one read);
* ``<FS><CR>`` with no ``<VT>`` before it at all is refused (``NOT_A_FRAME``);
* ``<FS>`` without its ``<CR>`` (an engine that ends frames ``<FS>`` or ``<FS><LF>``)
  ends the frame too: a sender in lock-step would otherwise wait for the frame timeout.
"""

from __future__ import annotations

from dataclasses import dataclass

START, END = b"\x0b", b"\x1c\r"
NOT_A_FRAME = "not an MLLP frame (no start block)"
UNTERMINATED = "message not terminated (no end block before the next start block)"
TOO_LONG = "message too long"


@dataclass(frozen=True)
class Frame:
    data: bytes  # the message (for UNTERMINATED: what came of it; else may be empty)
    problem: str = ""  # "" (a message to handle) or why it is refused; never content
    skipped: int = 0  # bytes of noise skipped before it


class Framer:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._oversized = False  # inside a frame longer than the limit: skipping to its end

    @property
    def pending(self) -> bool:
        """A frame has begun (its start block read) and not ended."""
        return self._oversized or START in self._buf

    def partial(self) -> bytes:
        """What has come of the frame begun (for the refusal that echoes its MSH)."""
        start = self._buf.rfind(START)
        return bytes(self._buf[start + 1:]) if start >= 0 else b""

    def feed(self, data: bytes) -> list[Frame]:
        """The frames that ``data`` (the next bytes read) completes, in order."""
        self._buf += data
        out: list[Frame] = []
        while (end := self._buf.find(END[:1])) >= 0:
            block = bytes(self._buf[:end])
            # <FS><CR>; or <FS> alone (a <CR> that comes after all is noise before the next
            # <VT>): no message holds an <FS>, so it ends the frame either way.
            del self._buf[:end + (2 if self._buf[end + 1:end + 2] == END[1:] else 1)]
            if self._oversized:
                self._oversized = False
                out.append(Frame(b"", TOO_LONG))
                if (start := block.rfind(START)) >= 0:  # it never ended; another began
                    out.extend(self._split(block[start:]))
            else:
                out.extend(self._split(block))
        if len(self._buf) > self.limit + len(START) or self._oversized:
            self._oversized = True
            start = self._buf.rfind(START)
            # Keep a frame that began after the long one, else a last <FS> (it may be the
            # end block's first half); the rest is skipped.
            keep = start if start > 0 and len(self._buf) - start <= self.limit else -1
            del self._buf[:keep]
        return out

    def _split(self, block: bytes) -> list[Frame]:
        parts = block.split(START)
        if len(parts) == 1:
            return [Frame(b"", NOT_A_FRAME, len(block))]
        out = [Frame(p, UNTERMINATED) for p in parts[1:-1]]
        last = parts[-1]
        out.append(Frame(b"", TOO_LONG) if len(last) > self.limit else Frame(last))
        return [Frame(out[0].data, out[0].problem, len(parts[0])), *out[1:]]
