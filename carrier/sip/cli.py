"""`carrier call TO --trunk NAME [--from NUMBER]`: one test call through a trunk.

Places the INVITE (digest credentials from the trunk's password variable), plays a
one-second 440 Hz tone, prints the SIP outcome and the media statistics, hangs up,
and exits non-zero when the call did not connect.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets

import numpy as np

from carrier.errors import OperatorError
from carrier.settings import TrunkSettings, load_settings
from carrier.sip.digest import Credentials
from carrier.sip.endpoint import CallFailedError, EndpointConfig, SipEndpoint
from carrier.sip.events import CallEnded
from carrier.sip.sdp import LocalMedia, SdpError, accept_answer, build_offer, parse_sdp
from media.session import MediaSession

TONE_SECONDS = 1.0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("call", help="place a test call through a trunk")
    parser.add_argument("to", help="number or SIP URI to call")
    parser.add_argument("--trunk", required=True, help="trunk name from trunks.yaml")
    parser.add_argument("--from", dest="from_number", default=None, help="calling number")
    parser.add_argument("--config", default=None, help="config folder")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for answer")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    trunk = settings.trunk(args.trunk)
    return asyncio.run(place_call(trunk, args.to, args.from_number, settings.sip.bind_host,
                                  timeout=args.timeout))  # fmt: skip


def tone(seconds: float, freq: float = 440.0) -> list[np.ndarray]:
    t = np.arange(int(16000 * seconds)) / 16000.0
    pcm = (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)
    return [pcm[i : i + 320] for i in range(0, len(pcm) - 319, 320)]


def _credentials(trunk: TrunkSettings) -> Credentials | None:
    if trunk.auth == "ip" or not trunk.username:
        return None
    password = os.environ.get(trunk.password_env or "", "")
    if not password:
        raise OperatorError(f"trunk {trunk.name}: password variable {trunk.password_env} is empty")
    return Credentials(trunk.username, password)


async def place_call(
    trunk: TrunkSettings,
    to: str,
    from_number: str | None,
    bind_host: str,
    *,
    timeout: float,  # noqa: ASYNC109 - house style: keyword timeout=
) -> int:
    transport = trunk.transport.upper()
    scheme = "sips" if transport == "TLS" else "sip"
    param = "" if transport == "UDP" else f";transport={trunk.transport}"
    proxy = f"{scheme}:{trunk.host}:{trunk.port}{param}"
    target = to if ":" in to else f"{scheme}:{to}@{trunk.host}:{trunk.port}{param}"
    config = EndpointConfig(udp=(bind_host, 0), tcp=(bind_host, 0), tls=None, tls_verify=False)
    if trunk.srtp == "required":
        # MediaSession takes its SRTP keys at construction, before the answer is known.
        raise OperatorError(f"trunk {trunk.name}: SRTP-only trunks are not supported by this test")
    async with SipEndpoint(config) as endpoint, MediaSession(local_addr=(bind_host, 0)) as media:
        local = LocalMedia(bind_host, media.local_addr[1], srtp="off")
        offer = build_offer(local, session_id=secrets.randbelow(2**31), version=1)
        call = endpoint.invite(target, sdp=offer.serialize(), from_user=from_number,
                               credentials=_credentials(trunk), proxy=proxy)  # fmt: skip
        try:
            answered = await call.wait_answer(timeout=timeout)
        except CallFailedError as err:
            print(f"call failed: {err.status} {err.reason}")
            return 1
        except TimeoutError:
            call.cancel()
            print("call failed: no answer")
            return 1
        try:
            negotiated = accept_answer(offer, parse_sdp(answered.response.body))
        except SdpError as err:
            call.hangup()
            print(f"call failed: bad SDP answer ({err.reason})")
            return 1
        media.update_remote((negotiated.remote_address, negotiated.remote_port))
        media.set_codec(negotiated.payload_type, negotiated.dtmf_payload_type)
        print(f"answered: {answered.response.status} {negotiated.codec}")
        await media.play(tone(TONE_SECONDS))
        call.hangup()
        with contextlib.suppress(TimeoutError):
            await call.wait_for(CallEnded, timeout=5)
        stats = media.stats()
        print(
            f"media: sent {stats.packets_sent} received {stats.packets_received} "
            f"lost {stats.packets_lost} jitter {stats.jitter_ms:.1f} ms"
        )
    return 0
