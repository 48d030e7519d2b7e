"""Loading a task's DAG file, with a cache that forked task processes inherit.

A task process must find its task object, and only the DAG file can make it: the file is
imported by path under a module name derived from the path, as the DAG processor does, and the
DAGs it defines (module globals, or auto-registered by ``with DAG`` / ``@dag``) are collected.

Importing a file of 200 tasks costs ~15 ms, as much as everything else a no-op task does. So the
worker's zygote *preloads* a task's file before forking the task process (:func:`preload`): the
first task of a file pays the import once, every later task of it inherits the DAGs already
built. A cached file is used only while it and the bundle modules it imported are unchanged on
disk (size and mtime). A file that cannot be imported in the zygote — a syntax error, or top-level
code that reads a Variable, which needs a running task's channel — is imported again by the task
process itself (:func:`load_dag`), where its traceback lands in the task's log.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from airlock.sdk.exceptions import AirlockException

if TYPE_CHECKING:
    from airlock.sdk.definitions.dag import DAG

#: How many DAG files a zygote keeps imported.
MAX_CACHED_FILES = 64

_Stamp = tuple[tuple[str, int, int], ...]


class DagNotFound(AirlockException):
    """The DAG file on this worker does not define the task the workload names."""


class OutsideBundle(AirlockException):
    """A workload names a DAG file that is not inside its bundle's folder."""


def file_in_bundle(bundle_root: str, relative_path: str) -> str:
    """The path of ``relative_path`` inside ``bundle_root``, symbolic links resolved.

    The path comes from the API, which checks it, but the worker does not take the server's word
    for what it may open: a path that resolves outside the folder (``../x``, ``/etc/passwd``, a
    link pointing out) raises :class:`OutsideBundle`.
    """
    root = Path(bundle_root).resolve()
    path = (root / relative_path).resolve()
    if "\x00" in relative_path or not path.is_relative_to(root) or path == root:
        raise OutsideBundle(
            f"DAG file {relative_path!r} is outside bundle folder {bundle_root}; a bundle's "
            "DAG files are relative paths inside it"
        )
    return str(path)


@dataclass
class _LoadedFile:
    dags: dict[str, DAG]
    #: The file and the bundle modules it imported, and their sizes and mtimes at import.
    files: list[str]
    stamp: _Stamp
    modules: list[str]

    def is_fresh(self) -> bool:
        return _stamp(self.files) == self.stamp


_cache: OrderedDict[str, _LoadedFile] = OrderedDict()
#: Files whose zygote import failed, by the stamp they had: not retried until they change.
_failed: dict[str, _Stamp] = {}


def module_name(path: str) -> str:
    return "airlock_dagfile_" + hashlib.sha1(path.encode()).hexdigest()[:16]


def preload(path: str, bundle_root: str) -> bool:
    """Import ``path`` into the cache unless a fresh copy is there; true if it is cached now.

    Called in the zygote, where nothing may reach the API: a failure is remembered and left to
    the task process to reproduce.
    """
    cached = _cache.get(path)
    if cached is not None and cached.is_fresh():
        _cache.move_to_end(path)
        return True
    if _failed.get(path) == _stamp([path]):
        return False
    _forget(path)
    try:
        loaded = _import(path, bundle_root)
    except BaseException:
        _failed[path] = _stamp([path])
        return False
    _failed.pop(path, None)
    _cache[path] = loaded
    while len(_cache) > MAX_CACHED_FILES:
        _forget(next(iter(_cache)))
    return True


def load_dag(path: str, bundle_root: str, dag_id: str, task_id: str | None = None) -> DAG:
    """The DAG ``dag_id`` of the file at ``path``: from the cache if fresh, else imported now."""
    from airlock.sdk.definitions.context import set_parsing_context

    cached = _cache.get(path)
    if cached is not None and cached.is_fresh():
        dags = cached.dags
    else:
        if not os.path.isfile(path):
            raise DagNotFound(
                f"DAG file {path} does not exist on this worker; check that the worker's "
                "[worker] bundles folder holds the same files as the DAG processor's"
            )
        set_parsing_context(dag_id, task_id)
        dags = _import(path, bundle_root).dags
    dag = dags.get(dag_id)
    if dag is None:
        found = ", ".join(sorted(dags)) or "none"
        raise DagNotFound(
            f"DAG file {path} does not define DAG {dag_id!r} (it defines: {found}); the file "
            "on this worker may differ from the one the DAG processor parsed"
        )
    return dag


def _import(path: str, bundle_root: str) -> _LoadedFile:
    from airlock.sdk.definitions import _active
    from airlock.sdk.definitions.dag import DAG

    if bundle_root not in sys.path:
        sys.path.insert(0, bundle_root)
    name = module_name(path)
    modules_before = set(sys.modules)
    _active.clear()
    try:
        # Another DAG of the file being invalid must not stop this one's tasks: the DAG
        # processor stored only the file's valid DAGs, so only those get workloads.
        with _active.deferred_validation():
            module = _exec_module(name, path)
        found: dict[str, DAG] = {v.dag_id: v for v in vars(module).values() if isinstance(v, DAG)}
        found.update({d.dag_id: d for d in _active.registered_dags()})
    finally:
        _active.clear()
    root = str(Path(bundle_root).resolve()) + os.sep
    modules = [
        m
        for m in set(sys.modules) - modules_before
        if m != name and (getattr(sys.modules.get(m), "__file__", None) or "").startswith(root)
    ]
    files = [path, *(f for m in modules if (f := getattr(sys.modules[m], "__file__", None)))]
    return _LoadedFile(dags=found, files=files, stamp=_stamp(files), modules=modules)


def _exec_module(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        # Compiled from the source every time: a cached .pyc is trusted by whole-second mtime
        # and size, so a DAG file edited within a second to the same length would run stale.
        exec(compile(Path(path).read_bytes(), path, "exec", dont_inherit=True), module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _stamp(paths: list[str]) -> _Stamp:
    stamps = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamps.append((path, -1, -1))
        else:
            stamps.append((path, st.st_mtime_ns, st.st_size))
    return tuple(stamps)


def _forget(path: str) -> None:
    """Drop a cached file and the bundle modules it imported, so a new version is imported."""
    loaded = _cache.pop(path, None)
    sys.modules.pop(module_name(path), None)
    for name in loaded.modules if loaded is not None else []:
        sys.modules.pop(name, None)
