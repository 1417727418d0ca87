""""Cancélela" is a cancel of the appointment; "sale", "órale", "ándale" are a yes.

Before: "cancélela por favor" (cancel it, the appointment) read as a bare "cancel", which
the engine must ask about (appointment, or stop the calls?) as if nothing said which;
"sale", "órale", "ándale" (Mexican Spanish for "OK, yes") were nothing, a missed turn.
Now a cancel whose object pronoun is "la" (la cita) cancels the appointment, and those words
said as the whole turn are a yes. ``HELD_OUT`` was written before and is only scored.
"""

from __future__ import annotations

import pytest

from agent.grammar import understand
from agent.grammar.es import to_canonical

CANCEL_IT = ["cancélela por favor", "cancélala", "sí, cancélenla"]
YES = ["sale", "órale pues", "ándale"]
NOT_YES = ["sale muy caro", "sale a las tres", "¿a qué hora sale el doctor?"]
HELD_OUT = [("anúlela por favor", "cancel"), ("cancelarla, por favor", "cancel"),
            ("¿me la cancela?", "cancel"), ("simón", "affirm"), ("sale pues", "affirm"),
            ("órale", "affirm")]


def intents(said: str) -> frozenset[str]:
    return understand(to_canonical(said)).intents


@pytest.mark.parametrize("said", CANCEL_IT)
def test_cancel_it_is_the_appointment(said: str) -> None:
    assert "cancel" in intents(said)
    assert "cancel_ambiguous" not in intents(said)


@pytest.mark.parametrize("said", YES)
def test_colloquial_yes(said: str) -> None:
    assert "affirm" in intents(said)


@pytest.mark.parametrize("said", NOT_YES)
def test_sale_in_a_sentence_is_no_yes(said: str) -> None:
    assert "affirm" not in intents(said)


def test_held_out_report() -> None:
    right = sum(want in intents(said) for said, want in HELD_OUT)
    print(f"\nSpanish cancel-it / colloquial-yes held-out: {right}/{len(HELD_OUT)}")
    assert right >= 0  # a report, never tuned to


@pytest.mark.parametrize(("said", "canonical"), [
    ("nací el 3 de marzo de 1980, quiero cambiar mi cita", "March 3 1980"),
    ("3 de marzo de 1980 y necesito cancelar la cita", "March 3 1980"),
    ("el cinco de marzo del 1980 pero quiero otro día", "March 5 1980"),
])
def test_a_date_of_birth_said_with_a_request_keeps_its_year(said: str, canonical: str) -> None:
    """Before: a year in digits followed by more words was dropped ("March 3"), so the
    date of birth said with a wish to move or cancel was no whole date (the English
    "born March 3 1980, I need to move my appointment" is acted on after verification)."""
    assert canonical in to_canonical(said)


def test_identity_birth_date_and_a_move_in_one_spanish_breath() -> None:
    from agent.workflow.effects import Utterance  # noqa: PLC0415
    from agent.workflow.engine import Conversation  # noqa: PLC0415
    from agent.workflow.loader import load_all  # noqa: PLC0415
    from tests.workflow.helpers import NOW, WORKFLOWS  # noqa: PLC0415

    record = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
              "patient": {"id": "p1", "first_name": "Testa", "dob": "1980-03-03"},
              "appointment": {"id": "a1", "status": "booked"}}
    conv = Conversation(load_all(WORKFLOWS)["appointment_reminder"], record, call_id="c1")
    conv.start(NOW)
    conv.handle(Utterance(to_canonical(
        "sí, soy yo, nací el 3 de marzo de 1980, quiero cambiar mi cita")), NOW)
    assert conv.verified
    assert conv.state == "find_slots"
