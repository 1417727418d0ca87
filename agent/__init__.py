"""The voice agent: the application the carrier hosts (``agent.runtime:application``)."""

from pathlib import Path

MIGRATIONS = Path(__file__).with_name("migrations")
"""The agent's own tables (calendar ``sched_*``, ``conversation_memory``) as NNNN_name.sql,
applied by the carrier's migrator after its own (``Application.migrations``)."""
