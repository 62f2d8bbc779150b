"""Spark Structured Streaming jobs: session, Kafka source, Avro wire format, and the jobs.

Importing this package starts nothing: a SparkSession is built only by
`transitstream.stream.session.spark_session`, in the command or notebook cell that runs a job.
"""
