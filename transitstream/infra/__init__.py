"""The native stack: Kafka, the schema registry, Postgres and Prometheus as local processes."""
