"""Exception and warning classes raised by :mod:`soilnet`.

Every class derives from :class:`SoilNetError` and, where it fits, a builtin, so callers can
catch broadly (``except SoilNetError``) or precisely (``except FileNotFoundError``).
Messages name the file, the point IDs (first few of N) and what to do next.
"""

from __future__ import annotations

from collections.abc import Iterable


class SoilNetError(Exception):
    """Root of every error raised by soilnet."""


class DataFormatError(SoilNetError, ValueError):
    """Raised when a file on disk does not have the layout the readers expect."""


class PatchBandsError(DataFormatError):
    """Raised when a patch lacks required bands (matched by band description)."""


class DatasetNotFoundError(SoilNetError, FileNotFoundError):
    """Raised when a data folder, or a file inside it, does not exist."""


class PatchNotFoundError(SoilNetError, FileNotFoundError):
    """Raised when points have no patch file under ``patches/``."""


class InconsistentDataError(SoilNetError, ValueError):
    """Raised when points, patches and climate rows do not match one another."""


class SplitMismatchError(SoilNetError, ValueError):
    """Raised when a split file does not match the dataset it is used with."""


class ConfigurationError(SoilNetError, ValueError):
    """Raised for an unknown variant, profile or option value."""


class CheckpointError(SoilNetError, ValueError):
    """Raised when a checkpoint belongs to another variant or run configuration."""


class MissingOutputError(SoilNetError, FileNotFoundError):
    """Raised when a chapter needs an output that an earlier chapter makes."""


class WeightsNotFoundError(SoilNetError, FileNotFoundError):
    """Raised when ``weights_path`` does not point to an existing file."""


class ChapterFailed(SoilNetError, RuntimeError):
    """Raised when a chapter notebook fails under papermill (or the book does not build)."""


class AcquisitionError(SoilNetError, RuntimeError):
    """Raised when real-data acquisition cannot proceed (unreachable endpoint, bad output dir)."""


class HttpError(AcquisitionError):
    """Raised when an HTTP request fails for good (a non-retryable status, or retries spent).

    Attributes:
        url: the URL requested.
        status: the last HTTP status, or None when no answer came (connection failure).
        detail: the innermost reason of a connection failure, on one line.
    """

    def __init__(self, message: str, url: str, status: int | None, detail: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.detail = detail


class EndpointUnreachableError(HttpError, ConnectionError):
    """Raised when a server cannot be reached at all (DNS, refused connection, timeouts)."""


class PointAcquisitionFailed(AcquisitionError):
    """Raised inside acquisition when one point cannot be built; the pipeline records it in
    ``manifest.csv`` with its ``status`` and ``reason`` and goes on with the other points."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class MissingValuesWarning(UserWarning):
    """Warned when values coded as missing (``-999``, NaN) are read; the message gives a count."""


class FileEncodingWarning(UserWarning):
    """Warned when a CSV is not UTF-8 and is read in a fallback encoding (cp1252 or Latin-1);
    the message names the file and the encoding used."""


class DuplicateRowsWarning(UserWarning):
    """Warned when rows that repeat a point with identical values are kept once; the message
    names the file and the IDs."""


def first_ids(ids: Iterable, n: int = 5) -> str:
    """Format the first ``n`` IDs of a collection as ``"a, b, c, … (N in all)"``."""
    ids = list(ids)
    shown = ", ".join(str(i) for i in ids[:n])
    more = f", … ({len(ids):,} in all)" if len(ids) > n else ""
    return shown + more


class StoreIntegrityError(SoilNetError, ValueError):
    """Raised when a store's files disagree (row counts, fingerprint) or are incomplete."""


class StaleStoreError(SoilNetError, ValueError):
    """Raised when no store holds the current contents of a data folder, or a store, split or
    run was made from other inputs than those it is used with."""


class ConfigConflictError(ConfigurationError):
    """Raised when a chapter's settings conflict with those chapter 1 recorded in the workspace."""
