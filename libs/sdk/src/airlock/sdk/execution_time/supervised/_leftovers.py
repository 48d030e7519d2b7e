"""What a killed parent left behind, killed by the next parent that starts.

A supervised child dies with its parent (``PR_SET_PDEATHSIG``), but what the child started — a
subprocess a trigger, a callback or a DAG file launched — gets no such signal: it is adopted by
init and runs on, holding files, ports and memory. Every child leads its own session, and what
it starts stays in that session unless it calls ``setsid`` itself, so the session id names
everything a child left.

A parent that calls :func:`track_children` keeps a file in a shared folder listing its children
(pid and start time); :func:`~._process.start_child` adds to it, closing a child removes it (a
child forked by another — a worker's task process, forked by its zygote — is added with
:func:`record_child` and removed with :func:`forget_child`). When
a parent starts, it reads every file whose owner is no longer running (its pid gone, or reused by
a process that started at another time) and SIGKILLs every process still in those children's
sessions, then deletes the file. Session ids are safe to trust: the kernel gives no new process
a pid that is still some process's session id.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from pathlib import Path

log = logging.getLogger("airlock.sandbox")


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), ``None`` if there is no such process."""
    fields = _stat(pid)
    return None if fields is None else int(fields[19])


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    # The fields after the command name, which may itself hold spaces and parentheses.
    return text.rsplit(")", 1)[1].split()


def kill_session(leader: int, leader_started: int | None) -> int:
    """SIGKILL every process of the session ``leader`` led, unless ``leader`` is now another
    process (a pid reused since); how many were killed."""
    now = start_time(leader)
    if now is not None and leader_started is not None and now != leader_started:
        return 0
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat(int(entry))
        if fields is not None and fields[3] == str(leader) and fields[0] != "Z":
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
    return killed


class ChildRegistry:
    """This process's file of children in ``folder`` (one file per parent process)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder = folder
        me = os.getpid()
        self.path = folder / f"{me}-{start_time(me)}"
        self._lock = threading.Lock()
        self._children: dict[int, int | None] = {}

    def add(self, pid: int) -> None:
        with self._lock:
            self._children[pid] = start_time(pid)
            self._write()

    def remove(self, pid: int) -> None:
        with self._lock:
            if self._children.pop(pid, 0) != 0:
                self._write()

    def _write(self) -> None:
        text = "".join(f"{pid} {started}\n" for pid, started in self._children.items())
        temporary = self.path.with_suffix(".new")
        # Private, as everything under AIRLOCK_HOME: which processes run user code is no one's
        # business but the services'.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(temporary, self.path)

    def kill_leftovers(self) -> int:
        """Kill what every parent no longer running left; how many processes were killed."""
        killed = 0
        for path in self.folder.iterdir():
            owner, _, started = path.name.partition("-")
            if path == self.path or not owner.isdigit() or path.suffix == ".new":
                continue
            if str(start_time(int(owner))) == started:
                continue  # that parent still runs: its children are its own business
            with contextlib.suppress(OSError, ValueError):
                for line in path.read_text().splitlines():
                    pid, leader_started = line.split()
                    killed += kill_session(
                        int(pid), None if leader_started == "None" else int(leader_started)
                    )
            with contextlib.suppress(OSError):
                path.unlink()
        return killed

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


#: This process's registry, once it tracks its children (a list, so no ``global`` is needed).
_registries: list[ChildRegistry] = []


def track_children(folder: Path) -> int:
    """Record this process's children in ``folder`` from now on, and kill what the parents
    that recorded theirs there and are gone left behind; how many processes that killed."""
    tracked = ChildRegistry(folder)
    _registries[:] = [tracked]
    killed = tracked.kill_leftovers()
    if killed:
        log.warning(
            "killed %d process(es) that a previous, killed service's children left running",
            killed,
        )
    return killed


def record_child(pid: int) -> None:
    """Record a child this process did not start itself but must answer for — a task process
    its zygote forked — so that the next parent kills its session if this one is killed."""
    if (tracked := registry()) is not None:
        tracked.add(pid)


def forget_child(pid: int) -> None:
    """The child ``pid`` recorded with :func:`record_child` has ended."""
    if (tracked := registry()) is not None:
        tracked.remove(pid)


def registry() -> ChildRegistry | None:
    """The registry of this process (``None`` in a forked copy or when it tracks nothing)."""
    for tracked in _registries:
        if tracked.path.name.startswith(f"{os.getpid()}-"):
            return tracked
    return None
