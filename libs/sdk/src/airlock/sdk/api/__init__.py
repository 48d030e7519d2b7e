"""HTTP clients for the Airlock APIs. Every client takes ``transport=`` so tests can run it
against the real app in-process (``httpx.ASGITransport``) with no socket and no mock."""

from airlock.sdk.api.errors import ApiError
from airlock.sdk.api.internal import InternalClient

__all__ = ["ApiError", "InternalClient"]
