"""What ``carrier serve`` does with ``retention.*``.

:func:`retention_pass` / :func:`retention_loop`: the retention policy of the ``retention``
section (transcripts, recordings, texts, callers' raw answers, delivered feed messages,
and the application's tables as :class:`carrier.plugin.RetainsText` names them:
conversation memory, done staff tasks; audit and consent never under six years) and the
dialing and billing evidence (the dialer's decisions and outreach, call records and call
detail records, the application's past appointments as :class:`carrier.plugin.RetainsEvidence`
names them; never under four years), run at start and then every ``RETENTION_EVERY_S``;
the application's calendar slots once past (:class:`carrier.plugin.RetainsSlots`,
``retention.slot_days``); each purge is audited. :func:`policy_of` is the one policy
(:func:`policy_for` of a hosted application): ``carrier retention run`` and the console's
retention apply it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Sequence

import asyncpg

from carrier.plugin import RetainsEvidence, RetainsSlots, RetainsText
from carrier.records.retention import PurgeResult, PurgeTarget, RetentionPolicy, run_retention
from carrier.records.store import Records
from carrier.settings import Settings

log = logging.getLogger("carrier.upkeep")
RETENTION_EVERY_S = 24 * 3600.0


# The carrier's own tables whose PHI is kept as long as transcripts: texts, the raw answers
# a caller gave (encrypted), and feed messages once delivered (``sent_at``; one pending or
# failed has none and is kept for the operator).
TEXT_TABLES = (("sms_messages", "at"), ("call_answers", "at"), ("feed_outbox", "sent_at"))


def app_tables(app: object) -> Sequence[tuple[str, str]]:
    """The hosted application's tables kept as long as transcripts (none when it names
    none): every way retention runs passes them, so all purge alike."""
    return app.retained_tables if isinstance(app, RetainsText) else ()


def app_evidence(app: object) -> Sequence[tuple[str, str]]:
    """The hosted application's tables of dialing evidence (none when it names none)."""
    return app.evidence_tables if isinstance(app, RetainsEvidence) else ()


def app_slots(app: object) -> Sequence[tuple[str, str, str]]:
    """The hosted application's calendar slot tables (none when it names none)."""
    return app.slot_tables if isinstance(app, RetainsSlots) else ()


def policy_of(settings: Settings, text_tables: Sequence[tuple[str, str]] = (),
              evidence_tables: Sequence[tuple[str, str]] = (),
              slot_tables: Sequence[tuple[str, str, str]] = ()) -> RetentionPolicy:
    """The one policy of ``carrier serve``, ``carrier retention run`` and the console.
    ``text_tables``: the application's tables kept as long as transcripts
    (:func:`app_tables`), besides the carrier's own ``TEXT_TABLES``; ``evidence_tables``:
    its tables kept as long as the dialer's evidence (:func:`app_evidence`);
    ``slot_tables``: its calendar slots, kept ``retention.slot_days`` (:func:`app_slots`)."""
    r = settings.retention
    extra = (*(PurgeTarget(table, column, r.transcript_days)
               for table, column in (*TEXT_TABLES, *text_tables)),
             *(PurgeTarget(table, column, r.slot_days, guard, setting="slot_days")
               for table, column, guard in slot_tables))
    return RetentionPolicy.from_days(audit_days=r.audit_days, consent_days=r.consent_days,
                                     transcript_days=r.transcript_days,
                                     recording_days=r.recording_days,
                                     dial_evidence_days=r.dial_evidence_days,
                                     call_record_days=r.call_record_days, extra=extra,
                                     app_evidence=evidence_tables)


def policy_for(settings: Settings, app: object) -> RetentionPolicy:
    """:func:`policy_of` with the hosted application's tables."""
    return policy_of(settings, app_tables(app), app_evidence(app), app_slots(app))


async def retention_pass(records: Records, settings: Settings, now: dt.datetime, *,
                         text_tables: Sequence[tuple[str, str]] = (),
                         evidence_tables: Sequence[tuple[str, str]] = (),
                         slot_tables: Sequence[tuple[str, str, str]] = ()
                         ) -> list[PurgeResult]:
    results = await run_retention(
        records, policy_of(settings, text_tables, evidence_tables, slot_tables),
        now=now, actor="system:retention")
    purged = {r.table: r.rows for r in results if r.rows}
    log.info("retention pass", extra={"purged": purged})
    return results


async def retention_loop(records: Records, settings: Settings, stop: asyncio.Event, *,
                         every: float = RETENTION_EVERY_S,
                         text_tables: Sequence[tuple[str, str]] = (),
                         evidence_tables: Sequence[tuple[str, str]] = (),
                         slot_tables: Sequence[tuple[str, str, str]] = ()) -> None:
    """A pass at start, then every ``every`` seconds, until ``stop``."""
    while not stop.is_set():
        try:
            await retention_pass(records, settings, dt.datetime.now(dt.UTC),
                                 text_tables=text_tables, evidence_tables=evidence_tables,
                                 slot_tables=slot_tables)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                asyncpg.InternalClientError) as exc:
            log.warning("retention pass failed: %s", type(exc).__name__)  # next pass retries
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every):
                await stop.wait()
