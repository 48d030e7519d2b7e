"""A pool of pre-started parser processes, each driven by one thread of the processor.

Each parser is a supervised child (:mod:`airlock.sdk.execution_time.supervised`): it leads its own
process group and dies with the processor. It is confined: a memory cap, the ``run_as_user`` when
the processor runs as root, and (where the kernel has Landlock) only the bundle, its own temp
folder, the Python install and the system's folders to open. A parser that hangs past the per-file timeout is
killed with its group; one that dies (``os._exit``, a segfault) or asks to be replaced is
restarted. Either way only the file it was parsing gets an import
error. Parsers are also replaced after ``max_files`` files to bound what leaks between files.
"""

from __future__ import annotations

import logging
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from airlock.dag_processor.bundle import BundleFileEntry
from airlock.dag_processor.protocol import (
    MAX_FRAME,
    ConnectionReply,
    FileParsed,
    GetVariable,
    ParseFile,
    VariableReply,
    from_parser_decoder,
)
from airlock.models.secrets import ConnectionInfo
from airlock.sdk.execution_time.supervised import (
    PASSED_ENV,
    Confinement,
    FrameError,
    child_environment,
    decode_message,
    prepare_folder,
    read_frame,
    start_child,
    write_frame,
)

log = logging.getLogger("airlock.dag_processor")


class ParseTimeout(Exception):
    pass


def parser_env() -> dict[str, str]:
    return {**child_environment(os.environ, "processing", only=PASSED_ENV), "PYTHONUNBUFFERED": "1"}


class Parser:
    """One parser process and how many files it parsed."""

    def __init__(self, cwd: Path, confinement: Confinement | None = None) -> None:
        env = parser_env()
        if confinement is not None and confinement.writable:
            env["TMPDIR"] = confinement.writable[0]
        self.child = start_child(
            [sys.executable, "-m", "airlock.dag_processor.parser"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=cwd,
            confinement=confinement,
        )
        self.files_parsed = 0

    def kill(self) -> None:
        self.child.close()


class ParserPool:
    def __init__(
        self,
        size: int,
        *,
        timeout_s: float,
        max_files: int,
        get_variable: Callable[[str], str | None],
        get_connection: Callable[[str], ConnectionInfo | None],
        cwd: Path,
        run_as_user: str | None = None,
        memory_limit_mb: int | None = None,
        temp_folder: Path | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._memory_limit_mb = memory_limit_mb
        #: The parsers' temp folder (the only folder they may write to), theirs alone unless given.
        self._own_tmp = temp_folder is None
        self._tmp = str(temp_folder) if temp_folder else tempfile.mkdtemp(prefix="airlock-parsers-")
        prepare_folder(self._tmp, run_as_user)
        self._confinement = Confinement(
            user=run_as_user,
            memory_limit_bytes=memory_limit_mb * 2**20 if memory_limit_mb else None,
            readable=(str(cwd),),
            writable=(self._tmp,),
        )
        self._max_files = max_files
        self._get_variable = get_variable
        self._get_connection = get_connection
        self._cwd = cwd
        # Started now, so that their interpreters boot while the processor lists the bundle;
        # a pass's threads start any more they need, and every pass ends by stopping them (see
        # release_idle), so an idle processor holds no parser memory.
        self._idle: list[Parser] = [Parser(cwd, self._confinement) for _ in range(size)]
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="parser")
        self.restarts = 0

    def parse_all(
        self, files: Iterable[BundleFileEntry], bundle_root: Path
    ) -> list[tuple[BundleFileEntry, FileParsed]]:
        entries = list(files)
        results = self._executor.map(lambda e: (e, self._parse(e, bundle_root)), entries)
        return list(results)

    def _parse(self, entry: BundleFileEntry, bundle_root: Path) -> FileParsed:
        parser = self._checkout()
        started = time.monotonic()
        try:
            result = self._drive(
                parser,
                ParseFile(
                    path=str(entry.path),
                    relative_path=entry.relative_path,
                    bundle_root=str(bundle_root),
                ),
            )
        except ParseTimeout:
            result = FileParsed(
                dags=[],
                import_error=f"{entry.relative_path} took longer than {self._timeout_s:g} s to import; the parser was stopped",
                must_restart=True,
            )
        except FrameError as exc:
            result = FileParsed(
                dags=[],
                import_error=f"the parser broke its channel while importing {entry.relative_path}: {exc}",
                must_restart=True,
            )
        except (EOFError, OSError) as exc:
            code = parser.child.wait(2)  # a parser whose pipe closed may take a moment to be reaped
            how = f"exited with code {code}" if code is not None else f"broke its pipe ({exc})"
            limit = (
                f" (parsers may use {self._memory_limit_mb} MiB of memory: [dag_processor] "
                "parser_memory_mb)"
                if self._memory_limit_mb
                else ""
            )
            result = FileParsed(
                dags=[],
                import_error=f"the parser {how} while importing {entry.relative_path}{limit}",
                must_restart=True,
            )
        parser.files_parsed += 1
        log.debug("parsed %s in %.3f s", entry.relative_path, time.monotonic() - started)
        self._checkin(parser, replace=result.must_restart or parser.files_parsed >= self._max_files)
        return result

    def _drive(self, parser: Parser, request: ParseFile) -> FileParsed:
        stdin, stdout = parser.child.stdin, parser.child.stdout
        assert stdin is not None
        assert stdout is not None
        write_frame(stdin, request, max_frame=MAX_FRAME)
        deadline = time.monotonic() + self._timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise ParseTimeout
                message = decode_message(
                    from_parser_decoder,
                    read_frame(stdout, max_frame=MAX_FRAME),
                    sender="the parser",
                )
                if isinstance(message, FileParsed):
                    return message
                if isinstance(message, GetVariable):
                    answer: VariableReply | ConnectionReply = VariableReply(
                        value=self._get_variable(message.key)
                    )
                else:
                    answer = ConnectionReply(connection=self._get_connection(message.conn_id))
                write_frame(stdin, answer, max_frame=MAX_FRAME)

    def _checkout(self) -> Parser:
        with self._lock:
            return self._idle.pop() if self._idle else Parser(self._cwd, self._confinement)

    def _checkin(self, parser: Parser, *, replace: bool) -> None:
        if replace or parser.child.poll() is not None:
            parser.kill()
            self.restarts += 1
            parser = Parser(self._cwd, self._confinement)
        with self._lock:
            self._idle.append(parser)

    def release_idle(self) -> None:
        """Stop the parsers that wait for work: a processor whose files rarely change holds no
        parser memory between changes (the next change starts them again, ~0.2 s)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for parser in idle:
            parser.kill()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            for parser in self._idle:
                parser.kill()
            self._idle.clear()
        if self._own_tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
