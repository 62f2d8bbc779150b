"""Observability: metrics helpers and the charts the notebooks show."""
