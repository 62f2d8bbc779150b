from __future__ import annotations

import pytest

from transitstream.config import (
    KafkaSettings,
    PostgresSettings,
    PrometheusSettings,
    RegistrySettings,
    ServiceSettings,
    Settings,
    load_settings,
    to_env,
)
from transitstream.errors import ConfigError


def test_default_ports_are_the_usual_ones() -> None:
    assert (KafkaSettings().port, KafkaSettings().controller_port) == (9092, 9093)
    assert RegistrySettings().port == 8081
    assert PostgresSettings().port == 5432
    assert PrometheusSettings().port == 9090
    defaults = Settings.model_fields
    assert defaults["grafana"].default.port == 3000
    assert defaults["ingest"].default.port == 8000
    assert defaults["api"].default.port == 8080
    assert ServiceSettings().port == 8000


def test_env_overrides_nested_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSITSTREAM_KAFKA__PORT", "29999")
    monkeypatch.setenv("TRANSITSTREAM_TOPICS__POSITION", "custom.position")
    s = load_settings()
    assert s.kafka.bootstrap_servers == "127.0.0.1:29999"
    assert s.topics.position == "custom.position"
    assert s.kafka_config()["bootstrap.servers"] == "127.0.0.1:29999"


@pytest.mark.parametrize(
    ("var", "value"),
    [("TRANSITSTREAM_KAFKA__PORT", "ninety"), ("TRANSITSTREAM_POSTGRES__PORT", "70000")],
)
def test_malformed_value_is_reported_by_name(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert f"{var}={value!r}" in str(err.value)


def test_etas_are_republished_before_the_api_hides_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged ETA is sent again every `eta_refresh_s`; the API hides older ones."""
    s = load_settings()
    assert s.predict.eta_refresh_s < s.api.eta_max_age_s
    monkeypatch.setenv("TRANSITSTREAM_PREDICT__ETA_REFRESH_S", str(s.api.eta_max_age_s))
    with pytest.raises(ConfigError, match="TRANSITSTREAM_PREDICT__ETA_REFRESH_S"):
        load_settings()


def test_relative_folders_resolve_against_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSITSTREAM_STATE_DIR", "somewhere/state")
    s = load_settings()
    assert s.state_dir.is_absolute()
    assert s.state_dir.parts[-2:] == ("somewhere", "state")


def test_password_is_masked_but_usable() -> None:
    p = PostgresSettings()
    assert "***" in p.masked_conninfo() and "transitstream@" not in p.masked_conninfo()
    assert "password=transitstream" in p.conninfo()
    assert "transitstream" not in repr(p.password)


def test_to_env_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(kafka=KafkaSettings(port=12345))
    env = to_env(s)
    assert env["TRANSITSTREAM_KAFKA__PORT"] == "12345"
    assert env["TRANSITSTREAM_POSTGRES__PASSWORD"] == "transitstream"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert load_settings() == s
