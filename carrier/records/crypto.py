"""Field encryption at rest: AES-256-GCM envelope keys and a keyed blind index.

Layers:

* ``KeyEncryptionKey`` (protocol): wraps and unwraps data keys. ``LocalKek`` holds 32 bytes
  from a file or the environment; a KMS adapter implements the same three members.
* ``KeyRing``: the unwrapped data keys. ``field`` keys are versioned (``carrier keys rotate``
  adds a version; new writes use the newest, old versions stay readable); the single
  ``blind_index`` key is never rotated, since that would orphan every index entry.
* Ciphertext layout: ``0x01 | key version (u32 BE) | nonce (12) | AES-GCM ciphertext+tag``.
  The associated data binds the value to its place (``table/column/row id``), so a
  ciphertext copied into another row or column fails to decrypt.

Pure functions only: no database and no clock; ``store.py`` loads and saves the wrapped keys.
Exceptions never carry plaintext.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import phonenumbers
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = 0x01
KEY_BYTES = 32
NONCE_BYTES = 12
_HEADER = struct.Struct(">BI")
HEADER_BYTES = _HEADER.size + NONCE_BYTES


class DecryptError(Exception):
    """A ciphertext failed authentication or names an unknown key (no content disclosed)."""


class UnknownKeyVersion(DecryptError):
    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__(f"no data key version {version}")


class KeyEncryptionKey(Protocol):
    """Wraps data keys. ``key_id`` names the KEK so a wrong one is reported, not guessed."""

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


@dataclass(frozen=True)
class LocalKek:
    """A 32-byte KEK held in memory (from ``CARRIER_KEK`` or a 0600 key file)."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ValueError("a key-encryption key is 32 bytes")

    @property
    def key_id(self) -> str:
        return "local:" + hashlib.sha256(b"carrier-kek-id" + self.secret).hexdigest()[:16]

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.secret).encrypt(nonce, data_key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        try:
            return AESGCM(self.secret).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context
            )
        except InvalidTag as exc:
            raise DecryptError("data key does not unwrap with this key-encryption key") from exc

    @classmethod
    def from_base64(cls, text: str) -> LocalKek:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except ValueError as exc:
            raise ValueError("CARRIER_KEK is not valid base64") from exc
        return cls(raw)

    @classmethod
    def load_or_create(cls, path: Path) -> LocalKek:
        """Read the key file, creating it (mode 0600, folder 0700) on first start."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, os.urandom(KEY_BYTES))
                os.fsync(fd)
            finally:
                os.close(fd)
        raw = path.read_bytes()
        if len(raw) != KEY_BYTES:
            raise ValueError(f"{path} does not hold a 32-byte key")
        return cls(raw)


def key_file_exposure(path: Path) -> str | None:
    """Why a key file is exposed (group or others may read or write it), or None; the
    fix is in the text. A missing file is not exposed (it is made 0600)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None
    if mode & 0o077:
        return (f"{path} is open to other users (mode {mode:04o}): the key-encryption key"
                f" unlocks every record; chmod 600 {path} (owned by the user carrier runs as)")
    return None


def wrap_context(purpose: str, version: int) -> bytes:
    return f"carrier/data_key/{purpose}/{version}".encode()


def aad(table: str, column: str, row_id: object) -> bytes:
    """Associated data binding a ciphertext to one cell."""
    return f"{table}/{column}/{row_id}".encode()


def encrypt(
    key: bytes, version: int, plaintext: bytes, ad: bytes, *, nonce: bytes | None = None
) -> bytes:
    """Encrypt under data key ``version``; ``nonce`` is for test vectors only."""
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    return _HEADER.pack(FORMAT, version) + nonce + AESGCM(key).encrypt(nonce, plaintext, ad)


def key_version_of(ciphertext: bytes) -> int:
    if len(ciphertext) < HEADER_BYTES + 16:
        raise DecryptError("ciphertext too short")
    fmt, version = _HEADER.unpack_from(ciphertext)
    if fmt != FORMAT:
        raise DecryptError(f"unknown ciphertext format {fmt}")
    return int(version)


def decrypt(keys: Mapping[int, bytes], ciphertext: bytes, ad: bytes) -> bytes:
    version = key_version_of(ciphertext)
    key = keys.get(version)
    if key is None:
        raise UnknownKeyVersion(version)
    nonce = ciphertext[_HEADER.size : HEADER_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, ciphertext[HEADER_BYTES:], ad)
    except InvalidTag as exc:
        raise DecryptError("ciphertext failed authentication") from exc


class InvalidPhoneNumber(ValueError):
    """A phone number that does not parse as a valid number (the number is not echoed)."""


def normalize_e164(number: str, default_region: str = "US") -> str:
    """E.164 form of ``number`` (``+15555550123``); raises ``InvalidPhoneNumber``."""
    try:
        parsed = phonenumbers.parse(number, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber("phone number does not parse") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber("phone number is not a possible number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def lookup_form(number: str) -> str:
    """Normalised form for a lookup: already-E.164 input skips the (60 us) full parse.

    A string of E.164 shape that ``phonenumbers`` would reject simply matches nothing;
    writes always go through ``normalize_e164``.
    """
    return number if _E164.match(number) else normalize_e164(number)


def blind_index(index_key: bytes, value: str) -> bytes:
    """Keyed HMAC-SHA256 of an already-normalised value (e.g. an E.164 number)."""
    return hmac.new(index_key, value.encode(), hashlib.sha256).digest()


@dataclass
class KeyRing:
    """Unwrapped data keys: ``field`` versions and the blind-index key."""

    field_keys: dict[int, bytes]
    index_key: bytes = field(repr=False)

    def __repr__(self) -> str:  # keys never appear in logs or tracebacks
        return f"KeyRing(versions={sorted(self.field_keys)})"

    @property
    def active_version(self) -> int:
        return max(self.field_keys)

    def encrypt(self, plaintext: str | bytes, table: str, column: str, row_id: object) -> bytes:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        version = self.active_version
        return encrypt(self.field_keys[version], version, data, aad(table, column, row_id))

    def decrypt(self, ciphertext: bytes, table: str, column: str, row_id: object) -> bytes:
        return decrypt(self.field_keys, ciphertext, aad(table, column, row_id))

    def decrypt_str(self, ciphertext: bytes, table: str, column: str, row_id: object) -> str:
        return self.decrypt(ciphertext, table, column, row_id).decode()

    def phone_index(self, number: str) -> bytes:
        return blind_index(self.index_key, lookup_form(number))
