"""Absurd numbers in the settings are refused at start (file, key, the limit and why).

Before, ``sip.max_concurrent_calls: 10000000000000`` and ``speech.stt_workers: 100000``
were accepted: the node then tried to start 100000 speech workers, or let calls in until
the machine ran out of ports and memory. Each numeric setting now has a generous upper
bound (:mod:`carrier.settings_limits`); ``config check`` and ``serve`` refuse a value
above it.
"""

from __future__ import annotations

import dataclasses
import shutil
import typing
from pathlib import Path

import pytest
import yaml

from carrier.settings import Settings
from carrier.settings_limits import LIMITS
from tests.ops.live import REPO, carrier, one_line_error

CASES = [
    ("sip", "max_concurrent_calls", 10**13),
    ("speech", "stt_workers", 100000),
    ("database", "pool_max", 100000),
    ("database", "command_timeout_s", 10**9),
    ("webchat", "max_sessions", 10**7),
    ("sip", "drain_timeout_s", 1e9),
    ("retention", "transcript_days", 10**8),
    ("sms", "rate_per_s", 1e12),
]


@pytest.mark.parametrize(("section", "name", "value"), CASES,
                         ids=[f"{c[0]}.{c[1]}" for c in CASES])
def test_an_absurd_number_is_refused(tmp_path: Path, section: str, name: str,
                                     value: float) -> None:
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    doc = yaml.safe_load((cfg / "carrier.yaml").read_text())
    doc["data_dir"] = str(tmp_path / "var")
    doc.setdefault(section, {})[name] = value
    (cfg / "carrier.yaml").write_text(yaml.safe_dump(doc))
    done = carrier("config", "check", config=cfg, cwd=tmp_path)
    line = one_line_error(done)
    assert done.code == 78
    assert f"{cfg / 'carrier.yaml'}: {section}.{name}: " in line, line
    assert "at most" in line, line


def _numeric(cls: type, prefix: str) -> typing.Iterator[str]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        args = set(typing.get_args(kind)) - {type(None)}
        if dataclasses.is_dataclass(kind):
            yield from _numeric(kind, f"{prefix}{f.name}.")
        elif kind in (int, float) or (args and args <= {int, float}):
            yield prefix + f.name
        else:
            for arg in args:
                if dataclasses.is_dataclass(arg):
                    yield from _numeric(arg, f"{prefix}{f.name}[].")


def test_every_numeric_setting_has_a_limit() -> None:
    numeric = set(_numeric(Settings, ""))
    assert numeric - set(LIMITS) == set()
    assert set(LIMITS) - numeric == set()
