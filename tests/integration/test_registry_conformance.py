"""`transitstream.registry` answers as Confluent's registry does, through confluent-kafka's client.

The module runs its own registry subprocess on a free port with a fresh topic, so it neither
sees nor disturbs the stack's registry; each test uses its own subjects. The restart test runs
last and proves that everything answered before is answered identically after a SIGTERM.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.integration.registry_helpers import (
    RegistryProcess,
    delete_topic,
    free_port,
    registry_env,
)
from transitstream.config import Settings

pytestmark = pytest.mark.integration

MEDIA = "application/vnd.schemaregistry.v1+json"
V1 = {
    "type": "record",
    "name": "Position",
    "namespace": "transitstream.test",
    "fields": [{"name": "vehicle_id", "type": "string"}, {"name": "lat", "type": "double"}],
}
V2_DEFAULT = {**V1, "fields": [*V1["fields"], {"name": "speed", "type": "float", "default": 0.0}]}
V2_NO_DEFAULT = {**V1, "fields": [*V1["fields"], {"name": "speed", "type": "float"}]}
V3_REMOVED = {**V1, "fields": V1["fields"][:1]}


def avro(schema: dict[str, Any], indent: int | None = None) -> Schema:
    return Schema(json.dumps(schema, indent=indent), "AVRO")


def error_of(exc: pytest.ExceptionInfo[SchemaRegistryError]) -> tuple[int, int]:
    return exc.value.http_status_code, exc.value.error_code


@pytest.fixture(scope="module")
def registry(
    stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryProcess]:
    topic = f"_schemas_test_{uuid.uuid4().hex[:12]}"
    log_path: Path = tmp_path_factory.mktemp("registry") / "registry.log"
    process = RegistryProcess(env=registry_env(stack, free_port(), topic), log_path=log_path)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        delete_topic(stack, topic)


@pytest.fixture
def client(registry: RegistryProcess) -> Iterator[SchemaRegistryClient]:
    # A fresh client per test: its caches must not answer for the server.
    with SchemaRegistryClient({"url": registry.url}) as sr:
        yield sr


@pytest.fixture
def http(registry: RegistryProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, headers={"Content-Type": MEDIA}) as c:
        yield c


@pytest.fixture
def subject() -> str:
    return f"test-{uuid.uuid4().hex[:8]}-value"


def test_root_types_and_media_type(http: httpx.Client) -> None:
    root = http.get("/")
    assert root.json() == {}
    assert root.headers["content-type"].startswith(MEDIA)
    assert http.get("/schemas/types").json() == ["AVRO"]
    plain = http.post("/subjects/s/versions", content=b"{}", headers={"Content-Type": "text/plain"})
    assert (plain.status_code, plain.json()["error_code"]) == (415, 415)
    assert http.get("/healthz").status_code == 200
    metrics = http.get("/metrics")
    assert metrics.status_code == 200
    assert "schema_registry_http_requests_total" in metrics.text


def test_register_fetch_lookup(
    registry: RegistryProcess, client: SchemaRegistryClient, subject: str
) -> None:
    schema_id = client.register_schema(subject, avro(V1))
    assert client.register_schema(subject, avro(V1, indent=2)) == schema_id  # same, reformatted
    with SchemaRegistryClient({"url": registry.url}) as fresh:  # not from the client's cache
        fetched = fresh.get_schema(schema_id).schema_str
    assert fetched is not None
    assert json.loads(fetched) == V1

    latest = client.get_latest_version(subject)
    assert (latest.subject, latest.version, latest.schema_id) == (subject, 1, schema_id)
    assert client.get_version(subject, 1).schema_id == schema_id
    assert client.get_versions(subject) == [1]
    assert subject in client.get_subjects()

    found = client.lookup_schema(subject, avro(V1, indent=4))
    assert (found.subject, found.version, found.schema_id) == (subject, 1, schema_id)
    versions = client.get_schema_versions(schema_id)
    assert (subject, 1) in [(v.subject, v.version) for v in versions]


def test_ids_are_global(client: SchemaRegistryClient, subject: str) -> None:
    schema = {**V1, "name": f"Shared{uuid.uuid4().hex[:6]}"}
    first = client.register_schema(subject, avro(schema))
    again = client.register_schema(subject + "-other", avro(schema, indent=2))
    assert again == first
    subjects = {v.subject for v in client.get_schema_versions(first)}
    assert subjects == {subject, subject + "-other"}


def test_backward_evolution(client: SchemaRegistryClient, subject: str) -> None:
    client.register_schema(subject, avro(V1))
    assert client.test_compatibility(subject, avro(V2_DEFAULT)) is True
    assert client.test_compatibility(subject, avro(V2_NO_DEFAULT)) is False

    with pytest.raises(SchemaRegistryError) as exc:
        client.register_schema(subject, avro(V2_NO_DEFAULT))
    assert error_of(exc) == (409, 409)
    assert "incompatible" in exc.value.error_message

    v2 = client.register_schema(subject, avro(V2_DEFAULT))
    assert client.get_latest_version(subject).version == 2
    assert client.get_latest_version(subject).schema_id == v2


def test_verbose_compatibility(
    http: httpx.Client, client: SchemaRegistryClient, subject: str
) -> None:
    client.register_schema(subject, avro(V1))
    body = {"schema": json.dumps(V2_NO_DEFAULT)}
    answer = http.post(f"/compatibility/subjects/{subject}/versions/latest?verbose=true", json=body)
    assert answer.status_code == 200
    assert answer.json()["is_compatible"] is False
    assert any("READER_FIELD_MISSING_DEFAULT_VALUE" in m for m in answer.json()["messages"])


def test_config_per_subject(client: SchemaRegistryClient, subject: str, http: httpx.Client) -> None:
    assert client.get_compatibility() == "BACKWARD"
    client.register_schema(subject, avro(V1))
    with pytest.raises(SchemaRegistryError) as exc:
        client.get_compatibility(subject)
    assert error_of(exc) == (404, 40408)
    assert http.get(f"/config/{subject}?defaultToGlobal=true").json()["compatibilityLevel"] == (
        "BACKWARD"
    )

    client.set_compatibility(subject, "FORWARD")
    assert client.get_compatibility(subject) == "FORWARD"
    # FORWARD: the old schema must read the new one, so dropping a field without default fails.
    assert client.test_compatibility(subject, avro(V3_REMOVED)) is False
    assert client.test_compatibility(subject, avro(V2_NO_DEFAULT)) is True

    client.set_compatibility(subject, "NONE")
    assert client.get_compatibility(subject) == "NONE"
    assert client.register_schema(subject, avro(V3_REMOVED)) > 0

    with pytest.raises(SchemaRegistryError) as exc:
        client.set_compatibility(subject, "SIDEWAYS")
    assert error_of(exc) == (422, 42203)
    assert client.delete_config(subject).compatibility_level is not None
    assert client.get_compatibility() == "BACKWARD"


def test_soft_then_hard_delete(
    registry: RegistryProcess, client: SchemaRegistryClient, subject: str
) -> None:
    own = {**V1, "name": f"Doomed{uuid.uuid4().hex[:6]}"}  # an id no other subject shares
    schema_id = client.register_schema(subject, avro(own))
    client.register_schema(subject, avro({**own, "fields": V2_DEFAULT["fields"]}))

    with pytest.raises(SchemaRegistryError) as exc:
        client.delete_subject(subject, permanent=True)
    assert error_of(exc) == (404, 40405)

    assert client.delete_subject(subject) == [1, 2]
    assert subject not in client.get_subjects()
    assert subject in client.get_subjects(deleted=True)
    assert client.get_schema(schema_id) is not None  # old messages still deserialize
    with pytest.raises(SchemaRegistryError) as exc:
        client.get_latest_version(subject)
    assert error_of(exc) == (404, 40401)
    with pytest.raises(SchemaRegistryError) as exc:
        client.delete_subject(subject)
    assert error_of(exc) == (404, 40404)

    assert client.delete_subject(subject, permanent=True) == [1, 2]
    assert subject not in client.get_subjects(deleted=True)
    with (
        SchemaRegistryClient({"url": registry.url}) as fresh,
        pytest.raises(SchemaRegistryError) as exc,
    ):
        fresh.get_schema(schema_id)  # hard-deleted everywhere: the id is gone
    assert error_of(exc) == (404, 40403)


def test_version_delete(http: httpx.Client, client: SchemaRegistryClient, subject: str) -> None:
    client.register_schema(subject, avro(V1))
    client.register_schema(subject, avro(V2_DEFAULT))
    assert http.delete(f"/subjects/{subject}/versions/1?permanent=true").json()["error_code"] == (
        40407
    )
    assert client.delete_version(subject, 1) == 1
    assert client.get_versions(subject) == [2]
    assert http.get(f"/subjects/{subject}/versions?deleted=true").json() == [1, 2]
    assert http.get(f"/subjects/{subject}/versions/1").json()["error_code"] == 40402
    assert http.get(f"/subjects/{subject}/versions/1?deleted=true").json()["version"] == 1
    assert http.delete(f"/subjects/{subject}/versions/1").json()["error_code"] == 40406
    assert client.delete_version(subject, 1, permanent=True) == 1
    assert http.get(f"/subjects/{subject}/versions?deleted=true").json() == [2]


def test_not_found_codes(client: SchemaRegistryClient, subject: str, http: httpx.Client) -> None:
    cases = [
        (lambda: client.get_latest_version(subject), 40401),
        (lambda: client.get_schema(987_654), 40403),
        (lambda: client.lookup_schema(subject, avro(V1)), 40401),
    ]
    for call, code in cases:
        with pytest.raises(SchemaRegistryError) as exc:
            call()
        assert error_of(exc) == (404, code)

    client.register_schema(subject, avro(V1))
    with pytest.raises(SchemaRegistryError) as exc:
        client.get_version(subject, 7)
    assert error_of(exc) == (404, 40402)
    with pytest.raises(SchemaRegistryError) as exc:
        client.lookup_schema(subject, avro(V2_DEFAULT))
    assert error_of(exc) == (404, 40403)
    bad = http.get(f"/subjects/{subject}/versions/zero")
    assert (bad.status_code, bad.json()["error_code"]) == (422, 42202)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"schema": '{"type": "record", "name": "Broken"'}, "JSON"),
        ({"schema": '{"type": "record", "name": "NoFields"}'}, "fields"),
        ({"schema": '"not_a_type"'}, "not_a_type"),
        ({"schema": ""}, "empty"),
        ({"schema": "syntax = 'proto3';", "schemaType": "PROTOBUF"}, "PROTOBUF"),
        ({"not_schema": "{}"}, "schema"),
    ],
)
def test_invalid_schema_is_42201(
    http: httpx.Client, subject: str, body: dict[str, str], fragment: str
) -> None:
    answer = http.post(f"/subjects/{subject}/versions", json=body)
    assert answer.status_code == 422
    assert answer.json()["error_code"] == 42201
    assert fragment in answer.json()["message"]


def test_invalid_schema_through_client(client: SchemaRegistryClient, subject: str) -> None:
    with pytest.raises(SchemaRegistryError) as exc:
        client.register_schema(subject, Schema('{"type": "enum", "name": "E"}', "AVRO"))
    assert error_of(exc) == (422, 42201)


def test_serializer_round_trip(registry: RegistryProcess, client: SchemaRegistryClient) -> None:
    topic = f"positions-{uuid.uuid4().hex[:8]}"
    ctx = SerializationContext(topic, MessageField.VALUE)
    record = {"vehicle_id": "bus-42", "lat": 35.0456, "speed": 12.5}
    payload = AvroSerializer(client, json.dumps(V2_DEFAULT))(record, ctx)
    assert payload is not None
    schema_id = client.get_latest_version(f"{topic}-value").schema_id
    assert payload[0] == 0  # magic byte
    assert int.from_bytes(payload[1:5], "big") == schema_id

    with SchemaRegistryClient({"url": registry.url}) as fresh:  # no cached schema
        decoded = AvroDeserializer(fresh)(payload, ctx)
    assert decoded == record


def _snapshot(http: httpx.Client) -> dict[str, Any]:
    """Everything a client can observe, to compare before and after a restart."""
    state: dict[str, Any] = {"config": http.get("/config").json(), "subjects": {}}
    for subject in http.get("/subjects?deleted=true").json():
        versions = http.get(f"/subjects/{subject}/versions?deleted=true").json()
        state["subjects"][subject] = {
            "live": http.get(f"/subjects/{subject}/versions").json(),
            "config": http.get(f"/config/{subject}").json(),
            "versions": [
                http.get(f"/subjects/{subject}/versions/{v}?deleted=true").json() for v in versions
            ],
        }
    ids = {v["id"] for s in state["subjects"].values() for v in s["versions"]}
    state["ids"] = {i: http.get(f"/schemas/ids/{i}").json() for i in sorted(ids)}
    return state


def test_state_survives_restart(
    registry: RegistryProcess, client: SchemaRegistryClient, http: httpx.Client, subject: str
) -> None:
    client.register_schema(subject, avro(V1))
    client.set_compatibility(subject, "FULL")
    client.register_schema(subject, avro(V2_DEFAULT))
    client.delete_version(subject, 1)
    before = _snapshot(http)
    assert before["subjects"][subject]["config"]["compatibilityLevel"] == "FULL"

    assert registry.stop() == 0, registry.tail()
    registry.start()

    assert _snapshot(http) == before
    with SchemaRegistryClient({"url": registry.url}) as fresh:
        # Ids are not reused after the replay, and the subject's FULL level still applies:
        # dropping `lat` passes BACKWARD but not FORWARD.
        other = f"{subject}-after"
        assert fresh.register_schema(other, avro({**V1, "name": "AfterRestart"})) > max(
            before["ids"]
        )
        assert fresh.test_compatibility(subject, avro(V3_REMOVED)) is False
