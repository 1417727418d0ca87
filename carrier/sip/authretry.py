"""The request to resend after a 401/407 challenge (RFC 3261 22.2), pure."""

from __future__ import annotations

from carrier.sip.digest import Challenge, Credentials, DigestError, authorize
from carrier.sip.message import Request, Response

MAX_CHALLENGES = 3  # e.g. a proxy's 407, the registrar's 401, then one stale nonce


def authorized_retry(
    req: Request, resp: Response, credentials: Credentials, *, cnonce: str
) -> Request | None:
    """`req` again with the next CSeq and an Authorization / Proxy-Authorization for the
    challenge in `resp`; None when there is nothing to answer, when our credentials were
    refused (a new challenge, not stale, to a request that carried them: RFC 3261 22.2,
    whatever nonce it brings), or after `MAX_CHALLENGES` answered challenges, so that a
    trunk that keeps challenging (stale or not) cannot make us send without end."""
    header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
    answer = "Authorization" if resp.status == 401 else "Proxy-Authorization"
    value = resp.get(header)
    if value is None:
        return None
    try:
        challenge = Challenge.parse(value)
    except DigestError:
        return None
    refused = req.get(answer) is not None and not challenge.stale
    if refused or req.challenges >= MAX_CHALLENGES:
        return None
    retry = req.copy()
    retry.challenges += 1
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
