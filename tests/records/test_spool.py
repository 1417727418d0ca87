"""The local spool: fsync'd append, torn tail ignored, damage reported (no database)."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carrier.records import chain
from carrier.records.appender import CONSENT, from_spool, to_spool
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


def test_replace_and_set_aside(tmp_path) -> None:
    spool = Spool(tmp_path / "s" / "outbox.jsonl")
    spool.append([{"n": 1}, {"n": 2}, {"n": 3}])
    spool.replace([{"n": 1}, {"n": 3}])
    spool.append([{"n": 4}])  # appends continue on the new file
    assert [r["n"] for r in Spool(spool.path).read()] == [1, 3, 4]
    assert not spool.path.with_name("outbox.jsonl.tmp").exists()
    spool.path.write_bytes(b"0000 {}\n" + spool.path.read_bytes())
    with pytest.raises(SpoolCorrupt):
        spool.read()
    target, lines = spool.set_aside()
    assert (target.name, lines) == ("outbox.jsonl.corrupt-1", 4)
    assert spool.read() == []


def test_torn_last_line_is_ignored(tmp_path) -> None:
    spool = Spool(tmp_path / "audit.jsonl")
    spool.append([{"n": 1}, {"n": 2}])
    raw = spool.path.read_bytes()
    spool.path.write_bytes(raw[:-7])  # the process died mid-write: never acknowledged
    assert spool.read() == [{"n": 1}]
    spool.path.write_bytes(raw[:-7] + b"\n")  # ...even if a newline reached the disk
    assert spool.read() == [{"n": 1}]
    # a restarted writer cuts the torn tail before appending
    again = Spool(spool.path)
    again.append([{"n": 3}])
    assert again.read() == [{"n": 1}, {"n": 3}]


def test_damage_before_the_end_is_reported(tmp_path) -> None:
    spool = Spool(tmp_path / "audit.jsonl")
    spool.append([{"n": 1}, {"n": 2}, {"n": 3}])
    raw = bytearray(spool.path.read_bytes())
    raw[70] ^= 1
    spool.path.write_bytes(bytes(raw))
    with pytest.raises(SpoolCorrupt, match="line 1"):
        spool.read()


_records = st.lists(
    st.dictionaries(
        st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=20)), max_size=4
    ),
    min_size=1,
    max_size=6,
)


@given(_records, st.data())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_crash_at_any_byte_keeps_a_prefix(tmp_path, records, data) -> None:
    path = tmp_path / "prop.jsonl"
    path.unlink(missing_ok=True)
    spool = Spool(path)
    spool.append(records)
    spool.close()
    raw = path.read_bytes()
    cut = data.draw(st.integers(0, len(raw)))
    path.write_bytes(raw[:cut])
    got = Spool(path).read()
    assert got == records[: len(got)]
    assert len(got) >= raw[:cut].count(b"\n") - 1


@given(
    st.uuids(),
    st.uuids(),
    st.datetimes(timezones=st.just(UTC)),
    st.text(max_size=10),
)
def test_spool_codec_keeps_the_hash(entry_id, patient_id, at, source) -> None:
    row = {
        "entry_id": entry_id,
        "at": at,
        "patient_id": patient_id,
        "channel": "voice",
        "kind": "tcpa_express",
        "event": "grant",
        "source": source,
        "evidence_ref": "e",
        "actor": "a",
        "seq": 7,
    }
    back = from_spool(CONSENT, json.loads(json.dumps(to_spool(CONSENT, row))))
    back["seq"] = 7
    assert chain.row_hash("consent", chain.GENESIS, back) == chain.row_hash(
        "consent", chain.GENESIS, row
    )
