"""What a process that runs user code cannot do, and what its parent hides from it.

In the child (every task process, DAG-file parser, and later trigger runner and callback child):

- :func:`block_imports` makes :data:`BLOCKED_MODULES` — the DB layer and the token signer
  (ADRs 0001, 0003) — fail to import with an error that says what to use instead;
- :func:`enter_sandbox` makes the process lead its own session (so one ``killpg`` reaches what it
  started), die with its parent (``PR_SET_PDEATHSIG``) and be the first pick of the kernel's OOM
  killer.

In the parent, which holds tokens the child must never see (user code runs as the same Unix user
and could read the parent through ``/proc``): :func:`protect_memory` makes it non-dumpable, so
its ``environ``, ``mem`` and ``ptrace`` are refused to its children, and
:func:`forget_environment_variable` wipes a secret from the initial environment block that
``/proc/<pid>/environ`` shows. :func:`child_environment` is what a child inherits: nothing of
Airlock's but its zone, and of OpenTelemetry's only where to export (no exporter secret).

A child running as root (or with ``CAP_SYS_PTRACE``) could still read its parent's memory: so a
parent started as root confines its children to an unprivileged user, and where the kernel has
Landlock no child can open another process's ``/proc`` entry at all (:mod:`._confine`).

The ``prctl`` calls are Linux's; elsewhere they do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.abc
import os
import signal
import sys
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from types import ModuleType
from typing import IO, Any

from airlock.sdk.execution_time.supervised._confine import Confinement, confine

#: Modules user code must never reach (ADR 0001, 0003): no DB layer, no token signer.
BLOCKED_MODULES = (
    "airlock.db",
    "airlock.scheduling",
    "airlock.core.tokens.signer",
    "airlock.core.tokens.keys",
    "airlock.core.secrets_key",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "psycopg2",
)

#: The environment variable that tells a started child its parent's pid (see :func:`parent_pid`).
PARENT_PID_VARIABLE = "AIRLOCK_PARENT_PID"
#: The exit code of a child that found its parent already gone.
ORPHAN_EXIT_CODE = 70

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4


class BlockedImportFinder(importlib.abc.MetaPathFinder):
    """Refuses :data:`BLOCKED_MODULES`, saying who may not import them and what to use instead."""

    def __init__(self, refused_to: str, instead: str) -> None:
        self.refused_to = refused_to
        self.instead = instead

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if any(fullname == m or fullname.startswith(m + ".") for m in BLOCKED_MODULES):
            raise ImportError(
                f"{fullname} is not available to {self.refused_to}: they run without database "
                f"access or signing keys; {self.instead}",
                name=fullname,
            )


def block_imports(refused_to: str, instead: str) -> None:
    """Install the import guard first on ``sys.meta_path``, before any user code runs."""
    sys.meta_path.insert(0, BlockedImportFinder(refused_to, instead))


#: The OpenTelemetry variables a child inherits: where and how to export its spans, and what to
#: call itself — never the exporter's headers (a collector's API key, typically), certificates or
#: client keys, which are the service's secrets.
PASSED_OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
)

#: What a processing-zone child (a DAG parser, a trigger or watcher runner, a callback child)
#: inherits with ``child_environment(..., only=PASSED_ENV)``: no token, no DB URL, no key path,
#: nothing of Airlock's but its zone.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")


def child_environment(
    environ: Mapping[str, str], zone: str, *, only: Collection[str] | None = None
) -> dict[str, str]:
    """``environ`` without anything of Airlock's (no token, no config, no DB URL) but the zone,
    and without any ``OTEL_*`` variable but :data:`PASSED_OTEL_VARIABLES` (an endpoint's
    ``user:password@`` removed); with ``only``, also without any variable it does not name."""
    env = {
        k: v
        for k, v in environ.items()
        if not k.startswith("AIRLOCK_")
        and (not k.startswith("OTEL_") or k in PASSED_OTEL_VARIABLES)
        and (only is None or k in only)
    }
    if "OTEL_EXPORTER_OTLP_ENDPOINT" in env:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = _without_credentials(
            env["OTEL_EXPORTER_OTLP_ENDPOINT"]
        )
    env["AIRLOCK_ZONE"] = zone
    env.pop("PYTHONSTARTUP", None)
    return env


def _without_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def parent_pid() -> int:
    """The pid of the process that started this one with :func:`~.start_child`.

    Read from the environment (and removed from it, so what this process forks does not inherit
    it) rather than from ``os.getppid()``: a parent that died before the child asked would have
    left it adopted by another process.
    """
    return int(os.environ.pop(PARENT_PID_VARIABLE, "0")) or os.getppid()


def enter_sandbox(
    parent: int,
    *,
    death_signal: int = signal.SIGKILL,
    oom_first: bool = True,
    confinement: Confinement | None = None,
) -> None:
    """In a new child: lead its own session, be the OOM killer's first pick, take on its
    ``confinement`` (:func:`~._confine.confine`), become non-dumpable (what it reads stays out
    of its siblings' reach) and die with ``parent``.

    Called in a freshly forked task process too, where every page written is a page copied
    from the zygote: it sticks to system calls and objects made ready in advance.
    """
    if os.getsid(0) != os.getpid():
        os.setsid()
    if oom_first:
        # Before anything makes /proc/self another user's.
        _write_file("/proc/self/oom_score_adj", b"1000")
    if confinement is not None:
        confine(confinement)
    protect_memory()
    # Armed last: a change of user clears the parent-death signal.
    set_parent_death_signal(death_signal)
    if os.getppid() != parent:
        os._exit(ORPHAN_EXIT_CODE)  # the parent died before the signal was armed


def take_channel() -> tuple[IO[bytes], IO[bytes]]:
    """The parent's channel, taken off stdin and stdout: private copies of the two pipes
    (requests in, replies out). Stdin is then empty and stdout goes to stderr, so nothing user
    code reads or prints can corrupt a frame."""
    requests_in = os.fdopen(os.dup(0), "rb")
    replies_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    return requests_in, replies_out


def set_parent_death_signal(signum: int) -> None:
    """Have the kernel send ``signum`` to this process when its parent thread ends (0: none)."""
    _prctl()(_PR_SET_PDEATHSIG, signum, 0, 0, 0)


def protect_memory() -> None:
    """Make this process non-dumpable (Linux; elsewhere a no-op)."""
    _prctl()(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def forget_environment_variable(name: str) -> None:
    """Remove ``name`` from the environment and overwrite its value in the initial block."""
    prefix = f"{name}=".encode()
    with contextlib.suppress(OSError, AttributeError, ValueError):
        environ = ctypes.POINTER(ctypes.c_void_p).in_dll(ctypes.CDLL(None), "environ")
        index = 0
        while (address := environ[index]) is not None:
            entry = ctypes.string_at(address)
            if entry.startswith(prefix):
                ctypes.memset(address + len(prefix), ord("x"), len(entry) - len(prefix))
            index += 1
    os.environ.pop(name, None)


@functools.cache
def _prctl() -> Any:
    """libc's ``prctl``, looked up and typed once (a zygote does it before forking); a no-op
    where there is none (not Linux)."""
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is None:
        return lambda *_: 0
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def _write_file(path: str, data: bytes) -> None:
    """Best effort, without Python's file objects (a forked task process must touch little)."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return
    try:
        os.write(fd, data)
    except OSError:
        pass
    finally:
        os.close(fd)
