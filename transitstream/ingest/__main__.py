"""`python -m transitstream.ingest`: the same as `transitstream ingest serve`."""

from transitstream.ingest.serve import main

main()
