"""The request to resend after a 401/407 challenge (RFC 3261 22.2), pure."""

from __future__ import annotations

from carrier.sip.digest import Challenge, Credentials, DigestError, authorize
from carrier.sip.message import Request, Response


def authorized_retry(
    req: Request, resp: Response, credentials: Credentials, *, cnonce: str
) -> Request | None:
    """`req` again with the next CSeq and an Authorization / Proxy-Authorization for the
    challenge in `resp`; None when there is nothing to answer or the same nonce failed
    already (wrong credentials: retrying would loop)."""
    header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
    answer = "Authorization" if resp.status == 401 else "Proxy-Authorization"
    value = resp.get(header)
    if value is None:
        return None
    try:
        challenge = Challenge.parse(value)
    except DigestError:
        return None
    previous = req.get(answer)
    if previous is not None and challenge.nonce in previous and not challenge.stale:
        return None
    retry = req.copy()
    retry.set("CSeq", f"{req.cseq.seq + 1} {req.method}")
    try:
        retry.set(
            answer,
            authorize(challenge, credentials, method=req.method, uri=str(req.uri),
                      cnonce=cnonce, body=req.body),
        )  # fmt: skip
    except DigestError:
        return None
    return retry
