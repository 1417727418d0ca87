"""Where one caller turn's reply time went, and its report to the metrics."""

from __future__ import annotations

from dataclasses import dataclass

from carrier import metrics

__all__ = ["TurnTiming", "report"]


@dataclass
class TurnTiming:
    """Where one caller turn's reply time went (seconds; loop clock unless noted)."""

    speech_end_media: float = 0.0  # end of the last voiced frame, media clock
    endpoint_media: float = 0.0  # frame that closed the turn, media clock
    endpoint_at: float = 0.0  # loop time the endpoint event was produced
    transcript_at: float = 0.0  # loop time the transcript was ready
    decided_at: float = 0.0  # loop time the workflow produced the reply
    first_audio_at: float = 0.0  # loop time the first reply frame was queued
    cached: bool = False  # the reply came from the prompt cache
    reused_partial: bool = False

    def breakdown(self) -> dict[str, float]:
        """Milliseconds per stage. A stamp never set (a reply not decided by the workflow,
        such as a re-prompt) makes its stage 0 and the next one counts from the last stamp
        that was set, so the stages still add up to the reply time."""
        hangover = self.endpoint_media - self.speech_end_media
        stamps = [self.endpoint_at, self.transcript_at, self.decided_at, self.first_audio_at]
        spans, last = [], self.endpoint_at
        for stamp in stamps[1:]:
            spans.append(1000 * max(0.0, stamp - last) if stamp and last else 0.0)
            last = stamp or last
        return {"endpointing_ms": 1000 * hangover, "transcription_ms": spans[0],
                "decision_ms": spans[1], "synthesis_ms": spans[2]}


def report(t: TurnTiming) -> None:
    """One turn's reply latency, transcription and synthesis time, to the metrics."""
    if t.endpoint_at and t.first_audio_at:
        metrics.reply_latency(t.first_audio_at - t.endpoint_at)
    if t.endpoint_at and t.transcript_at:
        metrics.stt_time(t.transcript_at - t.endpoint_at)
    if t.decided_at and t.first_audio_at and not t.cached:
        metrics.tts_time(t.first_audio_at - t.decided_at)
