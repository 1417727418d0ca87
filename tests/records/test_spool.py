"""The local spool: fsync'd append, torn tail ignored, damage reported (no database)."""

from __future__ import annotations

import pytest

from carrier.records.spool import Spool, SpoolCorrupt


def test_append_read_clear(tmp_path) -> None:
    spool = Spool(tmp_path / "s" / "audit.jsonl")
    spool.append([{"n": 1}])
    spool.append([{"n": 2}, {"n": 3}])
    assert [r["n"] for r in Spool(spool.path).read()] == [1, 2, 3]
    spool.clear()
    assert spool.read() == []
    spool.append([{"n": 4}])
    assert spool.read() == [{"n": 4}]


def test_torn_last_line_is_ignored(tmp_path) -> None:
    spool = Spool(tmp_path / "audit.jsonl")
    spool.append([{"n": 1}, {"n": 2}])
    raw = spool.path.read_bytes()
    spool.path.write_bytes(raw[:-7])  # the process died mid-write: never acknowledged
    assert spool.read() == [{"n": 1}]
    spool.path.write_bytes(raw[:-7] + b"\n")  # ...even if a newline reached the disk
    assert spool.read() == [{"n": 1}]


def test_damage_before_the_end_is_reported(tmp_path) -> None:
    spool = Spool(tmp_path / "audit.jsonl")
    spool.append([{"n": 1}, {"n": 2}, {"n": 3}])
    raw = bytearray(spool.path.read_bytes())
    raw[70] ^= 1
    spool.path.write_bytes(bytes(raw))
    with pytest.raises(SpoolCorrupt, match="line 1"):
        spool.read()
