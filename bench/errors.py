"""Exceptions whose message is meant to be shown to the user as one line."""


class BenchError(Exception):
    """Base class: the CLI prints ``str(err)`` on one line and exits non-zero."""


class AudioError(BenchError):
    """An audio file or signal cannot be used (corrupt, empty, silent, NaN, too short, ...)."""


class UnknownNameError(BenchError):
    """A vocoder, metric or dataset name that is not registered."""


class MissingWeightsError(BenchError):
    """A vocoder's weights were not found where we looked."""


class MissingDatasetError(BenchError):
    """A dataset's files are not on disk."""


class MissingExtraError(BenchError):
    """An optional dependency is not installed."""


class NotApplicableError(BenchError):
    """A metric asked for a domain it is not defined for (e.g. PESQ on music)."""
