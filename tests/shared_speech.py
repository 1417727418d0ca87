"""The speech models, loaded once per test session (the ``speech_models`` fixture).

Starting Whisper (a spawned worker process loading the model) and Piper (the voice) takes
about 3-6 s per test on the CI box; some twenty tests run the agent with speech. The
``runtime`` fixture runs the real ``agent.runtime.setup`` with the two engine classes
replaced by per-test facades over the session's loaded models:

* ``SharedWhisper``: a ``SpeechToText`` of its own (queue, batches, stats) that submits to
  the session's worker pool for the same ``SttConfig`` (another config gets its own pool,
  so a test that changes a speech setting still sees it act). Its ``close`` leaves the
  pool running; a pool that broke is replaced for the next test.
* ``SharedPiper``: a ``TextToSpeech`` with the test's own prompt cache (per-test, as
  before) over the session's loaded voice and synthesis thread.

Nothing else is shared: each test's runtime, records and caches are its own. The engines
keep their pool and voice private; handing them on is this test helper's whole job, so it
reads them (``_pool``, ``_voice``, ``_executor``) where the engines' own code would.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from agent.speech import PromptCache, SpeechToText, SttConfig, TextToSpeech
from agent.speech.models import VoicePaths
from agent.speech.tts import TtsConfig


class SpeechModels:
    """The loaded engines of this session, by the configuration that chose them."""

    def __init__(self) -> None:
        self._whisper: dict[SttConfig, SpeechToText] = {}
        self._piper: dict[tuple[TtsConfig | None, VoicePaths | None], TextToSpeech] = {}

    async def whisper_pool(self, config: SttConfig) -> ProcessPoolExecutor:
        loaded = self._whisper.get(config)
        pool = loaded._pool if loaded is not None else None
        if pool is None or pool._broken or pool._shutdown_thread:
            loaded = SpeechToText(config)
            await loaded.start()  # spawns the workers, loads and warms the model
            self._whisper[config] = loaded
            pool = loaded._pool
        assert pool is not None
        return pool

    async def piper(self, config: TtsConfig | None, voice: VoicePaths | None) -> TextToSpeech:
        loaded = self._piper.get((config, voice))
        if loaded is None:
            loaded = TextToSpeech(config=config, voice=voice)
            await loaded.start()
            self._piper[(config, voice)] = loaded
        return loaded

    def close(self) -> None:
        """At the end of the session (no loop needed: both only stop their executors)."""
        for stt in self._whisper.values():
            pool, stt._pool = stt._pool, None
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        for tts in self._piper.values():
            executor, tts._executor = tts._executor, None
            if executor is not None:
                executor.shutdown(wait=True)


def facades(models: SpeechModels) -> tuple[type[SpeechToText], type[TextToSpeech]]:
    """The two classes ``agent.runtime.setup`` instantiates, bound to ``models``."""

    class SharedWhisper(SpeechToText):
        async def start(self) -> None:
            if self._pool is None:
                self._pool = await models.whisper_pool(self.config)

        async def close(self) -> None:
            self._pool = None  # fails what still waits, as close does; the pool stays up
            await super().close()

    class SharedPiper(TextToSpeech):
        def __init__(self, cache: PromptCache | None = None, *,
                     config: TtsConfig | None = None, voice: VoicePaths | None = None) -> None:
            super().__init__(cache, config=config, voice=voice)
            self._key = (config, voice)

        async def start(self) -> None:
            if self._voice is None:
                loaded = await models.piper(*self._key)
                self._voice, self._executor = loaded._voice, loaded._executor

        async def close(self) -> None:
            self._voice = self._executor = None  # the session's voice and thread stay

    return SharedWhisper, SharedPiper
