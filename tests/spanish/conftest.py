"""The Spanish call tests share the voice agent's fixtures (settings, seeded clinic, runtime)."""

from tests.agent.conftest import agent, demo_ids, runtime, settings

__all__ = ["agent", "demo_ids", "runtime", "settings"]
