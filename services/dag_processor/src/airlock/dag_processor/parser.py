"""The parser process: imports one DAG file at a time and returns its serialized DAGs.

Started by the processor as a supervised child
(:mod:`airlock.sdk.execution_time.supervised`) with no token, no DB URL and
``AIRLOCK_ZONE=processing``; the SDK is imported once at start, so each file costs only its own
import. It speaks the channel of :mod:`airlock.dag_processor.protocol` on private copies of
stdin/stdout; the DAG file's own prints go to stderr and its reads of stdin find nothing.

Each DAG of a file is serialized on its own: one that cannot be (a cycle, a value with no JSON
form) becomes an import error naming that DAG, and the file's other DAGs are still returned.

What a DAG file may not do here, it cannot: importing the DB layer or the token signer fails with
an error saying why, and the settings refuse to give a DB URL. The operating system confines it
too (see :mod:`airlock.sdk.execution_time.supervised`): a memory cap, another user when the
processor runs as root, and only its bundle, its temp folder and the Python install to open.
Processes a DAG file starts are killed once its import ends. A file that calls ``sys.exit`` or
leaves threads running gets an import error, and the processor replaces this parser. The parser
dies with its processor, even mid-import.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from airlock.dag_processor.protocol import (
    MAX_FRAME,
    FileParsed,
    ParseFile,
    to_parser_decoder,
)
from airlock.models.codec import compress, dag_hash, encode_dag
from airlock.models.dag import ListedRuns
from airlock.models.internal import DagMetadata, DagUpload
from airlock.sdk.execution_time.lookup_comms import LookupComms
from airlock.sdk.execution_time.supervised import (
    adopt_orphans,
    block_imports,
    confinement,
    enter_sandbox,
    kill_descendants,
    memory_limit_bytes,
    parent_pid,
    read_frame,
    take_channel,
    write_frame,
)


def parse_file(request: ParseFile) -> FileParsed:
    from airlock.sdk.definitions import _active
    from airlock.sdk.definitions.dag import DAG
    from airlock.sdk.serialization import listed_runs, serialize_dag

    threads_before = {t.ident for t in threading.enumerate()}
    module_name = "airlock_dagfile_" + hashlib.sha1(request.path.encode()).hexdigest()[:16]
    _active.clear()
    must_restart = False
    import_error: str | None = None
    uploads: list[DagUpload] = []
    modules_before = set(sys.modules)
    try:
        with _active.deferred_validation():
            module = _import_file(module_name, request.path)
        found = {id(v): v for v in vars(module).values() if isinstance(v, DAG)}
        found.update({id(d): d for d in _active.registered_dags()})
        dag_errors: list[str] = []
        for dag in sorted(found.values(), key=lambda d: d.dag_id):
            try:
                serialized = serialize_dag(dag, bundle_root=request.bundle_root)
                uploads.append(_upload(serialized, request.relative_path, listed_runs(dag)))
            except Exception as exc:
                dag_errors.append(_dag_error(dag.dag_id, exc))
        import_error = "\n\n".join(dag_errors) or None
    except SystemExit as exc:
        import_error = f"{request.relative_path} called sys.exit({exc.code!r}) while being imported"
        must_restart = True
    except MemoryError:
        limit = memory_limit_bytes()
        import_error = _user_traceback(request.path) + (
            f"{request.relative_path} went over the parser's memory limit of "
            f"{limit / 2**20:.0f} MiB ([dag_processor] parser_memory_mb) while being imported"
            if limit
            else ""
        )
        uploads = []
        must_restart = True
    except BaseException:
        import_error = _user_traceback(request.path)
        uploads = []
    finally:
        _forget_modules(set(sys.modules) - modules_before, request.bundle_root)
        _active.clear()
    if processes := kill_descendants():
        import_error = (
            f"{request.relative_path} left {processes} process(es) running after import; they "
            "were killed (start processes inside tasks, not at the top level of a DAG file)"
        )
        uploads = []
    leftover = [t for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()]
    if leftover:
        names = ", ".join(sorted(t.name for t in leftover))
        import_error = (
            f"{request.relative_path} left {len(leftover)} thread(s) running after import ({names}); "
            "start threads inside tasks, not at the top level of a DAG file"
        )
        uploads = []
        must_restart = True
    return FileParsed(dags=uploads, import_error=import_error, must_restart=must_restart)


def _import_file(module_name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # Compiled from the source every time: a cached .pyc is trusted by whole-second mtime and
    # size, so a DAG file edited within a second to the same length would parse stale.
    exec(compile(Path(path).read_bytes(), path, "exec", dont_inherit=True), module.__dict__)
    return module


def _upload(serialized: Any, relative_path: str, listed_runs: ListedRuns | None) -> DagUpload:
    encoded = encode_dag(serialized)
    schedule = serialized.schedule
    metadata = DagMetadata(
        dag_id=serialized.dag_id,
        fileloc=serialized.fileloc,
        relative_fileloc=relative_path,
        schedule=_schedule_text(schedule, serialized.timetable_summary),
        timetable_summary=serialized.timetable_summary,
        description=serialized.description,
        dag_display_name=serialized.dag_display_name,
        owners=list(serialized.owners),
        tags=list(serialized.tags),
        max_active_runs=serialized.max_active_runs,
        max_active_tasks=serialized.max_active_tasks,
        catchup=serialized.catchup,
        is_paused_upon_creation=serialized.is_paused_upon_creation,
        listed_runs=listed_runs,
    )
    return DagUpload(metadata=metadata, dag_hash=dag_hash(encoded), blob=compress(encoded))


def _schedule_text(schedule: Any, summary: str | None) -> str | None:
    """The schedule as people write it: ``@daily`` stays ``@daily``, not its cron expansion."""
    kind = type(schedule).__name__
    if kind == "CronSchedule":
        return summary if summary and summary.startswith("@") else str(schedule.expr)
    if kind == "DeltaSchedule":
        return f"every {schedule.seconds:g}s"
    if kind == "OnceSchedule":
        return "@once"
    if kind == "ContinuousSchedule":
        return "@continuous"
    if kind == "AssetSchedule":
        return "assets"
    if kind == "AssetOrTimeSchedule":
        return f"assets or {_schedule_text(schedule.timetable, summary)}"
    if kind == "ListedSchedule":
        return summary or str(schedule.timetable).rsplit(".", 1)[-1]
    return None


def _dag_error(dag_id: str, exc: Exception) -> str:
    """An import error naming the one DAG of the file that cannot be stored."""
    from airlock.sdk.exceptions import DagDefinitionError

    if isinstance(exc, DagDefinitionError):
        detail = str(exc)
    else:
        detail = "".join(traceback.format_exception(exc)).rstrip()
    return f"DAG {dag_id!r} was not stored (the file's other DAGs were): {detail}"


def _user_traceback(path: str) -> str:
    """The traceback from the DAG file's first frame on: the parser's own frames help nobody."""
    exc_type, exc, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    start = next((i for i, f in enumerate(frames) if f.filename == path), 0)
    lines = traceback.format_list(frames[start:])
    return (
        "Traceback (most recent call last):\n"
        + "".join(lines)
        + "".join(traceback.format_exception_only(exc_type, exc))
    )


def _forget_modules(new_modules: set[str], bundle_root: str) -> None:
    """Drop the DAG file and any bundle module it imported, so the next file (or the next
    version of a helper module) is imported fresh. Library modules it imported stay cached."""
    root = str(Path(bundle_root).resolve()) + os.sep
    for name in new_modules:
        location = getattr(sys.modules.get(name), "__file__", None) or ""
        if name.startswith("airlock_dagfile_") or location.startswith(root):
            sys.modules.pop(name, None)


def serve() -> None:
    enter_sandbox(parent_pid(), confinement=confinement())
    adopt_orphans()
    requests_in, replies_out = take_channel()
    block_imports(
        "DAG files",
        "read variables and connections with airlock.sdk.Variable / Connection instead",
    )
    sys.dont_write_bytecode = True  # never leave __pycache__ folders in a user's bundle

    import airlock.sdk

    airlock.sdk.preload()  # each file then pays only its own import
    from airlock.sdk.execution_time.comms import set_comms

    set_comms(
        LookupComms(
            replies_out,
            requests_in,
            decoder=to_parser_decoder,
            max_frame=MAX_FRAME,
            unavailable="while a DAG file is parsed; only Variable.get and Connection.get are "
            "(move this call into a task)",
        )
    )
    while True:
        try:
            message = to_parser_decoder.decode(read_frame(requests_in, max_frame=MAX_FRAME))
        except EOFError:
            return
        if not isinstance(message, ParseFile):
            continue
        if message.bundle_root not in sys.path:
            sys.path.insert(0, message.bundle_root)
        result = parse_file(message)
        write_frame(replies_out, result, max_frame=MAX_FRAME)
        if result.must_restart:
            return


if __name__ == "__main__":
    serve()
