"""The ingestor: devices post GPS fixes over HTTP; valid ones go to Kafka as Avro, bad ones to the
dead-letter topic with their reason, in one transaction per request."""
