"""The ``sms`` settings section and its checks (loaded by :mod:`carrier.settings`).

The sending number must be one of a trunk's numbers whose trunk names its 10DLC campaign
(``trunks[].campaign_id``); the reminder template may name only the minimum necessary and
fits 160 characters at its longest and says STOP (:mod:`carrier.sms.compliance`), in
English and in Spanish (``reminder_templates``: both, by language, for the application).
"""

from __future__ import annotations

import fnmatch
import typing
from dataclasses import dataclass
from typing import Literal

from carrier.errors import ConfigError
from carrier.settings_checks import LOCAL_REGION, is_local
from carrier.sms.compliance import check_campaign_id, check_reminder_template

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from carrier.settings import Settings

DEFAULT_REMINDER = ("{clinic}: reminder of your appointment {day} at {time}. Reply C to "
                    "confirm, R to reschedule, X to cancel. STOP to opt out")
# For a patient who prefers Spanish: {day} "martes 10 de marzo", {time} "a las 2:30 pm".
# 121 characters at the longest without the clinic (the English one 133), so the shipped
# 25-character brand fits 160.
DEFAULT_REMINDER_ES = ("{clinic}: cita el {day} {time}. Responda C confirmar, R cambiar, "
                       "X cancelar. STOP para darse de baja")


@dataclass(frozen=True)
class SmsSettings:
    enabled: bool = False
    """Send and receive texts (``carrier sms``, reminders by text)."""
    transport: Literal["smpp", "sip"] = "smpp"
    """``smpp``: through the SMSC below. ``sip``: by SIP MESSAGE (RFC 3428) on the trunk
    whose ``numbers`` hold ``from_number`` (``carrier serve`` only): texts go to that
    trunk's host, and MESSAGE from the trunks reaches the same service (else 405)."""
    smsc_host: str = "127.0.0.1"
    smsc_port: int = 2775
    smsc_region: str = LOCAL_REGION
    """Residency region of the SMSC (checked like the trunks')."""
    system_id: str = "carrier"
    password_env: str = "CARRIER_SMPP_PASSWORD"  # noqa: S105 - the name of a variable, not a password
    """Environment variable holding the SMPP bind password (never in YAML)."""
    from_number: str = "+15550100100"
    """Our sending number: one of a trunk's ``numbers``, on a trunk with a ``campaign_id``."""
    rate_per_s: float = 10.0
    """Most submit_sm (message parts) per second to the SMSC (the upstream's throughput)."""
    enquire_link_s: float = 30.0
    """Seconds between enquire_link keepalives on an idle bind."""
    brand: str = "Demo Clinic"
    """Program name in the STOP/START/HELP replies (the reminders' ``{clinic}`` is the
    application's clinic name, checked against the 160 characters when it starts)."""
    help_number: str = "+15550100100"
    """Contact given in the HELP reply."""
    reminder_template: str = DEFAULT_REMINDER
    """Reminder text: only ``{clinic}``, ``{day}``, ``{time}``; 160 characters at most;
    says STOP (the opt-out the carriers read)."""
    reminder_template_es: str = DEFAULT_REMINDER_ES
    """The reminder text for a patient who prefers Spanish, under the same rules; ``{day}``
    is said "martes 10 de marzo" and ``{time}`` "a las 2:30 pm"."""
    reminders_by_text_h: tuple[float, ...] = ()
    """Reminder offsets (hours, each one of ``dialer.reminder_offsets_h``) sent by text
    instead of a call, by the dialer's own loop: e.g. ``[72]`` texts the 72 h reminder and
    calls at 24 h and 2 h unless the patient confirmed by text. The text passes the same
    gate as a call (channel ``sms``), one cap across channels."""
    stop_revokes: Literal["all", "sms"] = "all"
    """``all``: a STOP by text revokes consent on every channel (47 CFR 64.1200(a)(10),
    revoke-all); ``sms``: texts only."""


def reminder_templates(sms: SmsSettings) -> dict[str, str]:
    """The reminder texts by language (ISO 639-1), as ``TextApplication.texts`` takes them."""
    return {"en": sms.reminder_template, "es": sms.reminder_template_es}


def check_sms(s: Settings, src: Callable[[str], str]) -> None:
    sms = s.sms
    file = src("sms")
    if not sms.rate_per_s > 0:
        raise ConfigError(file, "sms.rate_per_s", "must be above 0 (message parts per second)")
    if not sms.enquire_link_s > 0:
        raise ConfigError(file, "sms.enquire_link_s", "must be above 0 seconds")
    if not 0 < sms.smsc_port <= 65535:
        raise ConfigError(file, "sms.smsc_port", f"port {sms.smsc_port} is out of range")
    if sms.smsc_region == LOCAL_REGION and not is_local(sms.smsc_host):
        raise ConfigError(file, "sms.smsc_region", "region 'local' is only for endpoints on "
                          "this machine, but the SMSC host is not a loopback address")
    if sms.smsc_region != LOCAL_REGION and not any(
            fnmatch.fnmatchcase(sms.smsc_region, p) for p in s.residency.allowed_regions):
        raise ConfigError(file, "sms.smsc_region",
                          f"region {sms.smsc_region!r} is outside the allowed regions")
    _check_templates(sms, file)
    _check_texted_offsets(s, file)
    for i, trunk in enumerate(s.trunks):
        if trunk.campaign_id is not None:
            try:
                check_campaign_id(trunk.campaign_id)
            except ValueError as exc:
                raise ConfigError(src("trunks"), f"trunks[{i}].campaign_id", str(exc)) from None
    if not sms.enabled:
        return
    owner = next((t for t in s.trunks if sms.from_number in t.numbers), None)
    if owner is None:
        raise ConfigError(file, "sms.from_number", "is not one of any trunk's numbers")
    if owner.campaign_id is None:
        raise ConfigError(file, "sms.from_number",
                          f"trunk {owner.name!r} names no 10DLC campaign_id for this number")


def _check_templates(sms: SmsSettings, file: str, clinic: str = "") -> None:
    """Fields and STOP; the length with ``clinic`` as ``{clinic}`` (here, where the clinic's
    name is not known, none: the application checks it with the name it fills in,
    :func:`check_reminders_for_clinic`). ``sms.brand`` is not in the reminders."""
    for key, language in (("reminder_template", "en"), ("reminder_template_es", "es")):
        try:
            check_reminder_template(getattr(sms, key), clinic, language=language)
        except ValueError as exc:
            said = f"with the clinic's name {clinic!r}: {exc}" if clinic else str(exc)
            raise ConfigError(file, f"sms.{key}", said) from None


def check_reminders_for_clinic(sms: SmsSettings, clinic: str, file: str) -> None:
    """The reminder texts at their longest with the clinic's name the application fills in
    as ``{clinic}`` (``file``: where that name comes from), when texts are on: a name that
    makes them longer than 160 characters is refused at start, not at every send."""
    if sms.enabled:
        _check_templates(sms, file, clinic)


def _check_texted_offsets(s: Settings, file: str) -> None:
    for h in s.sms.reminders_by_text_h:
        if h not in s.dialer.reminder_offsets_h:
            raise ConfigError(file, "sms.reminders_by_text_h",
                              f"{h:g} h is not one of dialer.reminder_offsets_h")
