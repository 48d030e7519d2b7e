"""Dated API versions: how an API declares what changed in each version, and the migration gates
that let a client of any supported version talk to a server at head (DESIGN §5, ADR 0007).

The versions themselves live in :mod:`airlock.models.versions` (one file per version); the HTTP
side that applies them is ``airlock.core.http.versioning``.
"""

from airlock.models.versioning.api_versions import (
    ApiVersions,
    Shape,
    UnsupportedVersion,
    VersionDeclarationError,
)
from airlock.models.versioning.changes import (
    MISSING,
    EndpointAdded,
    EndpointMoved,
    EndpointRemoved,
    FieldAdded,
    FieldRemoved,
    FieldRenamed,
    FieldRetyped,
    RequestConverter,
    ResponseConverter,
    Version,
)
from airlock.models.versioning.gates import Endpoint, VersionGates
from airlock.models.versioning.openapi import HEADER_NAME, versioned_document

__all__ = [
    "HEADER_NAME",
    "MISSING",
    "ApiVersions",
    "Endpoint",
    "EndpointAdded",
    "EndpointMoved",
    "EndpointRemoved",
    "FieldAdded",
    "FieldRemoved",
    "FieldRenamed",
    "FieldRetyped",
    "RequestConverter",
    "ResponseConverter",
    "Shape",
    "UnsupportedVersion",
    "Version",
    "VersionDeclarationError",
    "VersionGates",
    "versioned_document",
]
