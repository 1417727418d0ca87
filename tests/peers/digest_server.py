"""A tiny challenging SIP responder over UDP, to prove the peer answers digest challenges.

Only for the peer self-test: REGISTER gets 401 (WWW-Authenticate) and INVITE gets 407
(Proxy-Authenticate) until a request carries a valid RFC 2617 digest (MD5, qop=auth);
then REGISTER gets 200 and INVITE gets `invite_final` (486 by default). Not a SIP stack.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass, field

_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')


_HASHES = {"MD5": "md5", "SHA-256": "sha256"}


def _h(algorithm: str, text: str) -> str:
    return hashlib.new(_HASHES[algorithm], text.encode(), usedforsecurity=False).hexdigest()


def challenge_value(realm: str, nonce: str, algorithm: str = "MD5") -> str:
    """A WWW-Authenticate / Proxy-Authenticate value (RFC 7616 style, qop=auth)."""
    return f'Digest realm="{realm}", nonce="{nonce}", algorithm={algorithm}, qop="auth"'


def find_header(message: str, name: str) -> str | None:
    """The first value of header `name` in a raw SIP message (no compact forms)."""
    head = message.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
    for line in head:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def digest_ok(
    cred: str,
    method: str,
    realm: str,
    users: dict[str, str],
    nonces: set[str],
    algorithm: str = "MD5",
) -> bool:
    """Check an Authorization/Proxy-Authorization value (MD5 or SHA-256, qop=auth or none)."""
    if not cred.lower().startswith("digest "):
        return False
    p = {m[0].lower(): m[1] or m[2] for m in _PARAM.findall(cred[7:])}
    user = p.get("username", "")
    if p.get("realm") != realm or user not in users or p.get("nonce") not in nonces:
        return False
    if p.get("algorithm", "MD5").upper() != algorithm.upper():
        return False
    ha1 = _h(algorithm, f"{user}:{realm}:{users[user]}")
    ha2 = _h(algorithm, f"{method}:{p.get('uri', '')}")
    if p.get("qop") == "auth":
        tail = f"{p['nonce']}:{p.get('nc', '')}:{p.get('cnonce', '')}:auth:{ha2}"
    else:
        tail = f"{p['nonce']}:{ha2}"
    return secrets.compare_digest(_h(algorithm, f"{ha1}:{tail}"), p.get("response", ""))


@dataclass
class ChallengingServer(asyncio.DatagramProtocol):
    realm: str
    users: dict[str, str]
    invite_final: tuple[int, str] = (486, "Busy Here")
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, outcome)
    nonces: set[str] = field(default_factory=set)
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head = data.decode(errors="replace").split("\r\n\r\n", 1)[0].split("\r\n")
        method = head[0].split(" ", 1)[0]
        if method in ("ACK", "") or head[0].startswith("SIP/2.0"):
            return
        headers: dict[str, list[str]] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        auth_name, challenge_code, challenge_hdr = {
            "REGISTER": ("authorization", 401, "WWW-Authenticate"),
            "INVITE": ("proxy-authorization", 407, "Proxy-Authenticate"),
        }.get(method, ("", 0, ""))
        extra: list[str] = []
        if not auth_name:
            code, reason, outcome = 200, "OK", "ok"
        elif auth_name not in headers:
            nonce = secrets.token_hex(8)
            self.nonces.add(nonce)
            code, reason, outcome = challenge_code, "Unauthorized", "challenged"
            if challenge_code == 407:
                reason = "Proxy Authentication Required"
            extra.append(f"{challenge_hdr}: {challenge_value(self.realm, nonce)}")
        elif digest_ok(headers[auth_name][0], method, self.realm, self.users, self.nonces):
            outcome = "authorized"
            if method == "REGISTER":
                code, reason = 200, "OK"
                extra += [f"Contact: {c}" for c in headers.get("contact", [])]
                extra.append(f"Expires: {headers.get('expires', ['300'])[0]}")
            else:
                code, reason = self.invite_final
        else:
            code, reason, outcome = 403, "Forbidden", "bad credentials"
        self.seen.append((method, outcome))
        self._respond(headers, code, reason, extra, addr)

    def _respond(
        self,
        headers: dict[str, list[str]],
        code: int,
        reason: str,
        extra: list[str],
        addr: tuple[str, int],
    ) -> None:
        to = headers["to"][0]
        if ";tag=" not in to:
            to += ";tag=" + secrets.token_hex(4)
        lines = [f"SIP/2.0 {code} {reason}"]
        lines += [f"Via: {v}" for v in headers.get("via", [])]
        lines += [
            f"From: {headers['from'][0]}",
            f"To: {to}",
            f"Call-ID: {headers['call-id'][0]}",
            f"CSeq: {headers['cseq'][0]}",
        ]
        lines += [*extra, "Content-Length: 0", "", ""]
        assert self.transport is not None
        self.transport.sendto("\r\n".join(lines).encode(), addr)


async def start_challenging_server(
    realm: str, users: dict[str, str], invite_final: tuple[int, str] = (486, "Busy Here")
) -> tuple[asyncio.DatagramTransport, ChallengingServer]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: ChallengingServer(realm, users, invite_final), local_addr=("127.0.0.1", 0)
    )
    return transport, proto
