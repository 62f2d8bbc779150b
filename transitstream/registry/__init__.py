"""A Confluent-compatible Schema Registry (AVRO) whose state lives in a compacted Kafka topic.

Run it with ``python -m transitstream.registry``; build the ASGI app with :func:`create_app`.
Confluent's registry is not installable from the registries we use, so the native stack ships
this one and tests it with confluent-kafka's own client and serializers.
"""

from transitstream.registry.app import create_app

__all__ = ["create_app"]
