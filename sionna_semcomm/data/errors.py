"""Exception classes of :mod:`sionna_semcomm.data`.

Every reader raises :class:`DatasetError` (a ``ValueError``) or one of its subclasses, with a message that
names the offending file and, where it helps, says how to fix the problem.
"""

from __future__ import annotations

__all__ = ["DatasetError", "DatasetNotFoundError", "UnsafePickleError", "ChecksumError", "UnsafeArchiveError"]


class DatasetError(ValueError):
    """A data set file is missing, truncated, corrupted or not in the expected format."""


class DatasetNotFoundError(DatasetError):
    """A required data set file or folder does not exist (the message says where it looked)."""


class UnsafePickleError(DatasetError):
    """A pickle asked for a global outside the allow-list (it was refused, nothing was executed)."""


class ChecksumError(DatasetError):
    """A downloaded file's checksum does not match the published one (the file was not kept)."""


class UnsafeArchiveError(DatasetError):
    """An archive member has an absolute path, a ``..`` component, or is a link/device (nothing extracted)."""
