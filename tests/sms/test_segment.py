"""Segmentation vectors (tests/vectors/sms/segments.json): GSM-7 160/153, UCS-2 70/67,
escapes and surrogate pairs never split; a held-out set not tuned to; round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carrier.sms.segment import (
    Coding,
    SegmentError,
    concat_info,
    decode,
    decode_gsm7,
    encode_gsm7,
    plan,
    split_udh,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "sms" / "segments.json").read_text())


def text_of(v: dict[str, Any]) -> str:
    if "repeat" in v:
        return v["repeat"][0] * v["repeat"][1]
    if "concat" in v:
        return "".join(ch * n for ch, n in v["concat"])
    return str(v["text"])


def width(coding: Coding, text: str) -> int:
    if coding is Coding.GSM7:
        return len(encode_gsm7(text))
    return len(text.encode("utf-16-be")) // 2


@pytest.mark.parametrize("vector", VECTORS["tune"] + VECTORS["held_out"],
                         ids=lambda v: v["text"])
def test_vectors(vector: dict[str, Any]) -> None:
    text = text_of(vector)
    p = plan(text, reference=7)
    assert (p.coding, len(p.parts), p.units) == (vector["coding"], vector["parts"], vector["units"])
    if "hex0" in vector:
        assert p.parts[0].short_message.hex() == vector["hex0"]
    if "sizes" in vector:
        assert [width(p.coding, part.text) for part in p.parts] == vector["sizes"]
    assert "".join(part.text for part in p.parts) == text
    for i, part in enumerate(p.parts, start=1):
        if len(p.parts) == 1:
            assert part.udh == b""
            assert part.esm_class == 0
            continue
        assert part.udh == bytes((5, 0, 3, 7, len(p.parts), i))
        assert part.esm_class == 0x40
        udh, payload = split_udh(part.esm_class, part.short_message)
        assert concat_info(udh) == (7, len(p.parts), i)
        assert decode(p.coding, payload) == part.text


def test_held_out_score() -> None:
    """Scored apart from the tuned vectors: all must pass (reported in the helper report)."""
    ok = sum(1 for v in VECTORS["held_out"]
             if len(plan(text_of(v)).parts) == v["parts"] and plan(text_of(v)).units == v["units"])
    assert ok == len(VECTORS["held_out"])


def test_errors() -> None:
    with pytest.raises(SegmentError):
        plan("")
    with pytest.raises(SegmentError):
        plan("A" * (153 * 255 + 1))
    with pytest.raises(SegmentError):
        decode_gsm7(b"\x80")
    with pytest.raises(SegmentError):
        split_udh(0x40, b"\x09\x00")
    assert concat_info(b"\x06\x08\x04\x01\x02\x03\x01") == (0x0102, 3, 1)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
               min_size=1, max_size=400))
def test_round_trip_any_text(text: str) -> None:
    p = plan(text)
    assert "".join(decode(p.coding, part.payload) for part in p.parts) == text
    limit = {Coding.GSM7: (160, 153), Coding.UCS2: (70, 67)}[p.coding]
    cap = limit[0] if len(p.parts) == 1 else limit[1]
    assert all(width(p.coding, part.text) <= cap for part in p.parts)
