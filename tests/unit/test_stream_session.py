"""The Spark session's configuration, without a JVM."""

from __future__ import annotations

from pathlib import Path

import pytest

from transitstream.config import load_settings
from transitstream.stream import session


def test_the_stream_thread_gets_a_stack_deep_enough_to_be_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopping a query mid-foreachBatch ran Spark's regex over the py4j error text and killed
    the stream thread with StackOverflowError on the default 1 MB stack."""
    monkeypatch.setattr(session, "spark_jars", lambda s: [Path("/jars/kafka.jar")])
    conf = session.spark_conf(load_settings(), "transitstream-test")
    assert "-Xss32m" in conf["spark.driver.extraJavaOptions"].split()
    assert conf["spark.jars"] == "/jars/kafka.jar"
    assert conf["spark.sql.session.timeZone"] == "UTC"
