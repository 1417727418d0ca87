"""Verification service (RFC 8224 section 6.2, ATIS-1000074 section 5.3).

Pure: certificates come from a ``CertCache`` that the asyncio fetcher filled
beforehand (see ``stir_shaken.x5u_fetch.X5uFetcher.ensure`` and
``stir_shaken.aio.verify_fetching``),
and ``now`` is passed in. Checks run cheapest first, so a flood of junk never
reaches the signature check: syntax, ``x5u`` == ``info``, required claims,
freshness, certificate and chain, signature, TN authority, and finally the match
with the SIP From/To (following a ``div`` PASSporT when the call was forwarded).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from stir_shaken import passport
from stir_shaken.certs import TrustStore
from stir_shaken.errors import (
    BadIdentityInfo,
    InvalidIdentityHeader,
    StaleDate,
    StirError,
    UnsupportedCredential,
    UseIdentityHeader,
    reason_header,
)
from stir_shaken.identity import Identity, parse_headers
from stir_shaken.jose import ES256
from stir_shaken.passport import PPT_DIV, PPT_RCD, PPT_SHAKEN, Passport
from stir_shaken.x5u import CertCache

VERSTAT_PASSED = "TN-Validation-Passed"
VERSTAT_FAILED = "TN-Validation-Failed"
VERSTAT_NONE = "No-TN-Validation"


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ABSENT = "absent"


_VERSTAT = {Status.PASSED: VERSTAT_PASSED, Status.FAILED: VERSTAT_FAILED,
            Status.ABSENT: VERSTAT_NONE}


@dataclass(frozen=True)
class Verification:
    """Outcome for one request. ``sip_code``/``reason`` are set when it failed (or
    when an Identity was required and absent)."""

    status: Status
    verstat: str
    sip_code: int | None = None
    reason: str | None = None
    detail: str = ""
    claims: Mapping[str, Any] | None = None
    attest: str | None = None
    origid: str | None = None
    diverted_from: str | None = None
    rcd: Mapping[str, Any] | None = None
    passports: tuple[Passport, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.status is Status.PASSED

    @property
    def reason_header(self) -> str | None:
        """``Reason: STIR`` value (RFC 9410) to carry a failure onward, or None."""
        if self.sip_code is None or self.reason is None:
            return None
        return reason_header(self.sip_code, self.reason)

    @classmethod
    def failed(cls, error: StirError) -> Verification:
        return cls(Status.FAILED, VERSTAT_FAILED, error.code, error.text, error.detail)


class Verifier:
    """``freshness`` is how old an ``iat`` may be (seconds); ``skew`` how far in the
    future; ``require_identity`` turns an absent Identity into 428."""

    def __init__(self, trust: TrustStore, cache: CertCache, *, freshness: float = 60.0,
                 skew: float = 5.0, require_identity: bool = False) -> None:
        self.trust = trust
        self.cache = cache
        self.freshness = freshness
        self.skew = skew
        self.require_identity = require_identity

    def verify(self, identities: Sequence[Identity | str], from_tn: str, to_tn: str,
               now: float, *, date: int | None = None) -> Verification:
        """Verify all Identity headers of a request against its From/To numbers.

        ``identities`` are parsed ``Identity`` values or raw header values; ``date``
        (the Date header, POSIX seconds) is needed only for compact-form tokens.
        """
        try:
            return self._verify(identities, from_tn, to_tn, now, date)
        except StirError as exc:
            return Verification.failed(exc)

    def _verify(self, identities: Sequence[Identity | str], from_tn: str, to_tn: str,
                now: float, date: int | None) -> Verification:
        parsed = _parse(identities)
        if not parsed:
            if self.require_identity:
                raise UseIdentityHeader("no Identity header")
            return Verification(Status.ABSENT, VERSTAT_NONE)
        orig_sip = _canon_or_none(from_tn)
        dest_sip = _canon_or_none(to_tn)
        primary: _Checked | None = None
        divs: list[_Checked] = []
        rcd: Mapping[str, Any] | None = None
        detail = ""
        checked: list[Passport] = []
        for ident in parsed:
            try:
                one = self._check_one(ident, orig_sip, dest_sip, now, date)
            except StirError as exc:
                if ident.ppt == PPT_RCD:
                    detail = f"rcd ignored: {exc.detail}"  # RFC 9795: no brand, call goes on
                    continue
                raise
            token = one.token
            checked.append(token)
            ppt = token.ppt
            if ppt == PPT_DIV:
                divs.append(one)
            elif ppt == PPT_RCD:
                rcd = rcd or token.claims["rcd"]
            elif primary is None:
                primary = one
        if primary is None:
            raise InvalidIdentityHeader("no shaken or basic PASSporT")
        diverted_from = _match_sip(primary, divs, orig_sip, dest_sip)
        claims = primary.token.claims
        return Verification(
            Status.PASSED, VERSTAT_PASSED, detail=detail, claims=claims,
            attest=claims.get("attest"), origid=claims.get("origid"),
            diverted_from=diverted_from, rcd=rcd, passports=tuple(checked),
        )

    def _check_one(self, ident: Identity, orig_sip: str | None, dest_sip: str | None,
                   now: float, date: int | None) -> _Checked:
        if ident.alg is not None and ident.alg != ES256:
            raise UnsupportedCredential("unsupported alg")
        if ident.token.startswith(".."):
            token = self._rebuild_compact(ident, orig_sip, dest_sip, date)
        else:
            token = passport.decode(ident.token, alphabet_checked=True)
        ppt = token.ppt
        if ppt != ident.ppt and not (ident.ppt is None and ppt == PPT_SHAKEN):
            # RFC 8224 section 4: ppt on the header must match the PASSporT's.
            raise InvalidIdentityHeader("ppt parameter does not match the PASSporT")
        if token.header.get("x5u") != ident.info:
            raise InvalidIdentityHeader("x5u does not equal info")
        orig, dests = passport.check_claims(token)
        iat = token.claims["iat"]
        if iat < now - self.freshness:
            raise StaleDate("iat too old")
        if iat > now + self.skew:
            raise StaleDate("iat in the future")
        entry = self.cache.get(ident.info, now)
        if entry is None or entry.chain is None:
            raise BadIdentityInfo(entry.error if entry else "certificate not fetched")
        cert = self.trust.check(entry.chain, now, key=entry.key)
        if not cert.verify(token.signature, token.signing_input):
            raise InvalidIdentityHeader("signature does not verify")
        self.trust.authorise(cert, orig)
        return _Checked(token, orig, dests)

    def _rebuild_compact(self, ident: Identity, orig_sip: str | None, dest_sip: str | None,
                         date: int | None) -> Passport:
        # RFC 8225 section 7: only the basic PASSporT can be rebuilt from SIP;
        # shaken/div/rcd claims (attest, origid, div, rcd) are not in the request.
        if ident.ppt is not None:
            raise InvalidIdentityHeader("compact form is not allowed for this ppt")
        if date is None or orig_sip is None or dest_sip is None:
            raise InvalidIdentityHeader("compact form needs Date, From and To")
        header = passport.make_header(ident.info, None)
        claims = passport.basic_claims(orig_sip, [dest_sip], date)
        return passport.reconstruct(ident.token, header, claims)


class _Checked(NamedTuple):
    token: Passport
    orig: str
    dests: list[str]


def _match_sip(primary: _Checked, divs: list[_Checked], orig_sip: str | None,
               dest_sip: str | None) -> str | None:
    """Check the asserted numbers against From/To; return the original called
    number when a ``div`` PASSporT explains a changed To."""
    if orig_sip is None or primary.orig != orig_sip:
        raise InvalidIdentityHeader("orig does not match From")
    if dest_sip in primary.dests:
        return None
    # RFC 8946 section 5: follow div PASSporTs from the original dest to To.
    reached = set(primary.dests)
    for _ in range(len(divs)):
        progressed = False
        for div in divs:
            if div.orig != orig_sip:
                continue
            if passport.canonical_tn(div.token.claims["div"]["tn"]) in reached:
                new = set(div.dests) - reached
                if new:
                    reached |= new
                    progressed = True
        if dest_sip in reached:
            return primary.dests[0]
        if not progressed:
            break
    raise InvalidIdentityHeader("dest does not match To")


def _parse(identities: Sequence[Identity | str]) -> list[Identity]:
    out: list[Identity] = []
    raw: list[str] = []
    for item in identities:
        if isinstance(item, Identity):
            out.append(item)
        else:
            raw.append(item)
    if raw:
        out.extend(parse_headers(raw))
    return out


def _canon_or_none(tn: str) -> str | None:
    try:
        return passport.canonical_tn(tn)
    except ValueError:
        return None


__all__ = ["PPT_SHAKEN", "Status", "Verification", "Verifier"]
