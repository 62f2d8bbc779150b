"""Integration tests use the session fixture `stack` (real servers) from tests/conftest.py."""
