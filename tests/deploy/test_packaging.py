"""Packaging metadata a Python user relies on: licence, supported Pythons, the pjsua2 marker."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.peers import client

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
LINUX = {"platform_system": "Linux", "platform_machine": "x86_64"}


def test_licence_is_an_spdx_expression_with_its_text() -> None:
    assert PROJECT["license"] == "Apache-2.0"  # PEP 639, not the deprecated table
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert not any(c.startswith("License ::") for c in PROJECT["classifiers"])  # PEP 639
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]
    (setuptools,) = [Requirement(r) for r in build["requires"] if r.startswith("setuptools")]
    assert "77" in setuptools.specifier  # first setuptools that reads license expressions


def test_supported_pythons_match_the_classifiers() -> None:
    supported = SpecifierSet(PROJECT["requires-python"])
    listed = {c.rsplit(" ", 1)[1] for c in PROJECT["classifiers"]
              if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    assert listed == {v for v in ("3.10", "3.11", "3.12", "3.13", "3.14") if v in supported}
    assert "3.13" in supported


@pytest.mark.parametrize(("python", "wanted"), [("3.11", True), ("3.12", True),
                                                ("3.13", False)])
def test_pjsua2_is_required_only_where_its_wheels_exist(python: str, wanted: bool) -> None:
    (req,) = [Requirement(r) for r in PROJECT["optional-dependencies"]["test"]
              if r.startswith("pjsua2")]
    assert req.marker is not None
    env = LINUX | {"python_version": python, "python_full_version": f"{python}.0"}
    assert req.marker.evaluate(env) is wanted
    assert not Marker(str(req.marker)).evaluate(env | {"platform_machine": "aarch64"})


def test_pjsua2_tests_skip_with_a_reason_when_the_module_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pjsua2" else real(name, *a))
    reason = client.pjsua2_skip_reason.__wrapped__()
    assert reason is not None
    assert "pjsua2 is not installed" in reason
    assert "3.8-3.12" in reason


def test_every_package_is_typed() -> None:
    for package in ("carrier", "media", "stir_shaken", "agent"):
        assert (REPO / package / "py.typed").is_file(), package


def test_contributing_fast_subset_names_declared_markers() -> None:
    text = (REPO / "CONTRIBUTING.md").read_text()
    (expr,) = re.findall(r'-m "([^"]+)"', text)
    declared = {m.split(":")[0] for m in
                tomllib.loads((REPO / "pyproject.toml").read_text())
                ["tool"]["pytest"]["ini_options"]["markers"]}
    used = set(re.findall(r"not (\w+)", expr))
    assert used <= declared, used - declared
    assert (REPO / "CHANGELOG.md").read_text().startswith("# Changelog")
