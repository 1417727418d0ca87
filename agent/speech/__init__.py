"""Local speech pipeline: speech-to-text, endpointing, early transcription, barge-in, TTS.

Public API (everything runs offline; models come from PyPI packages, see ``models``):

``SpeechToText(SttConfig(model_dir=whisper_model_dir(path), workers=2))``
    ``await stt.start()`` spawns the worker processes and loads Whisper once in each;
    ``await stt.transcribe(pcm16k_int16, Hints(expected=("yes", "no"))) -> Transcript``;
    ``stt.idle_workers``; ``await stt.close()``. A dead worker raises ``SttWorkerError``
    (``start()`` again rebuilds the pool). Requests wait in a scheduler (shortest first
    with aging, ``schedule.BatchScheduler``) and go to a free worker in batches of up to
    ``SttConfig.max_batch`` (``stt.stats``); the encoder window fits the utterance
    (``SttConfig.window_for``), and a result that loops is decoded again at ``window_s``,
    then (still looping) at ``retry_window_s``.
``Endpointer(EndpointConfig(...))``
    sans-IO; ``feed(frame, now=None) -> [SpeechStart | SpeechEnd | Utterance]`` for each
    20 ms frame (320 int16 samples at 16 kHz); ``force_end(now)``.
``StreamingTranscriber(stt, endpointer, StreamingConfig(), tasks=, hints=, ...)``
    transcriptions run as tasks of ``tasks`` (the call's ``asyncio.TaskGroup``);
    ``feed(frame, now)`` returns the endpoint (and barge-in) events at once;
    ``await next_turn() -> TurnResult`` per finished turn; ``expect(hints, is_complete)``
    when the workflow changes state; ``await aclose()``.
``BargeInDetector(cancel_playback)``
    ``playback_started(interruptible=...)``, ``playback_finished()``;
    ``on_events(events) -> [BargeIn]`` (StreamingTranscriber calls it when given one).
``TextToSpeech(PromptCache(dir, voice_id))``
    ``await start()``; ``async for frame in tts.stream(text)`` (20 ms int16 16 kHz frames,
    sentence by sentence); ``await tts.synthesize(text)``; ``await tts.prepare(texts)``.
``PromptCache(cache_dir, voice_id)``
    ``get(text)``, ``put(text, pcm)``, ``text in cache``.
``whisper_model_dir(folder)``, ``piper_voice_paths()``
    the packaged models (assembled once into ``folder``).

Wiring into a call (``media.MediaSession`` contract)::

    # once per process
    stt = SpeechToText(SttConfig(model_dir=whisper_model_dir(data / "models/whisper-base")))
    tts = TextToSpeech(PromptCache(data / "tts-cache", piper_voice_paths().voice_id))
    await stt.start(); await tts.start(); await tts.prepare(workflow_fixed_prompts)
    # per call, inside ``async with asyncio.TaskGroup() as tasks``
    barge = BargeInDetector(session.cancel_playback)
    turns = StreamingTranscriber(stt, Endpointer(), tasks=tasks, barge_in=barge)
    async for frame in session.inbound():          # a task in the call's TaskGroup
        for event in turns.feed(frame): ...        # SpeechStart / BargeIn / SpeechEnd
    # elsewhere in the call: turn = await turns.next_turn(); and to speak:
    barge.playback_started(interruptible=True)
    await session.play(tts.stream(text)); barge.playback_finished()
"""

from agent.speech.cache import PromptCache
from agent.speech.endpoint import (
    EndpointConfig,
    Endpointer,
    EndReason,
    SpeechEnd,
    SpeechStart,
    Utterance,
)
from agent.speech.models import (
    ModelError,
    default_whisper_dir,
    piper_voice_paths,
    whisper_model_dir,
)
from agent.speech.streaming import StreamingConfig, StreamingTranscriber, TurnResult
from agent.speech.stt import SpeechToText, SttError, SttWorkerError
from agent.speech.tts import TextToSpeech, TtsConfig
from agent.speech.turns import BargeIn, BargeInDetector
from agent.speech.whisper import Hints, SttConfig, Transcript

__all__ = [
    "BargeIn",
    "BargeInDetector",
    "EndReason",
    "EndpointConfig",
    "Endpointer",
    "Hints",
    "ModelError",
    "PromptCache",
    "SpeechEnd",
    "SpeechStart",
    "SpeechToText",
    "StreamingConfig",
    "StreamingTranscriber",
    "SttConfig",
    "SttError",
    "SttWorkerError",
    "TextToSpeech",
    "Transcript",
    "TtsConfig",
    "TurnResult",
    "Utterance",
    "default_whisper_dir",
    "piper_voice_paths",
    "whisper_model_dir",
]
