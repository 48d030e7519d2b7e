"""The supported versions of the versioned APIs, one file per version (ADR 0007).

``execution`` and ``internal`` each list their versions newest first; the first is the head
version, the only one the handlers and Structs know. To change one of these APIs, add a file for
the new version that declares what changed (see ``execution/v2026_11_21.py``), put it first in
the API's list, and keep every older client's tests green.
"""

from airlock.models.versions.execution import EXECUTION_VERSIONS
from airlock.models.versions.internal import INTERNAL_VERSIONS

__all__ = ["EXECUTION_VERSIONS", "INTERNAL_VERSIONS"]
