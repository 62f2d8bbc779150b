"""The serving layer: a read API over the Postgres read models (arrivals, vehicles, GTFS
reference, GTFS-realtime), a WebSocket that pushes changes as they land, and a live web page."""
