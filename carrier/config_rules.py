"""The rules :mod:`carrier.config_check` applies to settings that loaded (typed and valid).

Each rule yields :class:`~carrier.config_check.Finding`s naming the file the key is set in
(``trunks.yaml`` for trunks when it exists, else ``carrier.yaml``) and the key as the
settings loader spells it. Files named by the settings are opened and looked at (a
certificate where a key belongs), never changed or created.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from carrier.clinic_file import read_clinic_file
from carrier.config_check import Finding, region_allowed, region_guess
from carrier.dialer.rules import load_rules
from carrier.errors import ConfigError, OperatorError
from carrier.records.crypto import LocalKek, key_file_exposure
from carrier.records.kek_source import kek_source
from carrier.settings import Settings
from carrier.settings_checks import is_local

KEY_BYTES = 32  # a key-encryption key file: 32 raw bytes


def semantic_findings(s: Settings, config_dir: Path,
                      env: Mapping[str, str]) -> Iterator[Finding]:
    main = str(config_dir / "carrier.yaml")
    trunks = str(config_dir / "trunks.yaml") if (config_dir / "trunks.yaml").exists() else main
    yield from _trunks(s, trunks, env)
    yield from _dids(s, trunks)
    yield from _routes(s, main, config_dir)
    yield from _regions(s, main, trunks)
    yield from _files(s, main, env)
    yield from _clinic(s, config_dir)
    yield from _misc(s, main)


def _trunks(s: Settings, file: str, env: Mapping[str, str]) -> Iterator[Finding]:
    for i, t in enumerate(s.trunks):
        key = f"trunks[{i}]"
        if not t.host.strip():
            yield Finding("error", file, f"{key}.host", "is empty (the trunk's SIP host)")
        if not 1 <= t.port <= 65535:
            yield Finding("error", file, f"{key}.port", f"port {t.port} is out of range 1-65535")
        if t.failover == t.name:
            yield Finding("error", file, f"{key}.failover", "names the trunk itself")
        if t.auth in ("digest", "register"):
            if not t.password_env:
                yield Finding("error", file, f"{key}.password_env",
                              f"required for auth {t.auth}: name the environment variable"
                              " that holds the password")
            elif not env.get(t.password_env):
                yield Finding("error", file, f"{key}.password_env",
                              f"${t.password_env} is not set (the {t.auth} password of trunk"
                              f" {t.name!r})")
        if t.options_keepalive_s < 0:
            yield Finding("error", file, f"{key}.options_keepalive_s", "must be 0 (off) or more")


def _dids(s: Settings, file: str) -> Iterator[Finding]:
    first: dict[str, str] = {}
    failover = {t.name: t.failover for t in s.trunks}
    for i, t in enumerate(s.trunks):
        seen: set[str] = set()
        for j, number in enumerate(t.numbers):
            key = f"trunks[{i}].numbers[{j}]"
            if number in seen:
                yield Finding("error", file, key, f"{number} is listed twice on this trunk")
                continue
            seen.add(number)
            other = first.setdefault(number, t.name)
            if other != t.name and failover.get(other) != t.name and failover.get(
                    t.name) != other:
                yield Finding("warning", file, key,
                              f"{number} is also delivered by trunk {other!r}, which is not"
                              " its failover")


def workflow_names(folder: Path, broken: list[Finding] | None = None) -> set[str]:
    """Workflow names the folder defines (``workflow:`` of each top-level YAML file).
    A file that cannot be read as YAML goes into ``broken`` (file, line, column and why);
    what is wrong inside a workflow that reads is `carrier workflow validate`'s to name."""
    names = set()
    for path in sorted(folder.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            _broken(broken, path, f"cannot read ({exc.strerror})")
            continue
        except UnicodeDecodeError:
            _broken(broken, path, "not UTF-8 text")
            continue
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            reason = " ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
            _broken(broken, path, f"not valid YAML: {reason}", mark)
            continue
        except yaml.YAMLError:
            _broken(broken, path, "not valid YAML")
            continue
        if isinstance(doc, dict) and isinstance(doc.get("workflow"), str):
            names.add(doc["workflow"])
    return names


def _broken(into: list[Finding] | None, path: Path, reason: str, mark: object = None) -> None:
    if into is not None:
        line, column = getattr(mark, "line", None), getattr(mark, "column", None)
        into.append(Finding("error", str(path), "-", reason,
                            None if line is None else line + 1,
                            None if column is None else column + 1))


def _routes(s: Settings, file: str, config_dir: Path) -> Iterator[Finding]:
    folder = config_dir / "workflows"
    broken: list[Finding] = []
    names = workflow_names(folder, broken) if folder.is_dir() else set()
    yield from broken
    if not s.agent.routes:
        return
    delivered = {n for t in s.trunks for n in t.numbers}
    for number, workflow in s.agent.routes.items():
        key = f"agent.routes.{number}"
        if workflow not in names and not broken:  # else it may be in a file that did not read
            close = difflib.get_close_matches(workflow, sorted(names), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else (
                f" (defined: {', '.join(sorted(names)) or 'none'})")
            yield Finding("error", file, key,
                          f"routes to workflow {workflow!r}, which {folder} does not define"
                          + hint)
        if s.trunks and number not in delivered:
            yield Finding("warning", file, key, f"no trunk lists {number} among its numbers")


def _regions(s: Settings, main: str, trunks: str) -> Iterator[Finding]:
    allowed = s.residency.allowed_regions
    tags = [(main, "database.region", s.database.region),
            (main, "stir.certificate_repository_region", s.stir.certificate_repository_region)]
    tags += [(trunks, f"trunks[{i}].region", t.region) for i, t in enumerate(s.trunks)]
    for file, key, value in tags:
        guess = region_guess(value, allowed)
        if guess is None:
            continue
        # Allowed (or not used: no URL) as written, so a warning; `--strict` fails on it.
        verdict = "allowed by" if region_allowed(value, allowed) else "outside"
        yield Finding("warning", file, key, f"region {value!r} looks like a typo of"
                      f" {guess!r} ({verdict} residency.allowed_regions)")


def _read(path: Path) -> bytes | str:
    """The file's bytes, or why they cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot read ({exc.strerror})"


def _private_key_problem(data: bytes, want: str) -> str | None:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        return "is encrypted; a key without a password is needed"
    except ValueError:
        if b"BEGIN CERTIFICATE" in data:
            return "holds a certificate, not a private key"
        return "is not a PEM private key"
    if want == "ec-p256" and not (isinstance(key, ec.EllipticCurvePrivateKey)
                                  and isinstance(key.curve, ec.SECP256R1)):
        return "is not an EC P-256 key (STIR/SHAKEN signs with ES256)"
    if want == "ed25519" and not isinstance(key, ed25519.Ed25519PrivateKey):
        return "is not an Ed25519 key"
    return None


def _certificate_problem(data: bytes) -> str | None:
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        if b"PRIVATE KEY" in data:
            return "holds a private key, not a certificate"
        return "is not a PEM certificate"
    return None


def _files(s: Settings, file: str, env: Mapping[str, str] | None = None) -> Iterator[Finding]:
    # (key, path, what, must exist); paths resolved as the code that opens them does.
    checks: list[tuple[str, Path, str, bool]] = []
    if s.stir.enabled and s.stir.key_file:
        checks.append(("stir.key_file", Path(s.stir.key_file), "ec-p256", True))
        if not s.stir.x5u:
            yield Finding("warning", file, "stir.key_file", "is not used without stir.x5u"
                          " (a development certificate authority signs instead)")
    if s.stir.enabled and s.stir.x5u and not s.stir.key_file:
        yield Finding("warning", file, "stir.x5u", "is not used without stir.key_file"
                      " (a development certificate authority signs instead)")
    if s.stir.enabled and not (s.stir.x5u or s.stir.key_file) and not is_local(s.sip.bind_host):
        yield Finding("warning", file, "stir.key_file", "and stir.x5u are not set: outbound"
                      " calls are signed by a development certificate authority published on"
                      " 127.0.0.1, which no other carrier can fetch (set both, or"
                      " stir.enabled: false)")
    checks += [(f"stir.trust_anchors[{i}]", Path(p), "cert", True)
               for i, p in enumerate(s.stir.trust_anchors)]
    if bool(s.sip.tls_cert) != bool(s.sip.tls_key):
        missing = "sip.tls_key" if s.sip.tls_cert else "sip.tls_cert"
        yield Finding("error", file, missing, "is needed too: give both sip.tls_cert and"
                      " sip.tls_key, or neither")
    if s.sip.tls_cert:
        checks.append(("sip.tls_cert", Path(s.sip.tls_cert), "cert", True))
    if s.sip.tls_key:
        checks.append(("sip.tls_key", Path(s.sip.tls_key), "any-key", True))
    if s.console.tls and s.console.cert_file and s.console.key_file:  # relative: data_dir
        checks += [("console.cert_file", s.path(s.console.cert_file, ""), "cert", True),
                   ("console.key_file", s.path(s.console.key_file, ""), "any-key", True)]
    signing = s.path(s.keys.audit_signing_key, "keys/audit_signing.pem")
    checks.append(("keys.audit_signing_key", signing, "ed25519", False))
    for key, path, want, required in checks:
        data = _read(path)
        if isinstance(data, str):
            if required or data != "no such file":
                yield Finding("error", file, key, f"{path}: {data}")
            continue
        problem = (_certificate_problem(data) if want == "cert"
                   else _private_key_problem(data, want))
        if problem:
            yield Finding("error", file, key, f"{path} {problem}")
    yield from _kek(s, file, env)


def _kek(s: Settings, file: str, env: Mapping[str, str] | None = None) -> Iterator[Finding]:
    """The key-encryption key every command and serve would read (``kek_source``)."""
    try:
        source = kek_source(s, env)
    except OperatorError as exc:  # two sources that disagree
        yield Finding("error", file, "keys.kek_file", str(exc))
        return
    if source.path is None:  # base64 in the environment
        try:
            LocalKek.from_base64(source.text or "")
        except ValueError as exc:
            yield Finding("error", file, "keys.kek_env", f"{source.what}: {exc}")
        return
    kek = source.path
    data = _read(kek)
    if isinstance(data, str) and data != "no such file":  # absent: made at first start
        yield Finding("error", file, "keys.kek_file", f"{kek}: {data}")
    elif isinstance(data, bytes) and len(data) != KEY_BYTES:
        what = "a PEM file" if data.startswith(b"-----BEGIN") else f"{len(data)} bytes"
        yield Finding("error", file, "keys.kek_file", f"{kek} holds {what}, not a 32-byte key")
    elif isinstance(data, bytes) and (exposed := key_file_exposure(kek)) is not None:
        yield Finding("error", file, "keys.kek_file", exposed)


def _clinic(s: Settings, config_dir: Path) -> Iterator[Finding]:
    try:
        read_clinic_file(config_dir / s.clinic_file)  # as the agent reads it at start
    except ConfigError as exc:
        yield Finding("error", exc.file, exc.key, exc.reason)
    rules = config_dir / "calling_rules"
    if rules.is_dir():
        try:
            load_rules(rules)  # as the dialer's gate reads them at start
        except ConfigError as exc:
            yield Finding("error", exc.file, exc.key, exc.reason)


def _misc(s: Settings, file: str) -> Iterator[Finding]:
    for name in ("transcript_days", "recording_days"):
        if getattr(s.retention, name) < 1:
            yield Finding("error", file, f"retention.{name}",
                          "must be at least 1 day (0 would purge everything at once)")
    if not s.sip.bind_host.strip():
        yield Finding("error", file, "sip.bind_host", "is empty")
    if not Path(s.data_dir).is_absolute():
        yield Finding("warning", file, "data_dir",
                      f"{s.data_dir!r} is relative: every command resolves it against its own"
                      f" working directory (here {Path(s.data_dir).resolve()}); give an"
                      " absolute path")
