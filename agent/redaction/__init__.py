"""Helpers for agent.redact: spoken-form recognisers."""
