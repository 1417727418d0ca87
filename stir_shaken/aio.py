"""The asyncio edge of verification: fetch what the pure verifier needs, then verify."""

from __future__ import annotations

from collections.abc import Sequence

from stir_shaken.errors import StirError
from stir_shaken.identity import Identity, parse_headers
from stir_shaken.verifier import Verification, Verifier
from stir_shaken.x5u_fetch import X5uFetcher


async def verify_fetching(verifier: Verifier, fetcher: X5uFetcher,
                          identities: Sequence[Identity | str], from_tn: str, to_tn: str, *,
                          now: float, date: int | None = None) -> Verification:
    """Fetch every x5u not yet cached (concurrently, bounded by the fetcher's timeout),
    then run the pure verifier. ``fetcher.cache`` must be ``verifier.cache``."""
    if fetcher.cache is not verifier.cache:
        raise ValueError("fetcher and verifier must share one CertCache")
    try:
        parsed = [i for i in identities if isinstance(i, Identity)]
        parsed += parse_headers([i for i in identities if isinstance(i, str)])
    except StirError as exc:
        return Verification.failed(exc)
    await fetcher.ensure([i.info for i in parsed], now)
    return verifier.verify(parsed, from_tn, to_tn, now, date=date)
