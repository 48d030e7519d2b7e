"""The versions of the Execution API, newest (head) first."""

from airlock.models.versioning import ApiVersions
from airlock.models.versions.execution import v2026_11_01, v2026_11_21, v2026_12_07, v2026_12_08

EXECUTION_VERSIONS = ApiVersions(
    "Execution",
    [
        v2026_12_08.VERSION,
        v2026_12_07.VERSION,
        v2026_11_21.VERSION,
        v2026_11_01.VERSION,
    ],
)

#: The version this SDK speaks and a server at head serves.
HEAD = EXECUTION_VERSIONS.head

__all__ = ["EXECUTION_VERSIONS", "HEAD"]
