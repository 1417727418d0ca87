"""A SIP endpoint that answers every call (SDP answer, re-INVITE hold/resume, BYE).

Used by bench/interop_sipp.sh and tests/sip/test_sip_sipp.py as the system under test
for SIPp scenarios. Media is not run: the answer points at a port nobody listens on.

    python bench/sip_answer_server.py --host 127.0.0.1 --port 5070
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

from carrier.sip.endpoint import EndpointConfig, SipCall, SipEndpoint
from carrier.sip.events import CallEnded, ReInviteReceived, UpdateReceived
from carrier.sip.sdp import LocalMedia, SdpError, build_answer, parse_sdp

_versions = itertools.count(1)


def make_handler(host: str, rtp_port: int = 39990):  # type: ignore[no-untyped-def]
    media = LocalMedia(host, rtp_port, srtp="off")

    async def answer(call: SipCall) -> None:
        try:
            sdp, _ = build_answer(parse_sdp(call.request.body), media, session_id=1,
                                  version=next(_versions))  # fmt: skip
        except SdpError as err:
            call.reject(err.status_code)
            return
        call.ring()
        call.answer(sdp.serialize())
        while True:
            event = await call.wait_for((ReInviteReceived, UpdateReceived, CallEnded), timeout=3600)
            if isinstance(event, CallEnded):
                return
            try:
                reply, _ = build_answer(parse_sdp(event.request.body), media, session_id=1,
                                        version=next(_versions))  # fmt: skip
            except SdpError as err:
                call.respond(event.key, err.status_code)
                continue
            call.respond(event.key, 200, sdp=reply.serialize())

    return answer


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5070)
    args = parser.parse_args()
    config = EndpointConfig(udp=(args.host, args.port), tcp=(args.host, args.port), tls=None)
    async with SipEndpoint(config, on_call=make_handler(args.host)):
        print(f"listening on {args.host}:{args.port} (UDP, TCP)", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
