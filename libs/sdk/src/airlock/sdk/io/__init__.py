"""Files and object stores for task code: :class:`ObjectStoragePath`."""

from airlock.sdk.io.path import ObjectStoragePath

__all__ = ["ObjectStoragePath"]
