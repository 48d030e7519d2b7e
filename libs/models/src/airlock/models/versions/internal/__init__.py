"""The versions of the Internal API, newest (head) first."""

from airlock.models.versioning import ApiVersions
from airlock.models.versions.internal import v2026_11_01, v2026_12_07, v2026_12_08, v2026_12_09

INTERNAL_VERSIONS = ApiVersions(
    "Internal", [v2026_12_09.VERSION, v2026_12_08.VERSION, v2026_12_07.VERSION, v2026_11_01.VERSION]
)

#: The version this SDK speaks and a server at head serves.
HEAD = INTERNAL_VERSIONS.head

__all__ = ["HEAD", "INTERNAL_VERSIONS"]
