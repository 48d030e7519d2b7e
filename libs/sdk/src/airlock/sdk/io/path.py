"""``ObjectStoragePath``: one path type for local files and object stores, as Airflow's.

Local paths and ``file://`` URLs are served by :mod:`pathlib` (no extra dependency). Any other
scheme (``s3://``, ``gs://``, ``memory://`` …) goes through fsspec when it is installed (with the
scheme's own fsspec package, such as s3fs); without it, using such a path says what to install.
``conn_id=`` names an Airlock connection whose extra (JSON) becomes the filesystem's options;
``storage_options=`` may be given directly. The connection is read when the path is first used,
so a path can be written at the top of a DAG file.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit

LOCAL_SCHEMES = ("", "file", "local")


class ObjectStoragePath(os.PathLike[str]):
    """A path in a filesystem named by its URL scheme: ``ObjectStoragePath("file:///data/x")``,
    ``ObjectStoragePath("s3://bucket/key", conn_id="aws_default")`` or a plain local path."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *more: str,
        conn_id: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        text = os.fspath(path)
        parts = urlsplit(text)
        scheme = parts.scheme.lower() if "://" in text else ""
        if scheme in LOCAL_SCHEMES:
            local = parts.path if scheme else text
            self.protocol = "file"
            self.bucket = ""
            self._key = str(Path(local, *more)) if (local or more) else "."
        else:
            self.protocol = scheme
            self.bucket = parts.netloc
            self._key = (
                posixpath.join(parts.path.lstrip("/"), *more) if more else parts.path.lstrip("/")
            )
        self.conn_id = conn_id
        self.storage_options = dict(storage_options or {})
        self._fs: Any = None

    # --- identity -----------------------------------------------------------------------------

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def key(self) -> str:
        """The path inside the bucket (for a local path: the path itself)."""
        return self._key

    @property
    def path(self) -> str:
        """What the filesystem is given: ``bucket/key`` (a local path as it is)."""
        if self.is_local:
            return self._key
        return f"{self.bucket}/{self._key}" if self._key else self.bucket

    def __fspath__(self) -> str:
        if not self.is_local:
            raise TypeError(f"{self} is not a local path; open it with .open() instead")
        return self._key

    def __str__(self) -> str:
        if self.is_local:
            return self._key
        return f"{self.protocol}://{self.path}"

    def __repr__(self) -> str:
        extra = f", conn_id={self.conn_id!r}" if self.conn_id else ""
        return f"ObjectStoragePath({str(self)!r}{extra})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ObjectStoragePath):
            return NotImplemented
        return (str(self), self.conn_id) == (str(other), other.conn_id)

    def __hash__(self) -> int:
        return hash((str(self), self.conn_id))

    def _with(self, text: str) -> ObjectStoragePath:
        return ObjectStoragePath(text, conn_id=self.conn_id, storage_options=self.storage_options)

    def __truediv__(self, other: str) -> ObjectStoragePath:
        return self.joinpath(other)

    def joinpath(self, *others: str) -> ObjectStoragePath:
        if self.is_local:
            return self._with(str(Path(self._key, *others)))
        return self._with(f"{self.protocol}://{posixpath.join(self.path, *others)}")

    @property
    def name(self) -> str:
        return PurePosixPath(self._key).name

    @property
    def stem(self) -> str:
        return PurePosixPath(self._key).stem

    @property
    def suffix(self) -> str:
        return PurePosixPath(self._key).suffix

    @property
    def parent(self) -> ObjectStoragePath:
        if self.is_local:
            return self._with(str(Path(self._key).parent))
        return self._with(f"{self.protocol}://{posixpath.dirname(self.path.rstrip('/'))}")

    # --- the filesystem -----------------------------------------------------------------------

    @property
    def fs(self) -> Any:
        """The fsspec filesystem of a remote path (``None`` for a local one)."""
        if self.is_local:
            return None
        if self._fs is None:
            try:
                import fsspec
            except ImportError:
                raise ImportError(
                    f"{self} needs fsspec (and the package for {self.protocol}://, such as s3fs "
                    "for s3://): add them to the worker's environment; local and file:// paths "
                    "need nothing"
                ) from None
            options = dict(self.storage_options)
            if self.conn_id:
                from airlock.sdk.definitions.connection import Connection

                options = {**Connection.get(self.conn_id).extra_dejson, **options}
            self._fs = fsspec.filesystem(self.protocol, **options)
        return self._fs

    def open(self, mode: str = "r", **kwargs: Any) -> IO[Any]:
        if self.is_local:
            return open(self._key, mode, **kwargs)
        return self.fs.open(self.path, mode, **kwargs)

    def read_text(self, encoding: str = "utf-8") -> str:
        with self.open("r", encoding=encoding) as f:
            return str(f.read())

    def write_text(self, data: str, encoding: str = "utf-8") -> int:
        with self.open("w", encoding=encoding) as f:
            return int(f.write(data))

    def read_bytes(self) -> bytes:
        with self.open("rb") as f:
            return bytes(f.read())

    def write_bytes(self, data: bytes) -> int:
        with self.open("wb") as f:
            return int(f.write(data))

    def exists(self) -> bool:
        return Path(self._key).exists() if self.is_local else bool(self.fs.exists(self.path))

    def is_dir(self) -> bool:
        return Path(self._key).is_dir() if self.is_local else bool(self.fs.isdir(self.path))

    def is_file(self) -> bool:
        return Path(self._key).is_file() if self.is_local else bool(self.fs.isfile(self.path))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        if self.is_local:
            Path(self._key).mkdir(parents=parents, exist_ok=exist_ok)
        elif not (exist_ok and self.fs.exists(self.path)):
            self.fs.mkdir(self.path, create_parents=parents)

    def touch(self, exist_ok: bool = True) -> None:
        if self.is_local:
            Path(self._key).touch(exist_ok=exist_ok)
        else:
            self.fs.touch(self.path, truncate=not exist_ok)

    def unlink(self, missing_ok: bool = False) -> None:
        if self.is_local:
            Path(self._key).unlink(missing_ok=missing_ok)
        elif self.fs.exists(self.path) or not missing_ok:
            self.fs.rm_file(self.path)

    def rm(self, recursive: bool = False) -> None:
        if self.is_local:
            target = Path(self._key)
            shutil.rmtree(target) if recursive and target.is_dir() else target.unlink()
        else:
            self.fs.rm(self.path, recursive=recursive)

    def size(self) -> int:
        return Path(self._key).stat().st_size if self.is_local else int(self.fs.size(self.path))

    def iterdir(self) -> Iterator[ObjectStoragePath]:
        if self.is_local:
            for child in sorted(Path(self._key).iterdir()):
                yield self._with(str(child))
            return
        for child in sorted(self.fs.ls(self.path, detail=False)):
            yield self._with(f"{self.protocol}://{child.lstrip('/')}")

    def glob(self, pattern: str) -> Iterator[ObjectStoragePath]:
        if self.is_local:
            for found in sorted(Path(self._key).glob(pattern)):
                yield self._with(str(found))
            return
        for found in sorted(self.fs.glob(posixpath.join(self.path, pattern))):
            yield self._with(f"{self.protocol}://{found.lstrip('/')}")

    def copy(self, dst: ObjectStoragePath | str) -> None:
        """Copy this file to ``dst`` (any scheme)."""
        target = dst if isinstance(dst, ObjectStoragePath) else ObjectStoragePath(dst)
        if target.is_dir():
            target = target / self.name
        with self.open("rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink)

    def move(self, dst: ObjectStoragePath | str) -> None:
        self.copy(dst)
        self.unlink()
