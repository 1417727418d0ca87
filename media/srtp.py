"""SDES-keyed SRTP/SRTCP (RFC 3711, keys from RFC 4568 ``inline:`` parameters) via pylibsrtp."""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

import pylibsrtp

SUITES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
KEY_LEN = 16
SALT_LEN = 14


class SrtpError(Exception):
    """A packet failed SRTP authentication or replay checks (it is dropped, not answered)."""


@dataclass(frozen=True, slots=True)
class SrtpKey:
    """One direction's master key and salt for a crypto suite."""

    suite: str
    master: bytes  # key || salt, 30 bytes

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise ValueError("unsupported SRTP crypto suite")
        if len(self.master) != KEY_LEN + SALT_LEN:
            raise ValueError("SRTP master key||salt must be 30 bytes")

    @classmethod
    def generate(cls, suite: str = "AES_CM_128_HMAC_SHA1_80") -> SrtpKey:
        return cls(suite, secrets.token_bytes(KEY_LEN + SALT_LEN))

    @classmethod
    def from_inline(cls, suite: str, key_params: str) -> SrtpKey:
        """Parse RFC 4568 key-params: ``inline:<base64>[|lifetime][|MKI:length]``.

        The lifetime is ignored (libsrtp enforces the 2^48 maximum); an MKI is refused
        because we never negotiate one.
        """
        if not key_params.startswith("inline:"):
            raise ValueError("SRTP key-params must use the inline method")
        parts = key_params[len("inline:") :].split("|")
        if len(parts) > 2 or (len(parts) == 2 and ":" in parts[1]):
            raise ValueError("SRTP key-params with an MKI are not supported")
        try:
            master = base64.b64decode(parts[0], validate=True)
        except binascii.Error as exc:
            raise ValueError("SRTP inline key is not valid base64") from exc
        return cls(suite, master)

    def to_inline(self) -> str:
        return "inline:" + base64.b64encode(self.master).decode("ascii")

    def crypto_attribute(self, tag: int = 1) -> str:
        """The SDP ``a=crypto`` value, e.g. ``1 AES_CM_128_HMAC_SHA1_80 inline:...``."""
        return f"{tag} {self.suite} {self.to_inline()}"


class SrtpContext:
    """Protects what we send with ``tx`` and checks what we receive with ``rx``."""

    def __init__(self, tx: SrtpKey, rx: SrtpKey) -> None:
        self._tx = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=tx.master,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                srtp_profile=SUITES[tx.suite],
            )
        )
        self._rx = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=rx.master,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                srtp_profile=SUITES[rx.suite],
            )
        )

    def protect(self, packet: bytes) -> bytes:
        return bytes(self._tx.protect(packet))

    def protect_rtcp(self, packet: bytes) -> bytes:
        return bytes(self._tx.protect_rtcp(packet))

    def unprotect(self, packet: bytes) -> bytes:
        try:
            return bytes(self._rx.unprotect(packet))
        except pylibsrtp.Error as exc:
            raise SrtpError("SRTP packet rejected") from exc

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        try:
            return bytes(self._rx.unprotect_rtcp(packet))
        except pylibsrtp.Error as exc:
            raise SrtpError("SRTCP packet rejected") from exc
