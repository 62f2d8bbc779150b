"""Kafka -> Postgres projectors: the CQRS read models the API serves (milestone 3).

run(settings, "all", stop_at_end=True)      project what is in the topics (or run on)
rebuild(settings)                           replay the log into shadow tables, swap them in
table_checksums(conn)                       an order-independent digest per read model
write_records(conn, settings, records)      upsert decoded records directly (tests, tools)
"""
