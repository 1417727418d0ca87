"""Every column that holds data-key ciphertext, and how each cell is bound (the associated
data ``table/column/row id`` of :func:`carrier.records.crypto.aad`), so ``carrier keys
reencrypt`` can move every value to the newest data key and ``carrier keys status`` can
count what is left under older ones.

The carrier lists its own columns here (:data:`CARRIER_COLUMNS`); a hosted application lists
the columns of its own tables (:class:`carrier.plugin.SealsColumns`). A column nobody lists
would keep an old data key alive (tests/ops/test_keys_reencrypt_all.py checks the schema).

Pure description: no database, no keys (:mod:`carrier.records.rekey` acts on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from carrier.plugin import SealsColumns


@dataclass(frozen=True)
class SealedColumn:
    """``table.column`` holds ciphertext bound to ``aad(bound_table, bound_column, row id)``.

    ``row_id``: a SQL expression (of the row) giving the row id as the writer formats it.
    ``bound_column``: the column name in the associated data (default: ``column``);
    ``bound_column_sql``: a SQL expression instead, when each row names its own
    (``call_answers`` binds to the answers' kind). ``bound_table`` defaults to ``table``.
    Every name is a trusted constant of the code, never operator input."""

    table: str
    column: str
    row_id: str
    bound_column: str = ""
    bound_column_sql: str = ""
    bound_table: str = ""

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def aad_table(self) -> str:
        return self.bound_table or self.table

    @property
    def aad_column_sql(self) -> str:
        """The SQL expression of the associated data's column name."""
        if self.bound_column_sql:
            return self.bound_column_sql
        literal = self.bound_column or self.column
        return "'" + literal.replace("'", "''") + "'"


CARRIER_COLUMNS: tuple[SealedColumn, ...] = (
    *(SealedColumn("patients", c, "id::text")
      for c in ("phone_ct", "name_ct", "dob_ct", "member_id_ct")),
    SealedColumn("call_transcripts", "text_ct", "call_id || '/' || seq::text"),
    SealedColumn("call_recordings", "audio_ct", "call_id"),
    SealedColumn("call_answers", "answers_ct", "call_id", bound_column_sql="kind"),
    SealedColumn("console_operators", "totp_secret_ct", "id::text"),
    SealedColumn("feed_patients", "ref_ct", "encode(ref_bidx, 'hex')"),
    SealedColumn("feed_outbox", "payload_ct", "dedup_key", bound_column="payload"),
)


def sealed_columns(app: object | None = None) -> tuple[SealedColumn, ...]:
    """The carrier's columns, then those the hosted application lists."""
    extra: Sequence[SealedColumn] = (
        app.sealed_columns if isinstance(app, SealsColumns) else ())
    return (*CARRIER_COLUMNS, *extra)
