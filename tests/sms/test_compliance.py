"""CTIA keywords and their replies, the exempt-text limits, the minimum-necessary template,
10DLC campaign ids. Phrasings are split: a tuned set and a held-out set not tuned to."""

from __future__ import annotations

import pytest

from carrier.sms.compliance import (
    EVERY_CHANNEL,
    EXEMPT_TEXT_LIMIT,
    TEXTS,
    ExemptTextError,
    Keyword,
    Program,
    check_campaign_id,
    check_exempt_text,
    check_reminder_template,
    keyword,
    names_cancel,
    opt_out_channels,
    said_in_spanish,
)
from carrier.sms.settings import DEFAULT_REMINDER

TUNED = {
    "STOP": Keyword.STOP, "stop": Keyword.STOP, "Stop.": Keyword.STOP, " STOPALL ": Keyword.STOP,
    "unsubscribe": Keyword.STOP, "CANCEL": Keyword.STOP, "end": Keyword.STOP,
    "Quit": Keyword.STOP, "START": Keyword.START, "unstop": Keyword.START,
    "HELP": Keyword.HELP, "info": Keyword.HELP,
    "C": None, "cancel my appointment": None, "stop calling me at work please": None,
    "please help me reschedule": None, "": None,
}
HELD_OUT = {
    "Stop!": Keyword.STOP, "QUIT.": Keyword.STOP, "Unsubscribe!!": Keyword.STOP,
    "End ": Keyword.STOP, "Start!": Keyword.START, "Info?": Keyword.HELP, "help!": Keyword.HELP,
    "X": None, "can't make it": None, "ending soon?": None, "started": None,
    # FCC 24-24: revocation by any reasonable means; "stop it now" is one (was None).
    "stop it now": Keyword.STOP,
}


@pytest.mark.parametrize(("text", "want"), TUNED.items())
def test_keywords(text: str, want: Keyword | None) -> None:
    assert keyword(text) is want


def test_held_out_keywords() -> None:
    score = sum(keyword(t) is w for t, w in HELD_OUT.items())
    assert score == len(HELD_OUT), f"held-out {score}/{len(HELD_OUT)}"


def test_required_replies() -> None:
    program = Program("Demo Clinic", "+15550100100")
    stop = program.reply(Keyword.STOP)
    assert stop.startswith("Demo Clinic:")
    assert "unsubscribed" in stop
    assert "START" in stop
    start = program.reply(Keyword.START)
    assert "Msg & data rates may apply" in start
    assert "STOP" in start
    assert "HELP" in start
    help_ = program.reply(Keyword.HELP)
    assert "+15550100100" in help_
    assert "Msg frequency varies" in help_
    assert "STOP" in help_
    assert all(len(program.reply(k)) <= EXEMPT_TEXT_LIMIT for k in Keyword)


def test_exempt_limits_and_template() -> None:
    check_exempt_text("x" * 160)
    with pytest.raises(ExemptTextError) as err:
        check_exempt_text("x" * 161)
    assert err.value.rule == "sms.exempt.length"
    check_reminder_template(DEFAULT_REMINDER, "Demo Clinic")
    with pytest.raises(ValueError, match="minimum necessary"):
        check_reminder_template("{clinic}: your {provider} visit {day} {time}", "Demo Clinic")
    with pytest.raises(ValueError, match="160"):
        check_reminder_template(DEFAULT_REMINDER, "A Very Long Clinic Name " * 3)
    with pytest.raises(ValueError, match="template"):
        check_reminder_template("{clinic", "Demo Clinic")


@pytest.mark.parametrize("good", ["CDEMO01", "C1A2B3C"])
def test_campaign_ids(good: str) -> None:
    check_campaign_id(good)


@pytest.mark.parametrize("bad", ["cdemo01", "CDEMO1", "XDEMO01", "CDEMO012", "C-DEMO0"])
def test_bad_campaign_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="10DLC"):
        check_campaign_id(bad)


def test_an_opt_out_that_said_cancel_is_told_the_appointment_is_unchanged() -> None:
    """Bare "CANCEL" is an opt-out (FCC 24-24) even under a reminder offering X to cancel:
    the one confirmation says the appointment stands and how to cancel it."""
    reply = Program("Demo Clinic", "+15550100100").reply(Keyword.STOP, said_cancel=True)
    assert reply.startswith("Demo Clinic: You are unsubscribed")
    assert "appointment is unchanged" in reply
    assert "+15550100100" in reply
    assert "START" in reply
    assert len(reply) <= EXEMPT_TEXT_LIMIT
    assert names_cancel("Cancel please!")
    assert not names_cancel("STOP")


@pytest.mark.parametrize(("text", "want"), [
    ("cancel it", None),  # may be the appointment: the conversation asks which
    ("cancel all", Keyword.STOP), ("STOP help", Keyword.STOP), ("help start", None),
    ("take me off your list", Keyword.STOP), ("don't text me again", Keyword.STOP),
    ("don't cancel", None), ("info please", Keyword.HELP),
])
def test_keyword_edges(text: str, want: Keyword | None) -> None:
    assert keyword(text) is want


@pytest.mark.parametrize(("text", "calls"), [
    ("ALTO", True), ("Parar por favor", True), ("Cancelar", True), ("BAJA", True),
    ("AYUDA", False)])
def test_a_spanish_keyword_is_answered_in_spanish(text: str, calls: bool) -> None:
    """ALTO/PARAR/BAJA/CANCELAR/AYUDA were answered in English only."""
    program = Program("A Clinic Named Twenty", "+15550100100")
    kw = keyword(text)
    assert kw is not None
    for channels in (TEXTS, EVERY_CHANNEL):
        reply = program.reply(kw, said_cancel=names_cancel(text), channels=channels,
                              spanish=said_in_spanish(text))
        assert len(reply) <= EXEMPT_TEXT_LIMIT, reply
        assert "You are" not in reply, reply
        assert "Reply" not in reply, reply
        if kw is Keyword.STOP and channels == TEXTS:
            assert "STOP ALL" in reply
    assert not said_in_spanish("STOP")
    assert not said_in_spanish("Stop please")


@pytest.mark.parametrize(("text", "channels"), [
    ("STOP", TEXTS), ("stop texting me", TEXTS), ("STOP ALL", EVERY_CHANNEL),
    ("stopall", EVERY_CHANNEL), ("stop calling me", EVERY_CHANNEL),
    ("Stop texting and calling me", EVERY_CHANNEL), ("stop all texts", TEXTS),
    ("ALTO TODO", EVERY_CHANNEL), ("no me llamen", EVERY_CHANNEL), ("9", TEXTS)])
def test_what_a_text_opt_out_revokes_under_texts_only(
        text: str, channels: tuple[str, ...]) -> None:
    assert opt_out_channels(text, "sms") == channels
    assert opt_out_channels(text, "all") == EVERY_CHANNEL


@pytest.mark.parametrize(("text", "want"), [
    # Spelled out letter by letter (a keyboard's autocorrect fought, or emphasis).
    ("q u i t", Keyword.STOP), ("U.N.S.U.B.S.C.R.I.B.E", Keyword.STOP),
    ("h e l p", Keyword.HELP), ("a b c", None), ("I O U", None),
    # The Spanish forms of the English phrases already read as opt-outs.
    ("no me manden más mensajes", Keyword.STOP), ("No quiero recibir más mensajes", Keyword.STOP),
    ("sáquenme de la lista", Keyword.STOP), ("no me envíen mensajes por favor", Keyword.STOP),
    ("no más de 10 minutos tarde", None), ("no me manden la factura", None),
])
def test_spelled_out_and_spanish_phrased_opt_outs(text: str, want: Keyword | None) -> None:
    """Before, a keyword spelled out letter by letter was no keyword, and the Spanish
    phrasings of "no more messages", "don't text me" and "take me off the list" were not
    read as opt-outs (their English forms were): FCC 24-24's "any reasonable means"."""
    assert keyword(text) is want


def test_a_spanish_phrased_opt_out_is_answered_in_spanish() -> None:
    assert said_in_spanish("sáquenme de la lista")
    assert said_in_spanish("no me envíen mensajes")
    assert not said_in_spanish("take me off the list")
