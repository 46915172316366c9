"""Errors raised by clusterscape.

Every library error also subclasses a builtin (as h3 does), so ``except ValueError`` in
user code keeps working.
"""

from __future__ import annotations

__all__ = [
    "CRSError",
    "ClusterscapeError",
    "InvalidInputError",
    "MissingDependencyError",
]


class ClusterscapeError(Exception):
    """Base class of every error raised by clusterscape."""


class InvalidInputError(ClusterscapeError, ValueError):
    """An argument, a file or a table is not usable as given; the message says how to fix it."""


class CRSError(InvalidInputError):
    """Coordinates are in the wrong reference system (e.g. degrees where metres are needed)."""


class MissingDependencyError(ClusterscapeError, ImportError):
    """An optional dependency is needed for this call; the message names the extra to install."""
