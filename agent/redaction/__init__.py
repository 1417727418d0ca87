"""Helpers for agent.redact: spoken-form recognisers, names, and the span found."""
