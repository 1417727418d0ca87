"""SIPp side of ``bench/soak.py``: one scenario file per call, the caller's audio, the trace.

Each call is its own ``sipp -m 1`` process running a scenario written for it, so every
call has its own random shape (when it hangs up, whether and when it re-INVITEs) and its
own message trace, from which :func:`read_trace` takes what the server answered. SIPp is
the independent peer: nothing here imports the stack.

Shapes (``Shape.kind``):

* ``talk``: INVITE (PCMU offer) -> 200 -> ACK -> the caller's recorded question plays as
  RTP -> wait for the server's BYE up to ``hangup_ms``, else send BYE. A transfer (REFER)
  from the agent is accepted (202, NOTIFY 200, then the agent's BYE) or declined (603).
* ``reinvite``: as ``talk``, with a hold (``sendonly``) re-INVITE after ``reinvite_ms``
  and a resume (``sendrecv``) one second later.
* ``no_ack`` (a fault): INVITE -> 200, never ACKed; the server must give up (RFC 3261
  Timer H, 64*T1 = 32 s) and end the call with a BYE, which is answered.

A BYE from the server is answered at any waiting point, so an agent that hangs up first is
a normal end, not a failure.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

CALLER = "+15550100999"  # 555-01XX fiction range; unknown to the demo clinic

_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="soak_{kind}">
"""
_FROM = f"From: soak <sip:{CALLER}@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]"
_SDP = """      v=0
      o=soak 53655765 {version} IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=ptime:20
      a={direction}
"""
_INVITE = """  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      {from_}
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:soak@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

{sdp}    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true" rtd="true" timeout="30000"/>
"""
_IN_DIALOG = """  <send{retrans}>
    <![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      {from_}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      [routes]
      Contact: <sip:soak@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
{body_headers}      Content-Length: {length}

{body}    ]]>
  </send>
"""
_ANSWER = """  <send{next}>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""
_OK_TO_BYE = """  <label id="gotbye"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="end"/>
  <pause milliseconds="200"/>
</scenario>
"""


@dataclass(frozen=True)
class Shape:
    kind: str  # talk | reinvite | no_ack
    hangup_ms: int = 20_000
    reinvite_ms: int = 3_000
    accept_refer: bool = True
    """A transfer (REFER) from the agent is accepted (202, then NOTIFY 200) or declined (603)."""


def _in_dialog(method: str, cseq: int, sdp_direction: str | None = None) -> str:
    if method == "NOTIFY":  # the transfer went through (RFC 3515 sec 2.4.5)
        headers = ("      Event: refer\n      Subscription-State: terminated;reason=noresource\n"
                   "      Content-Type: message/sipfrag\n")
        body, length = "      SIP/2.0 200 OK\n", "[len]"
    elif sdp_direction is None:
        headers, body, length = "", "", "0"
    else:
        headers = "      Content-Type: application/sdp\n"
        body = _SDP.format(version=2353687637 + cseq, direction=sdp_direction)
        length = "[len]"
    retrans = "" if method == "ACK" else ' retrans="500"'
    return _IN_DIALOG.format(method=method, cseq=cseq, from_=_FROM, body_headers=headers,
                             body=body, length=length, retrans=retrans)


def _wait(timeout_ms: int, ontimeout: str) -> str:
    """Wait for the agent's BYE or REFER; on timeout go on at ``ontimeout``."""
    return (f'  <recv request="REFER" optional="true" timeout="{timeout_ms}"'
            f' ontimeout="{ontimeout}" next="gotrefer"/>\n'
            '  <recv request="BYE" next="gotbye"/>\n'
            f'  <label id="{ontimeout}"/>\n')


def _answer() -> str:
    """The answer to one of our in-dialog requests (the agent may end or transfer first)."""
    return ('  <recv response="100" optional="true"/>\n'
            '  <recv request="REFER" optional="true" next="gotrefer"/>\n'
            '  <recv request="BYE" optional="true" next="gotbye"/>\n'
            '  <recv response="200"/>\n')


def _refer(shape: Shape) -> str:
    """A transfer request from the agent: accept it and report success, or decline it."""
    out = ['  <label id="gotrefer"/>\n']
    if not shape.accept_refer:
        out.append(_ANSWER.format(status="603 Decline", next=' next="final"'))
        return "".join(out)
    out.append(_ANSWER.format(status="202 Accepted", next=""))
    out.append(_in_dialog("NOTIFY", 20))
    out.append(_answer())
    out.append(_wait(shape.hangup_ms, "referbye"))
    out.append(_in_dialog("BYE", 21))
    out.append(_answer().replace(' next="gotrefer"', "").replace(
        '<recv response="200"/>', '<recv response="200" next="end"/>'))
    return "".join(out)


def scenario(shape: Shape, pcap: str) -> str:
    """The SIPp scenario XML of one call of this shape (``pcap``: the caller's audio)."""
    out = [_HEAD.format(kind=shape.kind),
           _INVITE.format(from_=_FROM, sdp=_SDP.format(version=2353687637,
                                                       direction="sendrecv"))]
    if shape.kind == "no_ack":
        # Retransmitted 200s are absorbed by SIPp; only the server's BYE ends this call.
        out.append('  <recv request="BYE" timeout="75000"/>\n')
        out.append(_OK_TO_BYE)
        return "".join(out)
    out.append(_in_dialog("ACK", 1))
    out.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n')
    cseq = 2
    if shape.kind == "reinvite":
        out.append(_wait(shape.reinvite_ms, "hold"))
        for direction in ("sendonly", "sendrecv"):
            out.append(_in_dialog("INVITE", cseq, direction))
            out.append(_answer())
            out.append(_in_dialog("ACK", cseq))
            cseq += 1
            if direction == "sendonly":
                out.append(_wait(1000, "resume"))
    out.append('  <label id="final"/>\n')
    out.append(_wait(shape.hangup_ms, "ourbye"))
    out.append(_in_dialog("BYE", cseq))
    out.append(_answer().replace('<recv response="200"/>',
                                     '<recv response="200" next="end"/>'))
    out.append(_refer(shape))
    out.append(_OK_TO_BYE)
    return "".join(out)


# --- the caller's audio ----------------------------------------------------------------------


def caller_pcap(path: Path, text: str, *, port: int = 6000) -> float:
    """Speak ``text`` (espeak-ng), encode it as 8 kHz PCMU (sox) and write it as a pcap of
    20 ms RTP packets for SIPp's ``play_pcap_audio``. Returns the audio's length in s."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install {tool})")
    wav = path.with_suffix(".wav")
    ulaw = path.with_suffix(".ul")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True,
                   capture_output=True, timeout=60)
    subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw",
                    str(ulaw), "pad", "0.3", "1.5"], check=True, capture_output=True, timeout=60)
    audio = ulaw.read_bytes()
    ip = b"\x7f\x00\x00\x01"
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for n in range(len(audio) // 160):
        rtp = (struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, (n * 160) & 0xFFFFFFFF, 0x50AC)
               + audio[n * 160:(n + 1) * 160])
        udp = struct.pack("!HHHH", port, port, 8 + len(rtp), 0) + rtp
        packet = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17,
                             0, ip, ip) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + packet
        stamp = n * 20_000
        out.append(struct.pack("<IIII", stamp // 1_000_000, stamp % 1_000_000, len(frame),
                               len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return len(audio) / 8000


# --- what happened ---------------------------------------------------------------------------


@dataclass
class Trace:
    invite_final: int | None = None  # the final response to the first INVITE
    reason: str = ""  # its Reason header or reason phrase, when not 2xx
    server_bye: bool = False  # the server ended the call
    refer: bool = False  # the agent asked to transfer the call
    reinvite_codes: list[int] = field(default_factory=list)
    bye_code: int | None = None  # the answer to our BYE


_BLOCK = re.compile(r"message received \[\d+\] bytes :\s*\n\n(.*?)(?=\n-{20,}|\Z)", re.S)


def read_trace(path: Path) -> Trace:
    """What the server sent in one call, from SIPp's ``-trace_msg`` file."""
    out = Trace()
    if not path.exists():
        return out
    for block in _BLOCK.findall(path.read_text(encoding="latin-1")):
        first, _, rest = block.partition("\n")
        cseq = re.search(r"^CSeq:\s*(\d+)\s+(\w+)", rest, re.M | re.I)
        if first.startswith("BYE "):
            out.server_bye = True
        if first.startswith("REFER "):
            out.refer = True
        if not first.startswith("SIP/2.0 ") or cseq is None:
            continue
        code = int(first.split()[1])
        number, method = int(cseq.group(1)), cseq.group(2).upper()
        if method == "INVITE" and number == 1 and code >= 200 and out.invite_final is None:
            out.invite_final = code
            reason = re.search(r"^Reason:\s*(.+)$", rest, re.M | re.I)
            out.reason = reason.group(1).strip() if reason else first.split(" ", 2)[-1].strip()
        elif method == "INVITE" and code >= 200 and number > 1:
            out.reinvite_codes.append(code)
        elif method == "BYE" and code >= 200:
            out.bye_code = code
    return out
