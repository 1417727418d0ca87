"""A patient confirms an appointment by voice in headless Debian Chromium (WebRTC to aiortc).

The synthetic patient's answers are one WAV file (Piper, as the SIP e2e tests make them),
with pauses between answers, played by Chromium's fake microphone
(``--use-file-for-fake-audio-capture``). The page offers its microphone over WebRTC; the
agent's ``VoiceCallHandler`` runs the call on the browser's audio and speaks back over the
WebRTC track. The number typed is not vouched for, so the workflow asks the date of birth
and the full name before the appointment; then "confirm". Postgres shows the appointment
confirmed and the transcript stored redacted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.handler import AgentRuntime
from carrier.plugin import OutcomeKind
from carrier.records.store import Records
from tests.webchat.conftest import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--no-default-browser-check", "--use-fake-ui-for-media-stream",
         "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
         # host candidates as addresses, not mDNS names (aiortc on the same machine)
         "--disable-features=WebRtcHideLocalIpsWithMdns")
# (answer, silence before it): each answer comes once the agent has finished asking for it
# (its questions take about 15, 3, 4 and 12 s to say, and it answers within 2-5 s on a
# loaded machine);
# speech over the agent's voice is double talk for the browser's echo canceller, which
# may eat part of it. A lone short word loses its onset too easily ("Confirm." heard as
# "Inform." once under load): the last answer says it in a sentence. The file loops, so
# a long tail.
ANSWERS = (("Yes, this is Mary.", 17.0), ("July fourth, nineteen seventy.", 9.0),
           ("Mary Smith.", 10.0), ("Yes, please confirm my appointment.", 16.0))
TAIL_S = 90.0
PHONE = "+15550100177"  # a synthetic patient with a name speech recognition knows

pytestmark = [pytest.mark.postgres, pytest.mark.models, pytest.mark.slow, pytest.mark.call_speech,
              pytest.mark.timeout(240),
              pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                 reason="Debian chromium and chromium-driver are needed")]


async def patient_wav(rt: AgentRuntime, path: Path) -> Path:
    """The answers, each after a pause long enough for the agent to ask the next question."""
    assert rt.tts is not None
    parts = []
    for text, pause_s in ANSWERS:
        parts += [np.zeros(int(pause_s * 16000), dtype=np.int16), await rt.tts.synthesize(text)]
    parts.append(np.zeros(int(TAIL_S * 16000), dtype=np.int16))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.concatenate(parts).astype("<i2").tobytes())
    return path


def start_chromium(wav: Path, profile: Path) -> Any:
    from selenium import webdriver  # noqa: PLC0415 - only the browser tests need it
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager may not fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--use-file-for-fake-audio-capture={wav}")
    options.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                            options=options)


def open_voice(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    driver.get(url)
    driver.find_element(By.ID, "phone").send_keys("555-010-0177")
    driver.find_element(By.ID, "start-voice").click()


async def test_patient_confirms_by_voice_in_chromium(
        runtime: AgentRuntime, records: Records, tmp_path: Path) -> None:
    wav = await patient_wav(runtime, tmp_path / "patient.wav")
    now = dt.datetime.now(dt.UTC)
    pid = await records.add_patient("Mary Smith", PHONE, dob=dt.date(1970, 7, 4),
                                    actor="test", reason="synthetic webchat patient")
    [slot] = await runtime.calendar.free_slots(after=now + dt.timedelta(days=1), limit=1)
    appt = await runtime.calendar.book(str(pid), slot.id, now)
    async with serving(runtime) as (server, base):
        driver = await asyncio.to_thread(start_chromium, wav, tmp_path / "profile")
        try:
            await asyncio.to_thread(open_voice, driver, base + "/")
            # Bounded wait on the browser (an outside process) and the conversation.
            async with asyncio.timeout(150):
                await server.wait_outcomes(1)
            state = await asyncio.to_thread(driver.execute_script,
                                            "return document.body.dataset.state")
        except BaseException:
            await asyncio.to_thread(driver.save_screenshot, str(tmp_path / "failure.png"))
            raise
        finally:
            await asyncio.to_thread(driver.quit)
            shutil.rmtree(tmp_path / "profile", ignore_errors=True)

    [outcome] = server.outcomes
    turns = await records.call_transcript(outcome.call_id)
    assert outcome.kind is OutcomeKind.CONFIRMED, "\n".join(f"{s}: {t}" for s, t in turns)
    assert state in ("connected", "ended")
    assert await records.pool.fetchval(
        "SELECT status FROM sched_appointments WHERE id = $1", appt.id) == "confirmed"
    stored = " ".join(t for _, t in turns)
    assert "[NAME]" in stored
    assert "Mary" not in stored
    assert "Smith" not in stored
    assert "nineteen seventy" not in stored.lower()
    assert "1970" not in stored
