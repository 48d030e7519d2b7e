"""A pool of pre-started parser processes, each driven by one thread of the processor.

A parser that hangs past the per-file timeout is killed; one that dies (``os._exit``, a segfault)
or asks to be replaced is restarted. Either way only the file it was parsing gets an import
error. Parsers are also replaced after ``max_files`` files to bound what leaks between files.
"""

from __future__ import annotations

import logging
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from airlock.dag_processor.bundle import BundleFileEntry
from airlock.dag_processor.protocol import (
    ConnectionAnswer,
    FileParsed,
    GetConnection,
    GetVariable,
    ParseFile,
    VariableAnswer,
    from_parser_decoder,
    read_frame,
    write_frame,
)
from airlock.models.secrets import ConnectionInfo

log = logging.getLogger("airlock.dag_processor")

#: Only these variables reach a parser: no token, no DB URL, no key path, nothing of Airlock's.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")


class ParseTimeout(Exception):
    pass


def parser_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in PASSED_ENV}
    env["AIRLOCK_ZONE"] = "processing"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Parser:
    """One parser process and the state of its pipes."""

    def __init__(self, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airlock.dag_processor.parser"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=parser_env(),
            cwd=cwd,
            bufsize=0,  # unbuffered: select() must see every byte the parser sent
        )
        self.files_parsed = 0

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


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
    ) -> None:
        self._timeout_s = timeout_s
        self._max_files = max_files
        self._get_variable = get_variable
        self._get_connection = get_connection
        self._cwd = cwd
        # Started now, so that their interpreters boot while the processor lists the bundle;
        # a pass's threads start any more they need, and every pass ends by stopping them (see
        # release_idle), so an idle processor holds no parser memory.
        self._idle: list[Parser] = [Parser(cwd) for _ in range(size)]
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
        except (EOFError, BrokenPipeError, OSError, ValueError) as exc:
            code = _exit_code(parser)
            how = f"exited with code {code}" if code is not None else f"broke its pipe ({exc})"
            result = FileParsed(
                dags=[],
                import_error=f"the parser {how} while importing {entry.relative_path}",
                must_restart=True,
            )
        parser.files_parsed += 1
        log.debug("parsed %s in %.3f s", entry.relative_path, time.monotonic() - started)
        self._checkin(parser, replace=result.must_restart or parser.files_parsed >= self._max_files)
        return result

    def _drive(self, parser: Parser, request: ParseFile) -> FileParsed:
        stdin, stdout = parser.process.stdin, parser.process.stdout
        assert stdin is not None
        assert stdout is not None
        write_frame(stdin, request)
        deadline = time.monotonic() + self._timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise ParseTimeout
                message = from_parser_decoder.decode(read_frame(stdout))
                if isinstance(message, FileParsed):
                    return message
                if isinstance(message, GetVariable):
                    write_frame(stdin, VariableAnswer(value=self._get_variable(message.key)))
                elif isinstance(message, GetConnection):
                    write_frame(
                        stdin, ConnectionAnswer(connection=self._get_connection(message.conn_id))
                    )

    def _checkout(self) -> Parser:
        with self._lock:
            return self._idle.pop() if self._idle else Parser(self._cwd)

    def _checkin(self, parser: Parser, *, replace: bool) -> None:
        if replace or parser.process.poll() is not None:
            parser.kill()
            self.restarts += 1
            parser = Parser(self._cwd)
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


def _exit_code(parser: Parser) -> int | None:
    """The parser's exit code once its pipe closed (it may take a moment to be reaped)."""
    try:
        return parser.process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        return None
