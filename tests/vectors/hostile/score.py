"""Score carrier code on the hostile vectors of ``console_sms.json`` (tune and held-out).

``python -m tests.vectors.hostile.score`` prints each split's score and the misses (the
misses' inputs only: they are synthetic). ``tests/console/test_hostile_vectors.py`` holds
the scores as a floor. Each kind is read through the product's own code path:

* ``sms_keyword``: ``carrier.sms.compliance.keyword``;
* ``next``: the sign-in's ``next`` through ``login._safe_next`` and Starlette's redirect,
  then resolved as a browser does (WHATWG: tabs and newlines dropped, ``\\`` read as ``/``)
  against the console's origin: it must stay there;
* ``csv_cell``: a CDR whose ``workflow`` is the input, through ``cdr_csv``: the cell must
  not start a formula once a spreadsheet has trimmed and normalised it (NFKC, leading
  spaces, controls and format characters), unless it is quoted with a leading ``'``;
* ``gsm_parts``: each part's GSM-7 septets decoded by the SMPP link's codec, joined by
  ``InboundParts`` and finished as the link hands a text over.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

VECTORS = Path(__file__).with_name("console_sms.json")
ORIGIN = "https://console.example"


def _keyword(text: str) -> str:
    from carrier.sms.compliance import keyword  # noqa: PLC0415

    found = keyword(text)
    return "none" if found is None else found.value


def _next(path: str) -> str:
    from fastapi.responses import RedirectResponse  # noqa: PLC0415

    from carrier.console.login import _safe_next  # noqa: PLC0415

    location = RedirectResponse(_safe_next(path), status_code=303).headers["location"]
    browser = location.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")
    landed = urlsplit(urljoin(ORIGIN + "/login", browser.strip()))
    return "local" if (landed.scheme, landed.netloc) == ("https", "console.example") else (
        f"elsewhere:{landed.scheme}://{landed.netloc}")


def _csv_cell(value: str) -> str:
    from carrier.records.cdr import CallDetail, cdr_csv  # noqa: PLC0415

    t0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    detail = CallDetail("c1", "inbound", t0, t0 + dt.timedelta(seconds=5), "remote_bye",
                        workflow=value)
    rows = list(csv.DictReader(io.StringIO(cdr_csv([detail]), newline="")))
    cell = rows[0]["workflow"]
    if cell.startswith("'"):
        return "inert"
    seen = unicodedata.normalize("NFKC", cell)
    seen = seen.lstrip("".join(ch for ch in {*seen} if ch.isspace()
                               or unicodedata.category(ch) in ("Cc", "Cf")))
    return "formula" if seen[:1] in ("=", "+", "-", "@", "|") else "inert"


def _gsm_parts(parts: list[str]) -> str:
    from carrier.sms import smpp  # noqa: PLC0415
    from carrier.sms.parts import InboundParts, TextKey  # noqa: PLC0415

    joined = InboundParts()
    key = TextKey("+15555550142", "+15555550100", 9, len(parts))
    whole = None
    for number, hexed in enumerate(parts, start=1):
        text, _ = smpp.GSM7.decode(bytes.fromhex(hexed))
        whole = joined.add(key, number, text, now=0.0) if len(parts) > 1 else text
    assert whole is not None
    finish: Callable[[str], str] = getattr(smpp, "inbound_text", None) or smpp._paired  # type: ignore[attr-defined]
    return finish(whole)


KINDS: dict[str, Callable[[Any], str]] = {
    "sms_keyword": _keyword, "next": _next, "csv_cell": _csv_cell, "gsm_parts": _gsm_parts}


def score(split: str) -> tuple[int, int, list[str]]:
    cases = json.loads(VECTORS.read_text(encoding="utf-8"))[split]
    misses = []
    for case in cases:
        got = KINDS[case["kind"]](case["input"])
        if got != case["expect"]:
            misses.append(f"{case['kind']}: {case['input']!r} -> {got!r}"
                          f" (expected {case['expect']!r})")
    return len(cases) - len(misses), len(cases), misses


def main() -> int:
    for split in ("tune", "held_out"):
        good, total, misses = score(split)
        print(f"{split}: {good}/{total}")
        for miss in misses:
            print("  miss", miss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
