"""Test suite (a package, so test folders never shadow the project packages)."""
