"""``speech.vad`` chooses the endpointer's VAD: the same loud line hiss starts a turn under
webrtcvad (the default) and not under Silero, through the settings loader and the
runtime's mapping of ``speech`` onto ``EndpointConfig``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.runtime import endpoint_config
from agent.speech.endpoint import Endpointer, SpeechStart
from carrier.errors import ConfigError
from carrier.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    dst = tmp_path / "config"
    shutil.copytree(REPO / "config", dst)
    return dst


def starts_on_hiss(settings_dir: Path, env: dict[str, str]) -> bool:
    endpointer = Endpointer(endpoint_config(load_settings(settings_dir, env=env).speech))
    rng = np.random.default_rng(7)
    hiss = np.round(rng.standard_normal(320 * 100) * 2000).astype(np.int16)  # 2 s, -24 dBFS
    events = [e for f in hiss.reshape(-1, 320) for e in endpointer.feed(f)]
    return any(isinstance(e, SpeechStart) for e in events)


def test_the_setting_picks_the_vad(cfg: Path) -> None:
    assert load_settings(cfg, env={}).speech.vad == "webrtc"  # the shipped default
    assert starts_on_hiss(cfg, {})
    assert not starts_on_hiss(cfg, {"CARRIER_SPEECH__VAD": "silero"})


def test_an_unknown_vad_is_refused_with_its_key(cfg: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={"CARRIER_SPEECH__VAD": "energy"})
    assert err.value.key == "speech.vad"
