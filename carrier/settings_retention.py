"""The ``retention`` section's lower bounds: what the law asks to be kept, refused at start.

* ``audit_days``, ``consent_days``: six years (HIPAA 45 CFR 164.316(b)(2): documentation
  kept six years). Six calendar years hold at least one leap day, hence 2192 days.
* ``dial_evidence_days`` (the dialer's decisions and outreach rows, the application's past
  appointments) and ``call_record_days`` (call records and call detail records): four years,
  the limitation period of a TCPA claim (28 U.S.C. 1658(a)); four calendar years hold at
  least one leap day, hence 1461 days. Both default to six years, as the audit entries the
  rows point at (``gate_ref``, ``consent_ref``) are kept.
* Evidence may not outlive what it points at: dial evidence and call records at most as long
  as the audit chain and the consent ledger; transcripts and recordings (which hang off a
  call record) at most as long as call records.
* ``transcript_days``, ``recording_days``, ``slot_days``: at least one day (0 would purge
  everything).
"""

from __future__ import annotations

import typing

from carrier.errors import ConfigError

if typing.TYPE_CHECKING:
    from carrier.settings import Settings

SIX_YEARS_DAYS = 6 * 365 + 2  # six calendar years always include at least one leap day
FOUR_YEARS_DAYS = 4 * 365 + 1  # four calendar years always include one

# key -> (least days, why), as an operator reads it
MINIMUM: dict[str, tuple[int, str]] = {
    "audit_days": (SIX_YEARS_DAYS, "six years: HIPAA documentation, 45 CFR 164.316(b)(2)"),
    "consent_days": (SIX_YEARS_DAYS, "six years: HIPAA documentation, 45 CFR 164.316(b)(2)"),
    "dial_evidence_days": (FOUR_YEARS_DAYS, "four years: the limitation period of a TCPA"
                                            " claim, 28 U.S.C. 1658(a)"),
    "call_record_days": (FOUR_YEARS_DAYS, "four years: the limitation period of a TCPA"
                                          " claim, 28 U.S.C. 1658(a)"),
    "transcript_days": (1, ""),
    "recording_days": (1, ""),
    "slot_days": (1, ""),
}


def too_short(name: str, days: int) -> str | None:
    """Why ``days`` is below the least the law (or sense) allows for ``name``, else None."""
    least, why = MINIMUM[name]
    if days >= least:
        return None
    if not why:
        return "must be at least 1 day (0 would purge everything at once)"
    return (f"{days} days is shorter than the legal minimum of {least} days ({why});"
            " it must be at least that")


# (shorter, longer): `shorter` must not exceed `longer`, and why
ORDER = (
    ("dial_evidence_days", "audit_days", "the dialer's rows point at its audit entries"),
    ("dial_evidence_days", "consent_days", "the dialer's rows rest on consent entries"),
    ("call_record_days", "audit_days", "call detail records point at audit entries (gate_ref)"),
    ("call_record_days", "consent_days",
     "call detail records point at consent entries (consent_ref)"),
    ("transcript_days", "call_record_days", "a transcript goes with its call record"),
    ("recording_days", "call_record_days", "a recording belongs to its call record"),
)


def check_retention(s: Settings, src: typing.Callable[[str], str]) -> None:
    """Refuse a period below its legal minimum, or one that outlives what it points at."""
    r, file = s.retention, src("retention")
    for name in MINIMUM:
        reason = too_short(name, getattr(r, name))
        if reason:
            raise ConfigError(file, f"retention.{name}", reason)
    for shorter, longer, why in ORDER:
        if getattr(r, shorter) > getattr(r, longer):
            raise ConfigError(
                file, f"retention.{shorter}",
                f"{getattr(r, shorter)} days is longer than retention.{longer}"
                f" ({getattr(r, longer)}): {why} and cannot be kept longer than it;"
                f" shorten this or lengthen retention.{longer}")
