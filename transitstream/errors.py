"""One exception root, so the CLI can print the fix instead of a traceback."""


class TransitStreamError(Exception):
    """An error whose message tells the user what to do next."""


class ConfigError(TransitStreamError):
    """A setting (usually a `TRANSITSTREAM_*` variable) is malformed."""


class InfraError(TransitStreamError):
    """A part of the native stack could not be started, stopped or reached."""
