"""The cross-field checks of :mod:`carrier.settings` (SIP ports and TLS, speech timings,
data residency, phone numbers).

Each raises :class:`carrier.errors.ConfigError` naming the file, the dotted key and why.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import typing
from pathlib import Path
from urllib.parse import urlsplit

from carrier.errors import ConfigError

if typing.TYPE_CHECKING:
    from carrier.settings import ConsoleSettings, Settings, SipSettings, SpeechSettings

# A region tag every external endpoint must carry. "local" is reserved for
# endpoints on this machine (loopback); anything else must match the allow-list.
LOCAL_REGION = "local"
# E.164: +, a country code (never 0), at most 15 digits in all (ITU-T E.164 section 6).
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _check_sip_times(sip: SipSettings, file: str) -> None:
    """The lengths of time under ``sip``: each against its floor (``not x >= floor`` also
    refuses NaN)."""
    floors = (("drain_timeout_s", 0, "must be 0 or a number of seconds"),
              ("drain_retry_after_s", 0, "must be 0 or more seconds"),
              ("max_inbound_call_s", 60, "must be at least 60 seconds"),
              ("session_expires_s", 90, "must be at least 90 (RFC 4028 Min-SE)"))
    for name, floor, reason in floors:
        if not getattr(sip, name) >= floor:
            raise ConfigError(file, f"sip.{name}", reason)


def check_sip(sip: SipSettings, file: str) -> None:
    for name in ("udp_port", "tcp_port", "tls_port", "rtp_port_min", "rtp_port_max"):
        port = getattr(sip, name)
        if port is not None and not 0 <= port <= 65535:
            raise ConfigError(file, f"sip.{name}", f"port {port} is out of range")
    if sip.rtp_port_min % 2:
        raise ConfigError(file, "sip.rtp_port_min",
                          "must be even (RTP on even ports, RTCP on the next one)")
    if sip.rtp_port_min < 1024:
        raise ConfigError(file, "sip.rtp_port_min", "must be 1024 or above")
    if sip.rtp_port_max - sip.rtp_port_min < 1:
        raise ConfigError(file, "sip.rtp_port_min",
                          "must leave room below sip.rtp_port_max for an RTP/RTCP pair")
    if sip.max_concurrent_calls < 1:
        raise ConfigError(file, "sip.max_concurrent_calls", "must be at least 1")
    if not sip.max_calls_per_second > 0:
        raise ConfigError(file, "sip.max_calls_per_second",
                          "must be above 0 (new calls per second the gateway accepts)")
    _check_sip_times(sip, file)
    if sip.tls_port is not None and (sip.tls_cert is None) != (sip.tls_key is None):
        raise ConfigError(file, "sip.tls_cert" if sip.tls_cert is None else "sip.tls_key",
                          "sip.tls_cert and sip.tls_key are set together")
    if sip.tls_port is not None and sip.tls_cert is None and not is_local(sip.bind_host):
        raise ConfigError(file, "sip.tls_cert",
                          "TLS on a non-loopback bind_host needs a certificate: set "
                          "sip.tls_cert and sip.tls_key, or sip.tls_port: null for no TLS")


def check_speech(sp: SpeechSettings, file: str) -> None:
    if not 0 <= sp.vad_aggressiveness <= 3:
        raise ConfigError(file, "speech.vad_aggressiveness", "must be 0..3")
    if sp.stt_workers < 1:
        raise ConfigError(file, "speech.stt_workers", "must be at least 1")
    # The endpointer counts silence in 20 ms frames.
    for name in ("hangover_ms", "complete_hangover_ms", "incomplete_hangover_ms"):
        value = getattr(sp, name)
        if value < 20 or value % 20:
            raise ConfigError(file, f"speech.{name}", "must be a positive multiple of 20 ms")
    if sp.complete_floor_ms < 0 or sp.complete_floor_ms % 20:
        raise ConfigError(file, "speech.complete_floor_ms", "must be a multiple of 20 ms")
    if sp.min_speech_ms < 0:
        raise ConfigError(file, "speech.min_speech_ms", "must be 0 or more ms")
    # A turn runs up to 3 s past the limit waiting for a pause (agent.speech.endpoint), and
    # the recogniser hears at most 30 s at once: a longer turn lost its end unheard.
    if sp.max_utterance_ms % 20 or not sp.min_speech_ms < sp.max_utterance_ms <= 25_000:
        raise ConfigError(file, "speech.max_utterance_ms",
                          "must be a multiple of 20 ms, above speech.min_speech_ms and at most "
                          "25000 (a turn may run 3 s past it to end in a pause, and speech "
                          "recognition hears at most 30 s at once)")


def _host(url: str, file: str, key: str) -> str:
    """The URL's host; a URL urllib cannot split is refused (the URL itself is never shown:
    it may hold a password)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError as exc:
        raise ConfigError(file, key, f"not a URL ({exc}); percent-encode [ ] @ : / in a"
                          " user name or password") from None


def check_residency(s: Settings, src: typing.Callable[[str], str]) -> None:
    """Refuse any external endpoint whose region is outside the allow-list."""
    endpoints: list[tuple[str, str, str, str]] = []  # (file, key, host, region)
    if s.database.url:
        host = _host(s.database.url, src("database"), "database.url") or "localhost"
        endpoints.append((src("database"), "database.region", host, s.database.region))
    for i, t in enumerate(s.trunks):
        endpoints.append((src("trunks"), f"trunks[{i}].region", t.host, t.region))
    if s.stir.x5u:
        host = _host(s.stir.x5u, src("stir"), "stir.x5u")
        endpoints.append((src("stir"), "stir.certificate_repository_region", host,
                          s.stir.certificate_repository_region))
    for file, key, host, region in endpoints:
        if region == LOCAL_REGION:
            if not is_local(host):
                raise ConfigError(file, key, "region 'local' is only for endpoints on this "
                                  "machine, but the host is not a loopback address")
            continue
        if not any(fnmatch.fnmatchcase(region, pat) for pat in s.residency.allowed_regions):
            raise ConfigError(file, key, f"region {region!r} is outside the allowed regions "
                              f"({', '.join(s.residency.allowed_regions)})")


def is_local(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_e164(number: str) -> bool:
    return E164.match(number) is not None


def check_numbers(s: Settings, src: typing.Callable[[str], str]) -> None:
    """Every phone-number setting is an E.164 string. YAML (a file or a ``CARRIER_*``
    variable) reads an unquoted ``+15550100100`` as the integer 15550100100: before, the
    loader took it as the text ``15550100100`` and the stack ran with a caller id, a DID
    or an own number no peer would match."""
    numbers = [("dialer", "dialer.caller_id", s.dialer.caller_id)]
    numbers += [("dialer", f"dialer.operator_test_numbers[{i}]", n)
                for i, n in enumerate(s.dialer.operator_test_numbers)]
    numbers += [("stir", f"stir.{name}[{i}]", n)
                for name in ("own_numbers", "customer_numbers")
                for i, n in enumerate(getattr(s.stir, name))]
    numbers += [("stir", f"stir.rcd_names[{n!r}]", n) for n in s.stir.rcd_names]
    numbers += [("trunks", f"trunks[{i}].numbers[{j}]", n)
                for i, t in enumerate(s.trunks) for j, n in enumerate(t.numbers)]
    numbers += [("sms", f"sms.{name}", getattr(s.sms, name))
                for name in ("from_number", "help_number")]
    for section, key, number in numbers:
        if not _is_e164(number):
            hint = (f"; YAML read an unquoted +{number} as a number (the + is lost): quote it"
                    if number.isascii() and number.isdigit() else "")
            raise ConfigError(src(section), key, "must be an E.164 number (+, a country code"
                              f" that is not 0, 7 to 15 digits in all){hint}")


def check_caller_id(s: Settings, src: typing.Callable[[str], str]) -> None:
    """The dialer's caller ID is a number the clinic owns: one its trunk (or a trunk of
    that trunk's failover chain) delivers, and, when calls are signed, one of
    ``stir.own_numbers`` (attestation A; any other is signed C, labelled as likely spam)."""
    if not (s.dialer.enabled and s.trunks):
        return
    by_name = {t.name: t for t in s.trunks}
    chain: list[str] = []
    name: str | None = s.dialer.trunk
    while name is not None and name in by_name and name not in chain:
        chain.append(name)
        name = by_name[name].failover
    if not any(s.dialer.caller_id in by_name[n].numbers for n in chain):
        raise ConfigError(src("dialer"), "dialer.caller_id",
                          f"is no number of trunk {' or '.join(map(repr, chain))} "
                          "(trunks[*].numbers): calls would show a number the clinic does "
                          "not own")
    if s.stir.enabled and s.dialer.caller_id not in s.stir.own_numbers:
        raise ConfigError(src("stir"), "stir.own_numbers",
                          "does not list dialer.caller_id: its calls would be signed "
                          "attestation C (not our number) instead of A")


def check_console(c: ConsoleSettings, file: str) -> None:
    if not 0 <= c.port <= 65535:
        raise ConfigError(file, "console.port", f"port {c.port} is out of range")
    for name in ("idle_timeout_s", "lockout_s"):  # 0 would log off at once / never lock
        if not getattr(c, name) > 0:
            raise ConfigError(file, f"console.{name}", "must be a positive number of seconds")
    if c.phi_lookups_per_hour < 1:  # its upper bound: carrier.settings_limits
        raise ConfigError(file, "console.phi_lookups_per_hour", "must be at least 1")
    if c.lockout_failures < 1:
        raise ConfigError(file, "console.lockout_failures", "must be at least 1")
    if c.max_sessions_per_operator < 1:  # its upper bound: carrier.settings_limits
        raise ConfigError(file, "console.max_sessions_per_operator", "must be at least 1")
    if bool(c.cert_file) != bool(c.key_file):
        raise ConfigError(file, "console.cert_file",
                          "cert_file and key_file are set together or not at all")
    check_proxies(file, "console.trusted_proxies", c.trusted_proxies)


def check_proxies(file: str, key: str, proxies: typing.Iterable[str]) -> None:
    """Trusted proxies are addresses or networks: a name or '*' would trust anyone."""
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(file, key, "each must be an IP address or network"
                              " (no names, no '*')") from None


def _check_offsets(file: str, offsets: typing.Sequence[float]) -> None:
    key = "dialer.reminder_offsets_h"
    if any(not h > 0 for h in offsets):
        raise ConfigError(file, key, "every offset must be above 0 hours (before the appointment)")
    if any(h > 8760 for h in offsets):  # 1e9 h loaded, then overflowed the dialer's plan
        raise ConfigError(file, key, "every offset must be at most 8760 hours (a year) before")
    if len(set(offsets)) != len(offsets):
        raise ConfigError(file, key, "an offset is listed twice")


def check_sections(s: Settings, src: typing.Callable[[str], str]) -> None:
    """``data_dir``, the database pool, the dialer's timings and the transfer queues: values
    that load as numbers or text but that the code acting on them cannot honour."""
    if not s.data_dir.strip():
        raise ConfigError(src("data_dir"), "data_dir",
                          "is empty (the folder of the database, keys and spool)")
    db, file = s.database, src("database")
    if db.pool_min < 0:
        raise ConfigError(file, "database.pool_min", "must be 0 or more")
    if db.pool_max < 1:
        raise ConfigError(file, "database.pool_max", "must be at least 1")
    if db.pool_max < db.pool_min:
        raise ConfigError(file, "database.pool_max",
                          f"{db.pool_max} is below database.pool_min ({db.pool_min})")
    if not db.command_timeout_s > 0:
        raise ConfigError(file, "database.command_timeout_s",
                          "must be a positive number of seconds")
    d, file = s.dialer, src("dialer")
    _check_offsets(file, d.reminder_offsets_h)
    if d.no_show_delay_min < 0:
        raise ConfigError(file, "dialer.no_show_delay_min", "must be 0 or more minutes")
    if d.retry_delay_min < 1:
        raise ConfigError(file, "dialer.retry_delay_min", "must be at least 1 minute")
    if d.max_attempts < 1:
        raise ConfigError(file, "dialer.max_attempts", "must be at least 1")
    queues = [("agent.human_queue", s.agent.human_queue)]
    queues += [(f"agent.queues.{name}", uri) for name, uri in s.agent.queues.items()]
    for key, uri in queues:
        if not re.fullmatch(r"sips?:[^\s@]+@[^\s@]+", uri):
            raise ConfigError(src("agent"), key,
                              f"{uri!r} is not a SIP URI (sip:user@host[:port])")


def main_file_missing(main_file: Path) -> ConfigError:
    """``carrier.yaml`` is not in the config folder; names a near miss (``carrier.yml``,
    ``Carrier.yaml``) that is, since that file is never read."""
    near = sorted(p.name for p in main_file.parent.iterdir()
                  if p.name != main_file.name and p.name.lower().startswith("carrier.")
                  and p.suffix.lower() in (".yml", ".yaml"))
    hint = f" ({', '.join(near)} is not read: rename it)" if near else (
        " (an empty file stands for every default)")
    return ConfigError(str(main_file), "-", f"not found{hint}")
