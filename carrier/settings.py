"""Typed settings, loaded from ``config/*.yaml`` with ``CARRIER_*`` environment overrides.

Every section is a frozen dataclass whose fields are documented where they are
declared. ``load_settings()`` reads ``carrier.yaml`` and ``trunks.yaml`` from the
config folder, applies environment overrides, converts each value to its
declared type and runs the validators. Any problem raises
:class:`carrier.errors.ConfigError` naming the file, the dotted key and the
reason, so start-up stops with one clear line instead of a traceback.

Environment overrides:

* ``CARRIER_DATABASE_URL`` -> ``database.url`` (empty means the embedded server)
* ``CARRIER_DATA_DIR`` -> ``data_dir``
* ``CARRIER_<SECTION>__<KEY>[__<KEY>...]`` -> any scalar, for example
  ``CARRIER_SIP__UDP_PORT=5070`` or ``CARRIER_SPEECH__STT_WORKERS=2``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from carrier import settings_checks as checks
from carrier.errors import ConfigError, UnknownName
from carrier.settings_checks import LOCAL_REGION, check_residency, check_sip, check_speech
from carrier.settings_env import apply_env
from carrier.settings_feeds import FeedsSettings, check_feeds
from carrier.settings_limits import check_limits
from carrier.settings_retention import check_retention
from carrier.sms.settings import SmsSettings, check_sms
from carrier.webchat.settings import WebchatSettings, check_webchat
from carrier.yaml_file import read_yaml


@dataclass(frozen=True)
class DatabaseSettings:
    url: str | None = None
    """PostgreSQL URL. None (the default) starts the embedded server in ``data_dir``."""
    region: str = LOCAL_REGION
    """Where the external database runs (for the residency check)."""
    pool_min: int = 2
    pool_max: int = 10
    command_timeout_s: float = 10.0
    """Longest the health ping of the database (``SELECT 1``) may take before the
    ``database`` check counts it as a failure."""


@dataclass(frozen=True)
class KeySettings:
    kek_file: str | None = None
    """Key-encryption key file (32 random bytes). Default: ``<data_dir>/keys/kek.bin``."""
    kek_env: str = "CARRIER_KEK"
    """Environment variable that may hold the KEK (base64); it wins over the file.
    Every command reads both (:func:`carrier.records.cli_context.kek_for`)."""
    audit_signing_key: str | None = None
    """Ed25519 key that signs audit exports and chain checkpoints (never in the database).
    Default: ``<data_dir>/keys/audit_signing.pem``, created on first use."""
    checkpoints_file: str | None = None
    """Signed chain heads, outside the database. Default ``<data_dir>/audit/checkpoints.jsonl``."""
    checkpoint_interval_s: float = 300.0
    """How often ``carrier serve`` signs the chain heads when they moved; 0 turns it off."""


@dataclass(frozen=True)
class SipSettings:
    bind_host: str = "127.0.0.1"
    udp_port: int = 5060
    tcp_port: int = 5060
    tls_port: int | None = 5061
    """TLS listener port; null listens without TLS."""
    tls_cert: str | None = None
    """PEM certificate for the TLS listener (with ``tls_key``). None on a loopback
    ``bind_host``: a self-signed one is made in ``<data_dir>/tls``; None elsewhere is
    refused at start (set both, or ``tls_port: null``)."""
    tls_key: str | None = None
    rtp_port_min: int = 20000
    """First RTP port (even: RTCP takes the port after each RTP port)."""
    rtp_port_max: int = 29999
    """Last port a call's RTP or RTCP may use."""
    max_concurrent_calls: int = 200
    max_calls_per_second: float = 50.0
    session_expires_s: int = 1800
    drain_timeout_s: float = 60.0
    """On SIGTERM new calls get 503; live calls have this long to end before the process does."""
    drain_retry_after_s: int = 30
    """``Retry-After`` on the 503 a draining node answers new calls with."""
    max_inbound_call_s: float = 3600.0
    """Length limit of an inbound call (outbound calls carry theirs in the DialRequest):
    the agent plans its closing within it and the carrier ends the call at it, keeping
    the record. Before it, an inbound call had none: a line left open on a noisy
    room held a call slot and a speech worker's time for ever."""

    @property
    def rtp_port_range(self) -> tuple[int, int]:
        """``(first, last + 1)``, the form ``media.transport`` takes."""
        return (self.rtp_port_min, self.rtp_port_max + 1)


@dataclass(frozen=True)
class TrunkSettings:
    name: str
    host: str
    region: str
    """Residency region of the carrier's SIP edge, e.g. ``us-east``."""
    port: int = 5060
    transport: Literal["udp", "tcp", "tls"] = "udp"
    auth: Literal["ip", "digest", "register"] = "ip"
    username: str | None = None
    password_env: str | None = None
    """Name of the environment variable holding the digest password (never in YAML)."""
    acl: tuple[str, ...] = ()
    """Source networks allowed to send INVITEs on this trunk (CIDR)."""
    numbers: tuple[str, ...] = ()
    """E.164 numbers (DIDs) this trunk delivers; inbound calls to them are routed."""
    max_concurrent_calls: int = 50
    calls_per_second: float = 5.0
    failover: str | None = None
    """Name of the trunk used when this one is down."""
    stir_inbound_policy: Literal["reject", "continue"] = "continue"
    srtp: Literal["off", "optional", "required"] = "off"
    options_keepalive_s: int = 30
    """Seconds between OPTIONS keepalives to the trunk (0: none). A trunk that does not
    answer is marked down and fails over until a probe brings it back."""
    register_expires_s: int = 3600
    """Expiry asked for in REGISTER (``auth: register``); refreshed at half the granted time."""
    campaign_id: str | None = None  # 10DLC campaign (TCR id) of the numbers' texts (sms)


@dataclass(frozen=True)
class StirSettings:
    enabled: bool = True
    key_file: str | None = None
    x5u: str | None = None
    """HTTPS URL where verifiers fetch our certificate."""
    certificate_repository_region: str = LOCAL_REGION
    trust_anchors: tuple[str, ...] = ()
    own_numbers: tuple[str, ...] = ()
    """Numbers the operator owns: calls from them are signed with attestation A."""
    customer_numbers: tuple[str, ...] = ()
    """Numbers of known customers that are not the operator's: attestation B."""
    freshness_s: int = 60
    max_skew_s: int = 5
    rcd_names: Mapping[str, str] = field(default_factory=dict)
    """Branded caller name per calling number (RFC 9795 ``rcd``)."""
    x5u_allowed_ports: tuple[int, ...] = (443, 8443)


@dataclass(frozen=True)
class SpeechSettings:
    stt_model_dir: str | None = None
    """Assembled Whisper model folder; default ``<data_dir>/models/whisper-base``."""
    stt_device: Literal["auto", "cpu", "cuda"] = "auto"
    stt_compute_type: Literal["default", "auto", "int8", "int8_float32", "int8_float16",
                              "int8_bfloat16", "int16", "float16", "bfloat16", "float32"] = "int8"
    stt_workers: int = 2
    stt_quick_model: Literal["tiny.en", "none"] = "tiny.en"
    """Answers the grammar judges go to Whisper tiny.en first; base when tiny is unsure."""
    tts_cache_dir: str | None = None
    vad: Literal["webrtc", "silero"] = "webrtc"
    """webrtcvad (``vad_aggressiveness`` is its) or Silero VAD (bench/vad_compare.py: 15x
    the CPU; its gaps at weak consonants split answers: "March fifth" as "March death")."""
    vad_aggressiveness: int = 2
    hangover_ms: int = 600
    """Silence that ends a turn; a complete answer (yes/no, a full date) ends sooner."""
    min_speech_ms: int = 200
    early_pause_ms: int = 100
    """A pause this long inside a turn starts an early transcription of what was said."""
    complete_hangover_ms: int = 400
    """Silence that ends a turn once its early transcript answers (grammar: intents only)."""
    turn_end: Literal["silence", "grammar"] = "grammar"
    """agent.speech.turn_end; grammar: unfinished answers wait ``incomplete_hangover_ms``."""
    incomplete_hangover_ms: int = 1300
    complete_floor_ms: int = 260
    """grammar: least silence a complete typed answer waits (raised past the caller's gaps)."""
    max_utterance_ms: int = 25000  # a turn this long is cut in a pause (Whisper hears 30 s)


@dataclass(frozen=True)
class DialerSettings:
    enabled: bool = True
    reminder_offsets_h: tuple[float, ...] = (72.0, 24.0, 2.0)
    no_show_delay_min: int = 5
    trunk: str = "demo"
    caller_id: str = "+15550100100"
    retry_delay_min: int = 60
    max_attempts: int = 3
    operator_test_numbers: tuple[str, ...] = ()
    """E.164 numbers an operator may call with ``carrier call`` without the compliance
    gate (test phones the operator owns); each such call is audited as ``operator_test``."""


@dataclass(frozen=True)
class RetentionSettings:
    """``carrier serve`` purges by these at start and daily (:mod:`carrier.upkeep`)."""

    audit_days: int = 6 * 366
    consent_days: int = 6 * 366
    transcript_days: int = 365
    recording_days: int = 30
    dial_evidence_days: int = 6 * 366
    """The dialer's decisions (``dialer_attempts``), its finished outreach rows and the
    application's past appointments: TCPA evidence, at least four years
    (:mod:`carrier.settings_retention`)."""
    call_record_days: int = 6 * 366
    """Call records and call detail records (billing and dialing evidence), at least four
    years; a call's transcript and recording go with it."""
    slot_days: int = 365
    """The application's calendar slots (provider ids with times, no patient) once ended
    this long ago; a slot an appointment still points at stays (with the appointment)."""


@dataclass(frozen=True)
class ResidencySettings:
    allowed_regions: tuple[str, ...] = ("us-*", LOCAL_REGION)
    """Glob patterns of regions where data may go. Default: US regions only."""


@dataclass(frozen=True)
class AgentSettings:
    application: str = "agent.runtime:application"
    """``module:attribute`` of the hosted application (``carrier.plugin.Application``):
    its call handler runs every answered call, its appointment source feeds the dialer."""
    demo_call: str = "demo.call:demo_call"
    """``module:function`` that ``carrier serve --demo-call`` runs (loaded only then)."""
    seed_demo: bool = True
    """Load the demo clinic of ``clinic_file`` (synthetic patients) into the records at start."""
    record_audio: bool = False
    """Keep call audio (encrypted at rest, covered by retention). Off by default."""
    human_queue: str = "sip:scheduling@127.0.0.1:5080"
    routes: Mapping[str, str] = field(default_factory=dict)
    """Dialled number -> workflow name for inbound calls."""
    queues: Mapping[str, str] = field(default_factory=dict)
    """Workflow transfer queue name (``scheduling``, ``front_desk``) -> SIP URI; a queue
    not listed goes to ``human_queue``."""


@dataclass(frozen=True)
class ConsoleSettings:
    bind_host: str = "127.0.0.1"
    """Address of the console port ``carrier serve`` opens: the operator console and its
    API (``/api/v1``), ``GET /health`` (``carrier health`` reads it) and ``GET /metrics``."""
    port: int = 8080
    tls: bool = True
    """HTTPS on the console port. Without ``cert_file``/``key_file`` a self-signed certificate
    for the bind address is made at first start under ``<data_dir>/console/tls/``."""
    cert_file: str | None = None
    """PEM certificate (chain) of the console; relative paths follow ``data_dir``."""
    key_file: str | None = None
    """PEM private key for ``cert_file``."""
    idle_timeout_s: float = 900.0
    """A session with no operator activity for this long is logged off (HIPAA automatic
    logoff); a page's own background polling does not count as activity."""
    lockout_failures: int = 5
    """Failed sign-ins in a row after which the account is locked for ``lockout_s``."""
    lockout_s: float = 900.0
    phi_lookups_per_hour: int = 120
    """Lookups by phone number (patients, and call records by number) one operator may
    make in an hour (API and pages, every console on the database); past it a lookup
    answers 429 and is audited (``carrier.console.lookups``)."""
    max_sessions_per_operator: int = 3
    """Sessions one operator may have open at once; a sign-in past it ends their oldest
    session (audited ``console.logout``), so a forgotten or stolen one does not linger."""
    trusted_proxies: tuple[str, ...] = ()
    """The console's TLS proxy (addresses or networks): only its X-Forwarded-For/-Proto are
    believed (per-address sign-in limit; Secure cookie when the browser spoke HTTPS)."""


@dataclass(frozen=True)
class LoggingSettings:
    format: Literal["auto", "json", "text"] = "auto"
    """One JSON object per line, or plain text; ``auto``: JSON unless stderr is a terminal."""
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True)
class HealthSettings:
    dialer_max_failures: int = 3
    """Failed dialer passes in a row after which the stack reports itself unhealthy."""


@dataclass(frozen=True)
class Settings:
    data_dir: str = "var"
    clinic_file: str = "clinic.yaml"
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    keys: KeySettings = field(default_factory=KeySettings)
    sip: SipSettings = field(default_factory=SipSettings)
    trunks: tuple[TrunkSettings, ...] = ()
    stir: StirSettings = field(default_factory=StirSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    dialer: DialerSettings = field(default_factory=DialerSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    residency: ResidencySettings = field(default_factory=ResidencySettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    webchat: WebchatSettings = field(default_factory=WebchatSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    feeds: FeedsSettings = field(default_factory=FeedsSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    config_dir: str = "config"
    """Where these settings were read from (set by the loader)."""

    def trunk(self, name: str) -> TrunkSettings:
        for trunk in self.trunks:
            if trunk.name == name:
                return trunk
        known = ", ".join(t.name for t in self.trunks) or "none"
        raise UnknownName(f"trunk {name!r} is not defined (trunks: {known})")

    def path(self, value: str | None, default: str) -> Path:
        """Resolve a path setting: relative paths are relative to ``data_dir``."""
        p = Path(value) if value else Path(default)
        return p if p.is_absolute() else Path(self.data_dir) / p


# --------------------------------------------------------------------------- loading


def default_config_dir() -> Path:
    return Path(os.environ.get("CARRIER_CONFIG_DIR", "config"))


def load_settings(config_dir: str | Path | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise ConfigError on the first problem."""
    env = os.environ if env is None else env
    cdir = Path(config_dir) if config_dir is not None else default_config_dir()
    main_file = cdir / "carrier.yaml"
    if not cdir.is_dir():
        raise ConfigError(str(cdir), "-", "config folder not found")
    if not main_file.exists():  # a folder without it is not the built-in defaults
        raise checks.main_file_missing(main_file)
    raw: dict[str, Any] = _read_yaml(main_file)
    sources: dict[str, str] = {k: str(main_file) for k in raw}
    trunks_file = cdir / "trunks.yaml"
    if trunks_file.exists():
        trunk_doc = _read_yaml(trunks_file)
        if "trunks" in raw:
            raise ConfigError(str(trunks_file), "trunks", "trunks are defined in carrier.yaml too")
        raw["trunks"] = trunk_doc.get("trunks", [])
        sources["trunks"] = str(trunks_file)
    files = dict(sources)  # the file each section came from, before the environment
    by_env = apply_env(raw, sources, env)
    raw["config_dir"] = str(cdir)
    try:
        settings: Settings = _convert(Settings, raw, "", sources, str(main_file))
        _validate(settings, sources, str(main_file))
    except ConfigError as exc:  # name the variable that set the key, or else the file
        section = exc.key.split(".", maxsplit=1)[0].split("[", maxsplit=1)[0]
        where = by_env.get(exc.key) or files.get(section, str(main_file))
        if not exc.file.startswith("$") and exc.key not in by_env:
            raise
        raise ConfigError(where, exc.key, exc.reason) from None
    return settings


def _read_yaml(path: Path) -> dict[str, Any]:
    doc = read_yaml(path, whole=None)  # not UTF-8, not YAML, a key given twice: refused, named
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(str(path), "-", "top level must be a mapping")
    return doc


def _convert(  # noqa: PLR0911, PLR0912 - one branch per supported annotation
    tp: Any, value: Any, key: str, sources: dict[str, str], default_file: str
) -> Any:
    """Convert a YAML value to the annotated type ``tp``; ``key`` is the dotted path."""
    file = sources.get(key.split(".", maxsplit=1)[0].split("[", maxsplit=1)[0], default_file)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def fail(reason: str) -> ConfigError:
        return ConfigError(file, key or "-", reason)

    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail(f"expected a mapping, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        for k in value:
            if k not in known:
                raise ConfigError(file, _join(key, str(k)), "unknown setting")
        kwargs = {}
        for f in dataclasses.fields(tp):
            sub = _join(key, f.name)
            if f.name in value:
                kwargs[f.name] = _convert(hints[f.name], value[f.name], sub, sources, default_file)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(file, sub, "required setting is missing")
        return typing.cast(Any, tp)(**kwargs)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _convert(non_none[0], value, key, sources, default_file)
    if origin is Literal:
        if value not in args:
            raise fail(f"must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin is tuple:
        items = [value] if isinstance(value, (str, int, float)) else value
        if not isinstance(items, list):
            raise fail("expected a list")
        return tuple(_convert(args[0], item, f"{key}[{i}]", sources, default_file)
                     for i, item in enumerate(items))
    if origin in (Mapping, dict) or tp is Mapping:
        if not isinstance(value, dict):
            raise fail("expected a mapping")
        return {str(k): _convert(args[1], v, _join(key, str(k)), sources, default_file)
                for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise fail(f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"expected a whole number, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise fail(f"expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise fail(f"expected text, got {type(value).__name__}")
        return str(value)
    raise fail(f"unsupported setting type {tp!r}")  # a programming error, named plainly


def _join(key: str, sub: str) -> str:
    return f"{key}.{sub}" if key else sub


# --------------------------------------------------------------------------- validation

def _validate(s: Settings, sources: dict[str, str], default_file: str) -> None:  # noqa: PLR0912 - one check per rule, each with its own message
    def src(section: str) -> str:
        return sources.get(section, default_file)

    check_limits(s, src)  # before the cross-field checks: an absurd number first
    check_sip(s.sip, src("sip"))
    check_speech(s.speech, src("speech"))
    check_webchat(s.webchat, src("webchat"))
    check_retention(s, src)  # legal minimums (HIPAA, TCPA) and what outlives what
    names = [t.name for t in s.trunks]
    for i, trunk in enumerate(s.trunks):
        key = f"trunks[{i}]"
        if names.count(trunk.name) > 1:
            raise ConfigError(src("trunks"), f"{key}.name", f"duplicate trunk name {trunk.name!r}")
        if trunk.failover is not None and trunk.failover not in names:
            raise ConfigError(src("trunks"), f"{key}.failover",
                              f"names unknown trunk {trunk.failover!r}")
        if trunk.max_concurrent_calls < 1:
            raise ConfigError(src("trunks"), f"{key}.max_concurrent_calls", "must be at least 1")
        if not trunk.calls_per_second > 0:
            raise ConfigError(src("trunks"), f"{key}.calls_per_second",
                              "must be above 0 (calls per second the trunk may start)")
        if trunk.options_keepalive_s < 0:
            raise ConfigError(src("trunks"), f"{key}.options_keepalive_s",
                              "must be 0 (off) or more")
        if trunk.register_expires_s < 10:
            raise ConfigError(src("trunks"), f"{key}.register_expires_s", "must be at least 10")
        if trunk.auth in ("digest", "register") and not trunk.username:
            raise ConfigError(src("trunks"), f"{key}.username", "required for digest auth")
        for j, net in enumerate(trunk.acl):
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ConfigError(src("trunks"), f"{key}.acl[{j}]",
                                  f"{net!r} is not an address or network") from None
    checks.check_console(s.console, src("console"))
    checks.check_sections(s, src)
    if s.health.dialer_max_failures < 1:
        raise ConfigError(src("health"), "health.dialer_max_failures", "must be at least 1")
    checks.check_numbers(s, src)
    if s.dialer.enabled and s.trunks and s.dialer.trunk not in names:
        raise ConfigError(src("dialer"), "dialer.trunk", f"names unknown trunk {s.dialer.trunk!r}")
    if not s.keys.checkpoint_interval_s >= 0:  # written this way to refuse NaN too
        raise ConfigError(src("keys"), "keys.checkpoint_interval_s",
                          "must be 0 (off) or a number of seconds")
    check_residency(s, src)
    check_feeds(s.feeds, src("feeds"))
    check_sms(s, src)
    checks.check_caller_id(s, src)  # last: a trunk's own faults are named first
