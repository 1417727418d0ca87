"""STIR/SHAKEN failures, each carrying its SIP status code and Reason text.

Codes follow RFC 8224 section 13 and ATIS-1000074; the ``Reason`` header form is
RFC 9410: ``Reason: STIR ;cause=438 ;text="Invalid Identity Header"``.
Messages never contain telephone numbers or other call data.
"""

from __future__ import annotations


class StirError(Exception):
    """Base class; ``code`` is the SIP status a verifier answers with."""

    code: int = 438
    text: str = "Invalid Identity Header"

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        super().__init__(f"{self.code} {self.text}" + (f": {detail}" if detail else ""))

    def reason_header(self) -> str:
        """The RFC 9410 ``Reason`` header value carrying this failure."""
        return reason_header(self.code, self.text)


def reason_header(code: int, text: str) -> str:
    return f'STIR ;cause={code} ;text="{text}"'


class StaleDate(StirError):
    """``iat`` outside the freshness window (RFC 8224 section 6.2.3).

    A future ``iat`` beyond the allowed skew is also a freshness failure: the
    check compares ``iat`` with the verifier's clock in both directions, and
    RFC 8224 names only one response for it, 403 "Stale Date".
    """

    code = 403
    text = "Stale Date"


class UseIdentityHeader(StirError):
    """No Identity header although policy requires one (RFC 8224 section 6.2)."""

    code = 428
    text = "Use Identity Header"


class BadIdentityInfo(StirError):
    """The certificate at ``info``/``x5u`` could not be obtained (RFC 8224 section 6.2.2)."""

    code = 436
    text = "Bad Identity Info"


class UnsupportedCredential(StirError):
    """The credential is not acceptable: untrusted chain, expired or not yet valid
    certificate, unsupported algorithm (RFC 8224 section 6.2.2).

    An expired certificate was fetched (so not 436), but it no longer validates
    as a credential; ATIS-1000074 puts every certificate-validation failure in 437.
    """

    code = 437
    text = "Unsupported Credential"


class InvalidIdentityHeader(StirError):
    """Malformed token, bad signature, tampered or missing claims, ``x5u`` not
    equal to ``info``, or an ``orig`` the certificate's TNAuthList does not cover.

    The TNAuthList case is 438 rather than 437: the certificate itself is valid
    and trusted, it is the signed identity assertion that does not match what the
    credential authorises (RFC 8224 section 6.2.2 step for the identity/credential
    binding), so the Identity header is what is invalid.
    """

    code = 438
    text = "Invalid Identity Header"


class SigningError(Exception):
    """We could not build a PASSporT (bad key, bad input). Local fault, no SIP code."""
