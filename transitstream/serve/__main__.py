"""`python -m transitstream.serve`: the same as `transitstream serve`."""

from transitstream.serve.serve import main

main()
