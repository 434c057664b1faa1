"""Exception types raised by urbankit.

Every error a user can trigger with bad input derives from :class:`UrbankitError` and from the
standard exception that best describes it, so ``except ValueError`` keeps working in user code.
Messages name the offending input and say how to fix it.
"""


class UrbankitError(Exception):
    """Base class of every error urbankit raises on purpose."""


class InputFileError(UrbankitError, OSError):
    """An input file is missing, unreadable, of an unsupported type, empty, truncated or corrupt."""


class UnsupportedFormatError(InputFileError, ValueError):
    """An input file has an extension urbankit cannot read."""


class CorruptFileError(InputFileError, ValueError):
    """An input file exists but its content cannot be parsed (truncated, corrupt, not OSM)."""


class NoStreetsError(UrbankitError, ValueError):
    """The area has no routable street for the requested mode."""


class PlaceNotFoundError(UrbankitError, LookupError):
    """A place name could not be geocoded."""


class OnlineFetchError(UrbankitError, ConnectionError):
    """Downloading from OpenStreetMap failed (offline, rate-limited or server error)."""


class CRSError(UrbankitError, ValueError):
    """A geometry input has no CRS, or one that cannot be used."""


class InvalidOptionError(UrbankitError, ValueError):
    """An option or parameter has an invalid value."""


class TaxonomyError(UrbankitError, ValueError):
    """A destination taxonomy file is malformed or uses unknown keys."""


class PopulationError(UrbankitError, ValueError):
    """A population input cannot be used (wrong column, no overlap, negative or NaN values)."""


class MemoryBudgetError(UrbankitError, MemoryError):
    """A request would need more memory than is available (``settings.memory_limit_gb``)."""


class ReportError(UrbankitError, RuntimeError):
    """A report notebook failed to run or its parameters are invalid."""


class ReportParameterError(ReportError, ValueError):
    """A report parameter is not plain data (JSON: str, int, float, bool, None, lists, string-keyed dicts)."""


class ReportWriteError(ReportError, OSError):
    """A report, its failure record or a batch index could not be written (disk full, no permission)."""


class SchedulerError(UrbankitError, ConnectionError):
    """The dask scheduler given for a batch cannot be reached."""
