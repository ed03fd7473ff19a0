"""User-facing error types. The CLI prints any of these as one line and exits with code 2."""


class DfPolicyError(Exception):
    """Base class: something the user gave (arguments, config, data, checkpoint) is wrong."""


class ConfigError(DfPolicyError, ValueError):
    """A configuration file or override is wrong; the message names the offending key."""


class DataError(DfPolicyError, ValueError):
    """A dataset or episode store is malformed, truncated, or does not match what is expected."""


class CheckpointError(DfPolicyError, ValueError):
    """A checkpoint is missing, corrupt, or does not match the config / data it is used with."""
