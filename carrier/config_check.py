"""``carrier config check`` beyond types: what would make a valid-looking config misbehave.

:func:`check_config` reads the config folder the way ``serve`` does (``load_settings``)
and adds what typing cannot see, each as a :class:`Finding` naming the file, the dotted key
(as the settings loader spells it), the line and column where the YAML has them, and why:

* a YAML syntax error: line, column and the parser's reason; a key given twice in one
  mapping (YAML keeps the last one silently);
* a phone number that is not an E.164 *string* (YAML reads an unquoted ``+1555...`` as the
  integer ``1555...``, and the ``+`` is gone) in trunk numbers, routes, STIR/SHAKEN numbers,
  branded names, the dialer's caller id and test numbers;
* a digest/register trunk whose password variable is missing or unset; an empty host, a
  port out of range, a trunk failing over to itself; the same DID twice on a trunk, or on
  two trunks that are not each other's failover (warning);
* a route to a workflow the workflow folder does not define (the folder's YAML files are
  read as configuration; the agent is not imported);
* a region tag that looks like a typo of an allowed one (difflib), allowed or not;
* a key or certificate file that holds the wrong thing (a certificate given as a key);
* retention periods below one day; a relative ``data_dir`` (warning: it follows the working
  directory of whichever command runs).

A settings error blamed on an environment variable that does not set that key is given
back to the file that does.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from carrier.edits import edit_distance
from carrier.errors import ConfigError
from carrier.settings import ResidencySettings, Settings, load_settings
from carrier.settings_checks import E164
from carrier.settings_env import ENV_PREFIX
from carrier.yaml_file import repeated_keys

# Region names operators use; a tag close to one of these (but not it) is likely a typo.
KNOWN_REGIONS = (
    "local", "us-east", "us-west", "us-central", "us-south", "us-north",
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-central1", "us-east1", "us-east4",
    "us-east5", "us-west1", "us-west2", "us-west3", "us-west4", "us-south1",
    "eu-west", "eu-central", "eu-north", "ca-central", "ap-southeast", "ap-northeast",
)
REGION_KEYS = re.compile(r"^(database\.region|trunks\[\d+\]\.region"
                         r"|stir\.certificate_repository_region)$")
# Dotted keys (settings spelling, ``*`` for any index or mapping key) holding phone numbers.
NUMBER_KEYS = ("trunks[*].numbers[*]", "stir.own_numbers[*]", "stir.customer_numbers[*]",
               "dialer.caller_id", "dialer.operator_test_numbers[*]", "sms.from_number",
               "sms.help_number")
NUMBER_MAP_KEYS = ("agent.routes", "stir.rcd_names")  # numbers as mapping keys


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    file: str
    key: str
    reason: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.line is not None:
            where = f" (line {self.line}" + (f", column {self.column})" if self.column else ")")
        return f"{self.file}: {self.key}: {self.reason}{where}"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Report:
    config_dir: Path
    findings: list[Finding]
    settings: Settings | None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]


# --------------------------------------------------------------------------- YAML with marks


@dataclass
class Doc:
    """One YAML file: its data and, per dotted key, the node (for line and column)."""

    path: Path
    data: Any
    nodes: dict[str, yaml.Node]

    def mark(self, key: str) -> tuple[int | None, int | None]:
        node = self.nodes.get(key)
        if node is None:
            return None, None
        return node.start_mark.line + 1, node.start_mark.column + 1


def _walk(node: yaml.Node, key: str, out: dict[str, yaml.Node]) -> None:
    out[key] = node
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            sub = f"{key}.{knode.value}" if key else str(knode.value)
            out[f"{sub}#key"] = knode
            _walk(vnode, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, f"{key}[{i}]", out)


def read_doc(path: Path, findings: list[Finding]) -> Doc | None:
    """Parse ``path``; a syntax error or a repeated key becomes a finding with its place."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        findings.append(Finding("error", str(path), "-", f"cannot read ({exc.strerror})"))
        return None
    except UnicodeDecodeError:
        findings.append(Finding("error", str(path), "-", "not UTF-8 text"))
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        findings.append(Finding("error", str(path), "-", f"not valid YAML: {reason}",
                                None if mark is None else mark.line + 1,
                                None if mark is None else mark.column + 1))
        return None
    except yaml.YAMLError as exc:
        findings.append(Finding("error", str(path), "-", f"not valid YAML: {exc}"))
        return None
    nodes: dict[str, yaml.Node] = {}
    if root is not None:
        _walk(root, "", nodes)
    for key, node in repeated_keys(root):
        findings.append(Finding("error", str(path), key, "given twice in one mapping (YAML"
                                " keeps only the last)", node.start_mark.line + 1,
                                node.start_mark.column + 1))
    return Doc(path, data, nodes)


def _matching(doc: Doc, pattern: str) -> Iterator[str]:
    regex = re.compile("^" + re.escape(pattern).replace(r"\*", r"[^.\]]+") + "$")
    for key in doc.nodes:
        if regex.match(key):
            yield key


def _number_findings(doc: Doc) -> Iterator[Finding]:
    def bad(key: str, node: yaml.Node) -> Finding | None:
        if not isinstance(node, yaml.ScalarNode):
            return None
        text = str(node.value)
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        if node.tag != "tag:yaml.org,2002:str":
            as_int = text.lstrip("+").replace("_", "")
            hint = (f"YAML reads the unquoted {text} as the number {as_int} (the + is lost);"
                    f" quote it: \"{text}\"") if text.startswith("+") else (
                f"{text} is not a quoted E.164 number; write \"+{text}\" with its country code")
            return Finding("error", str(doc.path), key, hint, line, col)
        if not E164.match(text):
            return Finding("error", str(doc.path), key,
                           f"{text!r} is not an E.164 number (+, country code, digits)",
                           line, col)
        return None

    for pattern in NUMBER_KEYS:
        for key in _matching(doc, pattern):
            found = bad(key, doc.nodes[key])
            if found:
                yield found
    for parent in NUMBER_MAP_KEYS:
        node = doc.nodes.get(parent)
        if isinstance(node, yaml.MappingNode):
            for knode, _ in node.value:
                found = bad(f"{parent}.{knode.value}", knode)
                if found:
                    yield found


# --------------------------------------------------------------------------- the check


def check_config(config_dir: Path, env: Mapping[str, str] | None = None) -> Report:
    env = os.environ if env is None else env
    findings: list[Finding] = []
    if not config_dir.is_dir():
        findings.append(Finding("error", str(config_dir), "-", "config folder not found"))
        return Report(config_dir, findings, None)
    docs = {}
    for name in ("carrier.yaml", "trunks.yaml"):
        path = config_dir / name
        if path.exists():
            doc = read_doc(path, findings)
            if doc is not None:
                docs[name] = doc
                findings.extend(_number_findings(doc))
    if findings:  # the loader would stop at the same place, or read a number wrongly
        return Report(config_dir, findings, None)
    try:
        settings = load_settings(config_dir, env)
    except ConfigError as exc:
        findings.append(_placed(_blame(exc, docs, env), docs))
        return Report(config_dir, findings, None)
    from carrier.config_rules import semantic_findings  # noqa: PLC0415 - split for size

    for finding in semantic_findings(settings, config_dir, env):
        findings.append(_placed(finding, docs))
    return Report(config_dir, findings, settings)


def _doc_for(key: str, docs: Mapping[str, Doc]) -> Doc | None:
    if key.startswith("trunks") and "trunks.yaml" in docs:
        return docs["trunks.yaml"]
    return docs.get("carrier.yaml")


def _env_key(name: str) -> str | None:
    aliases = {"CARRIER_DATABASE_URL": "database.url", "CARRIER_DATA_DIR": "data_dir"}
    if name in aliases:
        return aliases[name]
    if name.startswith(ENV_PREFIX) and "__" in name:
        return ".".join(p.lower() for p in name[len(ENV_PREFIX):].split("__"))
    return None


def _blame(exc: ConfigError, docs: Mapping[str, Doc], env: Mapping[str, str]) -> Finding:
    """The loader's error, given back to the YAML file when the variable it names does not
    set the failing key (the loader marks a whole section as coming from any variable)."""
    file = exc.file
    if file.startswith("$"):
        set_key = _env_key(file[1:]) or ""
        related = exc.key == set_key or exc.key.startswith(set_key + ".") or exc.key.startswith(
            set_key + "[")
        doc = _doc_for(exc.key, docs)
        if not related and doc is not None:
            file = str(doc.path)
    reason = exc.reason
    if REGION_KEYS.match(exc.key) and "outside the allowed regions" in reason:
        value = _region_value(exc.key, docs, env)
        guess = region_guess(value, _allowed_regions(docs, env)) if value else None
        if guess:
            reason += f"; did you mean {guess!r}?"
    return Finding("error", file, exc.key, reason)


def _region_value(key: str, docs: Mapping[str, Doc], env: Mapping[str, str]) -> str | None:
    if key == "database.region" and env.get("CARRIER_DATABASE__REGION"):
        return env["CARRIER_DATABASE__REGION"]
    doc = _doc_for(key, docs)
    node = doc.nodes.get(key) if doc else None
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def _allowed_regions(docs: Mapping[str, Doc], env: Mapping[str, str]) -> tuple[str, ...]:
    main = docs.get("carrier.yaml")
    residency = main.data.get("residency") if main and isinstance(main.data, dict) else None
    given = residency.get("allowed_regions") if isinstance(residency, dict) else None
    if env.get("CARRIER_RESIDENCY__ALLOWED_REGIONS"):
        given = yaml.safe_load(env["CARRIER_RESIDENCY__ALLOWED_REGIONS"])
    if isinstance(given, str):
        given = [given]
    if isinstance(given, list):
        return tuple(str(g) for g in given)
    return ResidencySettings().allowed_regions


def region_guess(value: str, allowed: tuple[str, ...]) -> str | None:
    """The allowed region (a known one, or one the allow-list names literally) ``value``
    is probably a typo of, if any."""
    literal = [p for p in allowed if not any(c in p for c in "*?[")]
    candidates = sorted(c for c in {*KNOWN_REGIONS, *literal} if region_allowed(c, allowed))
    folded = value.lower().replace("_", "-").replace(" ", "-")
    if value in candidates or value in KNOWN_REGIONS:
        return None  # right, or a real region that is simply elsewhere
    if folded != value and folded in candidates:
        return folded
    close = difflib.get_close_matches(folded, candidates, n=3, cutoff=0.7)
    # difflib scores a swap of two letters like two edits; rank its picks by edits, a swap
    # counting one (us-esat is us-east, not us-west).
    ranked = sorted((edit_distance(folded, c), i, c) for i, c in enumerate(close))
    return ranked[0][2] if ranked and ranked[0][0] <= 2 else None


def region_allowed(value: str, allowed: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value, pat) for pat in allowed)


def _placed(f: Finding, docs: Mapping[str, Doc]) -> Finding:
    """Add the line and column of ``f.key`` when its file is one of the YAML files read."""
    if f.line is not None:
        return f
    doc = next((d for d in docs.values() if str(d.path) == f.file), None)
    if doc is None:
        return f
    line, column = doc.mark(f.key)
    return dataclasses.replace(f, line=line, column=column)
