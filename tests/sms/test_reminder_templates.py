"""Both reminder texts, English and Spanish, are settings in the one place operators edit
(``sms.reminder_template``, ``sms.reminder_template_es``), each checked at start: only the
minimum-necessary fields, 160 characters at its longest, and the STOP wording. Before: the
Spanish text was built into the agent (an operator could not word it, and nothing at
start checked it), and an English template without STOP was accepted."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from agent.handler import patient_uuid
from agent.runtime import VoiceAgent
from carrier.dialer.service import DialerService
from carrier.errors import ConfigError
from carrier.records.store import Records
from carrier.settings import load_settings
from carrier.sms.wiring import run_sms
from tests.dialer.test_integration_records import add_appointment
from tests.peers.smsc_peer import Smsc
from tests.sms.test_cli_e2e import config_dir
from tests.sms.test_serve_wiring import DEMO_PHONE, NoTrunk

OURS_ES = ("{clinic}: le recordamos su cita del {day} {time}. C confirma, R cambia, "
           "X cancela. STOP para no recibir más")


def test_the_spanish_template_is_a_setting_checked_at_start(tmp_path: Path) -> None:
    ok = load_settings(config_dir(tmp_path / "a", reminder_template_es=OURS_ES))
    assert ok.sms.reminder_template_es == OURS_ES
    assert "STOP" in load_settings(config_dir(tmp_path / "d")).sms.reminder_template_es
    bad = [
        ({"reminder_template_es": "{clinic}: cita {day} {time} por su {reason}. STOP"},
         "sms.reminder_template_es", "minimum necessary"),
        ({"reminder_template_es": "{clinic}: " + "x" * 120 + " {day} {time} STOP"},
         "sms.reminder_template_es", "characters"),
        ({"reminder_template_es": "{clinic}: cita el {day} {time}. Responda C, R o X."},
         "sms.reminder_template_es", "STOP"),
        ({"reminder_template": "{clinic}: appointment {day} at {time}. Reply C, R or X."},
         "sms.reminder_template", "STOP"),
    ]
    for i, (sms, key, why) in enumerate(bad):
        with pytest.raises(ConfigError) as err:
            load_settings(config_dir(tmp_path / f"b{i}", **sms))
        assert err.value.key == key, sms
        assert why in str(err.value), str(err.value)


@pytest.mark.postgres
async def test_a_spanish_reminder_is_worded_as_the_setting_says(
        tmp_path: Path, records: Records, smsc: Smsc, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(config_dir(tmp_path, smsc_port=smsc.port,
                                        system_id=smsc.system_id, reminders_by_text_h=[72],
                                        reminder_template_es=OURS_ES))
    monkeypatch.setenv(settings.sms.password_env, smsc.password)
    app = VoiceAgent()
    await app.start(settings, records, speech=False)
    pid = patient_uuid("pat-1001")
    await records.consent_grant(pid, "sms", "tcpa_express", source="t", evidence_ref="t",
                                actor="t")
    await records.set_patient_language(pid, "es", actor="t", reason="t")
    # The send reads the wall clock: a zone where it is midday now passes quiet hours.
    offset = 12 - dt.datetime.now(dt.UTC).hour
    zone = "Etc/GMT" + (f"+{-offset}" if offset < 0 else f"-{offset}") if offset else "UTC"
    await records.pool.execute("UPDATE patients SET time_zone = $1 WHERE id = $2", zone, pid)
    start = dt.datetime(2030, 3, 12, 14, 30, tzinfo=dt.UTC)
    await add_appointment(records.pool, "t-es", str(pid), start)
    dialer = DialerService.build(settings, records, NoTrunk(), app.appointments)
    texts = dialer.runner.texts
    assert texts is not None
    stop = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(run_sms(settings, records, app, stop, texts))
            await smsc.wait("bound", timeout=20)
            await smsc.mo(DEMO_PHONE, settings.sms.from_number, "HELP")  # once answered,
            await smsc.wait("submit", timeout=20)  # the link and the handler are up
            handler = texts.current
            assert handler is not None
            await handler.send_reminder(str(pid), "t-es")
            sent = (await smsc.wait("submit", timeout=20, dest=DEMO_PHONE))["text"]
            assert sent.startswith("Maple Grove Family Clinic: le recordamos su cita del "
                                   "martes 12 de marzo a las 10:30 am. C confirma"), sent
            assert sent.endswith("STOP para no recibir más")
            stop.set()
    finally:
        await app.stop()


def _clinic_named(folder: Path, name: str) -> None:
    import yaml  # noqa: PLC0415

    clinic_file = folder / "clinic.yaml"
    clinic = yaml.safe_load(clinic_file.read_text())
    clinic["clinic"]["name"] = name
    clinic_file.write_text(yaml.safe_dump(clinic))


@pytest.mark.postgres
async def test_the_start_check_sizes_reminders_with_the_clinic_name_they_carry(
        tmp_path: Path, records: Records) -> None:
    """A reminder's ``{clinic}`` is the clinic file's name, not ``sms.brand``. Before, the
    start check sized the templates with the brand: a clinic file whose name is longer
    passed the check and every reminder over 160 characters was refused at send time (a
    brand longer than the clinic's name refused a start whose texts fit). Now the agent
    sizes them with the name it fills in, at start and on reload."""
    long_name = "Saint Testaverde Regional Family Medicine and Pediatrics"  # 56 characters
    folder = config_dir(tmp_path / "a", brand="Demo Clinic")
    _clinic_named(folder, long_name)
    settings = load_settings(folder)  # the carrier alone cannot know the clinic's name
    with pytest.raises(ConfigError) as refused:
        await VoiceAgent().start(settings, records, speech=False)
    assert refused.value.key == "sms.reminder_template"
    assert "clinic" in str(refused.value)
    assert "160" in str(refused.value)

    # A brand longer than any text allows, and a short clinic name: the texts fit.
    folder = config_dir(tmp_path / "b", brand="B" * 60)
    _clinic_named(folder, "Testa Clinic")
    app = VoiceAgent()
    await app.start(load_settings(folder), records, speech=False)
    try:
        _clinic_named(folder, long_name)  # reload with the longer name: refused, kept
        with pytest.raises(ConfigError):
            await app.reload(load_settings(folder))
        assert app.runtime is not None
        assert app.runtime.clinic.name == "Testa Clinic"
    finally:
        await app.stop()
