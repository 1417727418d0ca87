"""``carrier keys``: rotate data keys or the key-encryption key (KEK), re-encrypt every
encrypted value under the newest data key, count what each data key still holds, retire one.

An operator retiring an old data key runs ``keys rotate``, reloads or restarts every node (a
node keeps writing under the version it loaded), ``keys reencrypt`` (every column of
:func:`carrier.records.sealed.sealed_columns`, the carrier's and the application's, in
batches; run it again after an interruption), ``keys status`` (values per table and data-key
version: the old version must hold none) and ``keys retire VERSION`` (refused while any
value is under it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from carrier.errors import OperatorError
from carrier.records import keys as keysmod
from carrier.records import rekey
from carrier.records.audit_tx import append_audit
from carrier.records.cli_context import (
    add_json,
    emit,
    where,
    with_conn,
    with_records,
)
from carrier.records.cli_context import run as _run
from carrier.records.crypto import LocalKek
from carrier.records.kek_source import kek_source
from carrier.records.sealed import SealedColumn, sealed_columns
from carrier.records.store import Records
from carrier.stop_signals import INTERRUPTED, StopSignals


def register(subparsers: Any, common: Any) -> None:
    parser = subparsers.add_parser("keys", help="data keys: rotate, reencrypt, status, retire")
    sub = parser.add_subparsers(dest="keys_command", required=True)
    p = sub.add_parser(
        "rotate",
        help="add a data-key version and re-wrap every data key; or, with --old-kek-file,"
             " move the data keys to the key-encryption key the settings now name",
        description="Without options: add a data-key version (new writes use it) and re-wrap"
        " every data key under the configured key-encryption key (KEK). To change the KEK:"
        " put the new key where the settings name it (keys.kek_file, or $CARRIER_KEK), then"
        " run this with --old-kek-file naming the previous key: every data key is re-wrapped"
        " under the new KEK in one transaction (all or none), and no data-key version is"
        " added, so a node still running on the previous KEK reads on until its restart."
        " Keep the old key file until every node runs on the new one.",
    )
    common(p)
    p.add_argument(
        "--old-kek-file",
        type=Path,
        help="the key-encryption key the data keys are under now (32-byte file, read only)",
    )
    p.add_argument(
        "--new-kek-file",
        type=Path,
        help="accepted only when it is the configured key-encryption key file (keys.kek_file,"
             " or $CARRIER_KEK_FILE when keys.kek_file is not set)",
    )
    p.set_defaults(func=_keys_rotate)
    p = sub.add_parser(
        "reencrypt", help="re-encrypt every encrypted value under the newest data key",
        description="Every encrypted column (patients, transcripts, recordings, answers,"
        " console operators, feed identifiers and write-back payloads, and the"
        " application's: staff tasks, prescriptions, conversation memory) is moved to the"
        " newest data key, in batches, each committed; run it again after an interruption."
        " Transcript text stored in clear before encryption is encrypted too.")
    common(p)
    p.set_defaults(func=_keys_reencrypt)
    p = sub.add_parser("status", help="values per table still under older data-key versions")
    common(p)
    add_json(p)
    p.set_defaults(func=_keys_status)
    p = sub.add_parser("retire", help="delete an old data-key version that holds no value")
    common(p)
    p.add_argument("version", type=_version, help="the data-key version to retire")
    p.set_defaults(func=_keys_retire)


def _version(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a data-key version (a number)"
                                         ) from None
    if value < 1:
        raise argparse.ArgumentTypeError("a data-key version is 1 or more")
    return value


def _columns(args: argparse.Namespace) -> tuple[SealedColumn, ...]:
    from carrier.app import load_application  # noqa: PLC0415 - the application, only here

    return sealed_columns(load_application(where(args).settings))


def _old_kek(path: Path) -> LocalKek:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OperatorError(f"--old-kek-file {path}: {exc.strerror}") from None
    try:
        return LocalKek(raw)
    except ValueError:
        raise OperatorError(f"--old-kek-file: {path} does not hold a 32-byte key") from None


def _check_new_kek_file(args: argparse.Namespace) -> None:
    """``--new-kek-file`` must be the KEK the settings name: re-wrapping under any other
    would leave every data key under a key no command or restart reads."""
    source = kek_source(where(args).settings)
    given = Path(args.new_kek_file)
    if source.path is None or given.resolve() != source.path.resolve():
        raise OperatorError(
            f"--new-kek-file {args.new_kek_file} is not the configured key-encryption key"
            f" ({source.what}); nothing was changed. Put the new key where the settings"
            " name it (keys.kek_file) first, then run carrier keys rotate --old-kek-file"
            " <the previous key file>"
        )


def _keys_rotate(args: argparse.Namespace) -> int:
    if args.new_kek_file is not None:
        _check_new_kek_file(args)
    old = _old_kek(args.old_kek_file) if args.old_kek_file is not None else None
    moved: list[int] = []

    async def audit(conn: asyncpg.Connection, version: int | None) -> None:
        """In the transaction that changed the keys: both, or neither."""
        await append_audit(conn, actor=args.actor, action="keys.rotate",
                           record=("data_keys", version or "kek"), reason="operator",
                           details={"rewrapped": moved[0], "new_kek": old is not None},
                           at=datetime.now(UTC))

    versions: list[int | None] = [None]

    async def prepare(conn: Any, kek: LocalKek) -> None:
        # On the owner's connection (the application role may not change data keys, 0842),
        # before the keyring loads.
        async with conn.transaction():
            if old is not None:  # the keys are under the old KEK: move them
                moved.append(await keysmod.rewrap(conn, old, kek))
            else:  # every key must unwrap first (else: the KEK mismatch, said as such)
                await keysmod.load_keyring(conn, kek)
                versions[0] = await keysmod.rotate(conn, kek)
                # Re-wrap every data key (fresh nonces) under the configured KEK.
                moved.append(await keysmod.rewrap(conn, kek, kek))
            await audit(conn, versions[0])

    async def go(records: Records) -> str:
        version = versions[0]
        head = "" if version is None else f"data key version {version} created; "
        return f"{head}{moved[0]} data keys re-wrapped under {records.kek.key_id}"

    print(_run(with_records(args, go, prepare=prepare)))
    return 0


def _per_table(counts: dict[str, int]) -> dict[str, int]:
    tables: dict[str, int] = {}
    for name, n in counts.items():
        table = name.partition(".")[0]
        tables[table] = tables.get(table, 0) + n
    return tables


_SHOWN = 5  # rows named in the one error line (all are printed and audited)


def _keys_reencrypt(args: argparse.Namespace) -> int:
    columns = _columns(args)

    async def go(records: Records) -> tuple[rekey.Moved, int, int, int, int, bool]:
        active = records.keys.active_version
        stop = asyncio.Event()
        signals = StopSignals(stop)  # Ctrl-C / SIGTERM: no further batch, then the audit
        async with records.pool.acquire() as conn:
            await keysmod.notify_nodes(conn)  # a node that missed the rotation loads it now
            turns = await keysmod.encrypt_legacy_transcripts(conn, records.keys, stop=stop)
            patients = await keysmod.reencrypt_patients(conn, records.keys, stop=stop)
            moved = await rekey.reencrypt_all(conn, records.keys, columns, stop=stop)
            # what is still under older versions (as keys status counts it), besides the
            # values named unreadable: rows other transactions held (skipped, for the next
            # run), or not reached before an interrupt
            left = (sum(c.old(active) for c in await _counts(conn, columns))
                    + int(await conn.fetchval(
                        "SELECT count(*) FROM call_transcripts WHERE text IS NOT NULL")))
        interrupted = signals.received is not None
        busy = left - len(moved.left)
        tables = _per_table(moved.moved)
        tables["patients"] = tables.get("patients", 0) + patients
        await records.audit(
            args.actor, "keys.reencrypt", ("data_keys", records.keys.active_version),
            "operator",
            {"rows": moved.rows + patients, "version": records.keys.active_version,
             "turns": turns, "unreadable": sum(moved.unreadable.values()),
             "busy": 0 if interrupted else busy, "left": left, "interrupted": interrupted,
             "tables": " ".join(f"{t}={n}" for t, n in sorted(tables.items()) if n)})
        for name, row_id in moved.left:  # each value left behind, by id, for the auditor
            await records.audit(args.actor, "keys.value_unreadable", (name, row_id),
                                "operator", {"version": records.keys.active_version})
        return moved, patients, turns, busy, left, interrupted

    moved, patients, turns, busy, left, interrupted = _run(with_records(args, go))
    print(f"{patients} patient rows re-encrypted")
    for table, n in sorted(_per_table(moved.moved).items()):
        print(f"{table}: {n} values re-encrypted")
    print(f"{moved.rows + patients} values in all now under the newest data key")
    if turns:
        print(f"{turns} transcript turns stored in clear are now encrypted")
    for name, row_id in moved.left:
        print(f"left as it is (does not decrypt): {name} row {row_id}")
    if interrupted:
        print(f"carrier keys reencrypt: interrupted; what was re-encrypted before the stop is"
              f" kept and audited, {left} values are still under older data keys (or in"
              " clear): run carrier keys reencrypt again", file=sys.stderr)
        return INTERRUPTED
    if moved.left:
        shown = ", ".join(f"{name} row {row_id}" for name, row_id in moved.left[:_SHOWN])
        more = len(moved.left) - _SHOWN
        raise OperatorError(
            f"{len(moved.left)} values do not decrypt with the data keys and were left as"
            f" they are ({shown}{f' and {more} more, listed above' if more > 0 else ''};"
            " audited as keys.value_unreadable); every other value was re-encrypted"
            + (f" but {busy} held by other transactions at the time" if busy > 0 else "")
            + "; see carrier keys status")
    if busy > 0:
        raise OperatorError(
            f"{busy} values are still under older data keys (their rows were held by other"
            " transactions and skipped): run carrier keys reencrypt again")
    return 0


async def _counts(conn: asyncpg.Connection, columns: tuple[SealedColumn, ...]
                  ) -> list[rekey.ColumnCount]:
    return [await rekey.count_column(conn, col) for col in columns]


def _keys_status(args: argparse.Namespace) -> int:
    columns = _columns(args)

    async def go(conn: asyncpg.Connection) -> tuple[list[Any], list[rekey.ColumnCount], int]:
        keys = await rekey.data_key_versions(conn)
        counts = await _counts(conn, columns)
        clear = int(await conn.fetchval(
            "SELECT count(*) FROM call_transcripts WHERE text IS NOT NULL"))
        return keys, counts, clear

    keys, counts, clear = _run(with_conn(args, go))
    if not keys:
        raise OperatorError("no data keys yet: the records were never opened with a key")
    active = max(k["version"] for k in keys)
    versions = {str(k["version"]): 0 for k in keys}
    for c in counts:
        for v, n in c.versions.items():
            versions[str(v)] = versions.get(str(v), 0) + n
    old = sum(c.old(active) for c in counts)
    doc = {
        "active_version": active,
        "keys": [{"version": k["version"], "kek_id": k["kek_id"],
                  "created_at": k["created_at"].isoformat()} for k in keys],
        "columns": [{"table": c.table, "column": c.column, "values": c.values,
                     "old": c.old(active), "missing": c.missing,
                     "versions": {str(v): n for v, n in sorted(c.versions.items())}}
                    for c in counts],
        "values": sum(c.values for c in counts),
        "old_values": old + clear,
        "clear_transcript_turns": clear,
        "versions": versions,
    }
    lines = [f"active data key: version {active}"]
    lines += [f"version {v}: {n} values" for v, n in versions.items()]
    lines += [f"{c.table}.{c.column}: {c.old(active)} of {c.values} under older versions"
              for c in counts if c.old(active)]
    if clear:
        lines.append(f"call_transcripts: {clear} turns stored in clear")
    lines.append("nothing left under older versions" if not doc["old_values"] else
                 f"{doc['old_values']} values left: run carrier keys reencrypt")
    emit(args, doc, lines)
    return 0


def _waiting(data_dir: Path) -> list[Path]:
    """Spool files of this data folder still holding writes (not yet in the database: they
    may be encrypted under the version to retire). Dead-letter files are not replayed."""
    spool = data_dir / "spool"
    return sorted(f for f in spool.rglob("*.jsonl")
                  if not f.name.endswith(".dead.jsonl") and f.stat().st_size) \
        if spool.is_dir() else []


def _set_aside(data_dir: Path) -> list[Path]:
    """Spool files of this data folder holding rows no replay will bring in: those the
    database refused (``*.dead.jsonl``) and corrupt spools set aside (``*.corrupt-N``).
    They may hold values encrypted under the version to retire, readable only with it."""
    spool = data_dir / "spool"
    return sorted(f for f in spool.rglob("*")
                  if (f.name.endswith(".dead.jsonl") or ".corrupt-" in f.name)
                  and f.is_file() and f.stat().st_size) if spool.is_dir() else []


def _keys_retire(args: argparse.Namespace) -> int:
    columns = _columns(args)
    version = args.version
    spool = where(args).data_dir / "spool"
    waiting = _waiting(where(args).data_dir)
    if waiting:
        raise OperatorError(
            f"{len(waiting)} spool file(s) under {spool} still hold"
            " writes not yet in the database (they may be under that data key); nothing was"
            " retired: let serve replay them (or run any records command), then retire")
    aside = _set_aside(where(args).data_dir)
    if aside:
        raise OperatorError(
            f"{len(aside)} dead-letter or set-aside spool file(s) under {spool}"
            " (*.dead.jsonl, *.corrupt-N) hold rows the database refused or could not"
            " replay; they may be encrypted under that data key and would never read"
            " without it; nothing was retired: resolve them (re-enter or archive them"
            " with the key still present), move them out of the spool, then retire")

    async def check_and_delete(conn: asyncpg.Connection) -> None:
        async with conn.transaction():  # the key goes with its audit entry, or neither
            await conn.execute("LOCK TABLE data_keys IN SHARE ROW EXCLUSIVE MODE")
            known = [r["version"] for r in await rekey.data_key_versions(conn)]
            if version not in known:
                raise OperatorError(f"no data key version {version} (versions: "
                                    f"{', '.join(map(str, known)) or 'none'})")
            if version == max(known):
                raise OperatorError(f"data key version {version} is the active one; rotate"
                                    " first (carrier keys rotate), then reencrypt")
            held = sum(c.versions.get(version, 0) for c in await _counts(conn, columns))
            if held:
                raise OperatorError(
                    f"data key version {version} still encrypts {held} values; nothing was"
                    " retired: run carrier keys reencrypt, then carrier keys status")
            await keysmod.retire(conn, version)
            await append_audit(conn, actor=args.actor, action="keys.retire",
                               record=("data_keys", version), reason="operator",
                               details={"version": version}, at=datetime.now(UTC))

    _run(with_conn(args, check_and_delete))
    print(f"data key version {version} retired")
    return 0

