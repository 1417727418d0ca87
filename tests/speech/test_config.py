from __future__ import annotations

from pathlib import Path

import pytest

from agent.speech.streaming import StreamingConfig
from agent.speech.tts import TtsConfig
from agent.speech.whisper import Hints, SttConfig, Transcript


def test_hints_become_one_prompt() -> None:
    assert Hints().prompt() is None
    assert Hints(expected=("Yes", "No"), vocabulary=("Dr. Okafor",)).prompt() == (
        "Dr. Okafor, Yes, No."
    )
    assert Hints(expected=(" ", "")).prompt() is None
    with pytest.raises(TypeError):
        Hints(expected=(1,))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device": "tpu"}, "device"),
        ({"workers": 0}, "workers"),
        ({"window_s": 0.5}, "window_s"),
        ({"window_s": 10.0, "min_window_s": 12.0}, "min_window_s"),
        ({"max_batch": 0}, "max_batch"),
    ],
)
def test_stt_config_refuses_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SttConfig(model_dir=Path("m"), **kwargs)


def test_threads_share_the_cores_between_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert SttConfig(model_dir=Path("m"), workers=1).threads() == 2
    assert SttConfig(model_dir=Path("m"), workers=2).threads() == 1
    assert SttConfig(model_dir=Path("m"), workers=4).threads() == 1
    assert SttConfig(model_dir=Path("m"), workers=2, cpu_threads=3).threads() == 3


def test_other_configs_validate() -> None:
    with pytest.raises(ValueError, match="frame"):
        StreamingConfig(pause_ms=10)
    with pytest.raises(ValueError, match="thread"):
        TtsConfig(intra_op_threads=0)
    with pytest.raises(ValueError, match="non-negative"):
        Transcript("x", -1.0, 0.0)
