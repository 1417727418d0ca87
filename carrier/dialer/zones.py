"""The time zones a NANP number may ring in.

`phonenumbers` knows the zone of most exchanges (``+1 850 432``: Pensacola, Central). For
an exchange it does not know (a block assigned after its data, an overlay code newer
than it, the fictional 555) it falls back to a single zone for the whole area code, and
where the area code spans two zones that one zone is the wrong clock for part of it
(850's fallback is Eastern; 423's is Central, though Chattanooga keeps Eastern time).
So a number whose exchange is unknown gets every zone any exchange of its area code is
in, and an overlay code (``overlays.yaml``: 448 over 850) those of the code it overlays.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import phonenumbers
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

UNKNOWN_ZONE = "Etc/Unknown"


@functools.cache
def area_code_zones() -> Mapping[str, frozenset[str]]:
    """NPA -> every zone `phonenumbers` gives any prefix under it (the code's fallback
    and each exchange it knows)."""
    out: dict[str, set[str]] = {}
    for prefix, zones in TIMEZONE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            out.setdefault(prefix[1:4], set()).update(z for z in zones if z != UNKNOWN_ZONE)
    return {npa: frozenset(zones) for npa, zones in out.items()}


def exchange_known(parsed: phonenumbers.PhoneNumber) -> bool:
    """Whether `phonenumbers` has zone data finer than the area code for this number."""
    digits = f"{parsed.country_code}{phonenumbers.national_significant_number(parsed)}"
    longest = min(len(digits), TIMEZONE_LONGEST_PREFIX)
    return any(digits[:n] in TIMEZONE_DATA for n in range(5, longest + 1))


def number_zones(parsed: phonenumbers.PhoneNumber, overlays: Mapping[str, str],
                 state_zones: Mapping[str, tuple[str, ...]] = {},
                 state: str | None = None) -> list[str]:
    """The zone names the number may ring in (sorted); empty when none is known.
    ``state``: the area code's state, whose zones are the last resort (American Samoa's
    684 has no zone in `phonenumbers`)."""
    names = {n for n in pn_timezone.time_zones_for_number(parsed) if n != UNKNOWN_ZONE}
    if not exchange_known(parsed):
        npa = phonenumbers.national_significant_number(parsed)[:3]
        table = area_code_zones()
        names |= table.get(npa, frozenset()) | table.get(overlays.get(npa, ""), frozenset())
    if not names and state is not None:
        names = set(state_zones.get(state, ()))
    return sorted(names)
