"""Field encryption: AES-256-GCM envelope format, wrapping, blind index (no database)."""

from __future__ import annotations

import os
import stat
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carrier.records import crypto
from carrier.records.crypto import (
    DecryptError,
    InvalidPhoneNumber,
    KeyRing,
    LocalKek,
    UnknownKeyVersion,
    blind_index,
    normalize_e164,
)

# NIST GCM specification (McGrew & Viega), test case 16: AES-256, 96-bit IV, with AAD.
GCM_KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
GCM_IV = bytes.fromhex("cafebabefacedbaddecaf888")
GCM_PT = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
)
GCM_AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_CT = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
)
GCM_TAG = bytes.fromhex("76fc6ece0f4e1768cddf8853bb2d551b")


def test_envelope_matches_nist_gcm_vector_field_by_field() -> None:
    blob = crypto.encrypt(GCM_KEY, 7, GCM_PT, GCM_AAD, nonce=GCM_IV)
    fmt, version = struct.unpack_from(">BI", blob)
    assert fmt == crypto.FORMAT
    assert version == 7
    assert blob[5:17] == GCM_IV
    assert blob[17:-16] == GCM_CT
    assert blob[-16:] == GCM_TAG
    assert crypto.decrypt({7: GCM_KEY}, blob, GCM_AAD) == GCM_PT


def test_blind_index_is_hmac_sha256_rfc4231_case_2() -> None:
    digest = blind_index(b"Jefe", "what do ya want for nothing?")
    assert digest.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def _ring() -> KeyRing:
    return KeyRing({1: bytes(32), 2: bytes(range(32))}, index_key=b"i" * 32)


def test_new_writes_use_newest_version_and_old_versions_stay_readable() -> None:
    ring = _ring()
    blob = ring.encrypt("Testa Patientson", "patients", "name_ct", "row-1")
    assert crypto.key_version_of(blob) == 2
    old = crypto.encrypt(bytes(32), 1, b"old", crypto.aad("patients", "name_ct", "row-1"))
    assert ring.decrypt(old, "patients", "name_ct", "row-1") == b"old"


@pytest.mark.parametrize(
    ("table", "column", "row"),
    [
        ("patients", "name_ct", "row-2"),
        ("patients", "phone_ct", "row-1"),
        ("calls", "name_ct", "row-1"),
    ],
)
def test_ciphertext_moved_to_another_cell_fails(table: str, column: str, row: str) -> None:
    ring = _ring()
    blob = ring.encrypt("Testa Patientson", "patients", "name_ct", "row-1")
    with pytest.raises(DecryptError):
        ring.decrypt(blob, table, column, row)


def test_every_single_bit_flip_is_refused() -> None:
    ring = _ring()
    blob = ring.encrypt("x", "t", "c", 1)
    for i in range(len(blob)):
        for bit in (0x01, 0x80):
            damaged = bytearray(blob)
            damaged[i] ^= bit
            with pytest.raises(DecryptError):
                ring.decrypt(bytes(damaged), "t", "c", 1)


def test_unknown_version_and_truncation() -> None:
    ring = _ring()
    blob = crypto.encrypt(bytes(32), 9, b"x", b"ad")
    with pytest.raises(UnknownKeyVersion) as info:
        ring.decrypt(blob, "t", "c", 1)
    assert info.value.version == 9
    with pytest.raises(DecryptError, match="too short"):
        ring.decrypt(blob[:20], "t", "c", 1)


@given(st.binary(max_size=300), st.text(max_size=20), st.integers(min_value=1, max_value=2**32 - 1))
def test_round_trip(plaintext: bytes, column: str, version: int) -> None:
    key = bytes(range(32))
    blob = crypto.encrypt(key, version, plaintext, crypto.aad("t", column, 5))
    assert crypto.decrypt({version: key}, blob, crypto.aad("t", column, 5)) == plaintext


def test_kek_wraps_and_a_wrong_kek_or_context_fails() -> None:
    kek = LocalKek(os.urandom(32))
    dk = os.urandom(32)
    wrapped = kek.wrap(dk, b"ctx")
    assert kek.unwrap(wrapped, b"ctx") == dk
    with pytest.raises(DecryptError):
        LocalKek(os.urandom(32)).unwrap(wrapped, b"ctx")
    with pytest.raises(DecryptError):
        kek.unwrap(wrapped, b"other")


def test_kek_file_created_private_and_reused(tmp_path) -> None:
    path = tmp_path / "keys" / "kek.bin"
    first = LocalKek.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert LocalKek.load_or_create(path).key_id == first.key_id
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="32-byte"):
        LocalKek.load_or_create(path)


def test_kek_from_base64() -> None:
    assert LocalKek.from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").secret == bytes(
        range(32)
    )
    with pytest.raises(ValueError, match="base64"):
        LocalKek.from_base64("not base64!")
    with pytest.raises(ValueError, match="32 bytes"):
        LocalKek.from_base64("AAEC")


@pytest.mark.parametrize(
    "text", ["+1 555 555 0101", "(555) 555-0101", "555.555.0101", "+15555550101"]
)
def test_phone_normalisation_gives_one_index(text: str) -> None:
    assert normalize_e164(text) == "+15555550101"
    ring = _ring()
    assert ring.phone_index(text) == ring.phone_index("+15555550101")


def test_invalid_phone_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_e164("55501")
    assert "55501" not in str(info.value)


def test_key_material_never_in_repr() -> None:
    ring = _ring()
    kek = LocalKek(bytes(range(32)))
    assert "\\x" not in repr(ring)
    assert "bytes" not in repr(ring)
    assert "secret" not in repr(kek)


def test_a_value_that_does_not_decrypt_is_one_operator_line(capsys) -> None:
    """A stored value under a data key no longer held (or damaged) used to end a records
    command in a traceback (DecryptError is neither an OperatorError nor a database
    failure); now it is one line naming the kind of failure and where to look."""
    from carrier.cli import _one_line, _operator_failures  # noqa: PLC0415
    from carrier.records.cli_context import run  # noqa: PLC0415
    from carrier.records.crypto import KeyRing  # noqa: PLC0415

    ring = KeyRing({1: bytes(32)}, bytes(32))
    stored = ring.encrypt("Testa Patientson", "patients", "name_ct", "p-1")
    later = KeyRing({2: bytes(range(32))}, bytes(32))

    async def read() -> str:
        return later.decrypt_str(stored, "patients", "name_ct", "p-1")

    with pytest.raises(_operator_failures()) as caught:
        run(read())
    assert _one_line("calls", caught.value) != 0
    err = capsys.readouterr().err
    assert "carrier keys status" in err
    assert "Testa" not in err
