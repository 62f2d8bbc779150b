"""TransitStream: GTFS-driven GPS telemetry in, arrival predictions out."""

__version__ = "0.1.0"
