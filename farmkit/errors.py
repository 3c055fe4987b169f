"""Errors every layer may raise; the CLIs turn them into one-line messages."""


class FarmkitError(Exception):
    """Bad input or an unusable environment: reported as one line, exit code 2, no traceback."""

    exit_code = 2


class BackendUnavailable(FarmkitError):
    """A compute backend was requested that this machine cannot run."""
