"""Integration tests use the session fixture `stack` from tests/conftest.py (the real native stack)."""
