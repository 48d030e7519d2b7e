"""The parser pool with real parser processes: a file that hangs is killed with everything it
started, one that corrupts the channel costs only itself, and no parser outlives a processor
killed with SIGKILL in the middle of a parse."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.dag_processor.bundle import BundleFileEntry
from airlock.dag_processor.pool import ParserPool
from tests.support.waiting import alive, wait_until

pytestmark = pytest.mark.slow

GOOD = """
from airlock.sdk import DAG
dag = DAG("{dag_id}", schedule=None)
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir()
    return folder


def entry(bundle: Path, name: str, source: str) -> BundleFileEntry:
    path = bundle / name
    path.write_text(textwrap.dedent(source))
    return BundleFileEntry(path=path, relative_path=name, content_hash="-")


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[ParserPool]:
    parsers = ParserPool(
        1,
        timeout_s=2,
        max_files=100,
        get_variable=lambda key: None,
        get_connection=lambda conn_id: None,
        cwd=tmp_path,
        # The files below leave their pids here, the only folder a parser may write to.
        temp_folder=tmp_path,
    )
    yield parsers
    parsers.close()


def test_a_file_past_the_timeout_is_killed_with_what_it_started(
    pool: ParserPool, bundle: Path
) -> None:
    pid_file = bundle.parent / "sleeper.pid"
    hangs = entry(
        bundle,
        "hangs.py",
        f"""
        import subprocess, time
        sleeper = subprocess.Popen(["sleep", "60"])
        open({str(pid_file)!r}, "w").write(str(sleeper.pid))
        time.sleep(60)
        """,
    )
    good = entry(bundle, "good.py", GOOD.format(dag_id="survivor"))
    ((_, hung), (_, parsed)) = pool.parse_all([hangs, good], bundle)
    assert hung.import_error == "hangs.py took longer than 2 s to import; the parser was stopped"
    assert wait_until(lambda: not alive(int(pid_file.read_text()))), "its subprocess died too"
    assert parsed.import_error is None
    assert [d.metadata.dag_id for d in parsed.dags] == ["survivor"]
    assert pool.restarts == 1


def test_a_file_that_corrupts_the_channel_costs_only_itself(pool: ParserPool, bundle: Path) -> None:
    # The file finds the parser's private copy of the reply pipe and writes garbage to it.
    corrupts = entry(
        bundle,
        "corrupts.py",
        """
        import fcntl, os, stat
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            try:
                pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
                flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            except OSError:
                continue
            if fd > 2 and pipe and flags & os.O_ACCMODE == os.O_WRONLY:
                os.write(fd, b"\\x00\\x00\\x00\\x05garbage")
        """,
    )
    good = entry(bundle, "good.py", GOOD.format(dag_id="survivor"))
    ((_, broken), (_, parsed)) = pool.parse_all([corrupts, good], bundle)
    assert broken.import_error is not None
    assert broken.import_error.startswith(
        "the parser broke its channel while importing corrupts.py: the parser sent a frame "
        "that is not a message of its channel"
    )
    assert broken.dags == []
    assert [d.metadata.dag_id for d in parsed.dags] == ["survivor"]


PROCESSOR = """
import sys
from pathlib import Path
from airlock.dag_processor.bundle import BundleFileEntry
from airlock.dag_processor.pool import ParserPool

bundle = Path(sys.argv[1])
pool = ParserPool(
    2, timeout_s=60, max_files=100, get_variable=lambda k: None,
    get_connection=lambda c: None, cwd=bundle, temp_folder=bundle.parent,
)
files = [BundleFileEntry(path=p, relative_path=p.name, content_hash="-")
         for p in sorted(bundle.glob("*.py"))]
pool.parse_all(files, bundle)
"""


def test_no_parser_outlives_a_processor_killed_mid_parse(bundle: Path) -> None:
    pid_files = [bundle.parent / f"parser_{n}.pid" for n in range(2)]
    for n, pid_file in enumerate(pid_files):
        entry(
            bundle,
            f"slow_{n}.py",
            f"""
            import os, time
            open({str(pid_file)!r}, "w").write(str(os.getpid()))
            time.sleep(30)
            print("still parsing after the processor died")
            """,
        )
    script = bundle.parent / "processor.py"
    script.write_text(PROCESSOR)
    processor = subprocess.Popen(
        [sys.executable, str(script), str(bundle)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_until(lambda: all(p.exists() and p.read_text() for p in pid_files), 30)
        parsers = [int(p.read_text()) for p in pid_files]
        processor.send_signal(signal.SIGKILL)
        # The pipes reach end of file only once no parser holds them any more.
        out, err = processor.communicate(timeout=10)
    finally:
        processor.kill()
        processor.wait()
    assert processor.returncode == -signal.SIGKILL
    # Their pipes close before they are gone from the process table.
    assert wait_until(lambda: not any(alive(pid) for pid in parsers), 5)
    assert b"Traceback" not in err, err.decode()
    assert b"still parsing" not in out + err
