"""Keeping the worker token out of reach of the tasks the worker runs as the same Unix user.

Task processes never receive a token (see :mod:`airlock.worker.supervisor`), but they run as
the worker's user, and a process may read another process of its user through ``/proc``: its
environment, its command line, its memory. So the ``airlock worker`` command, before it starts
anything:

- marks itself non-dumpable (``PR_SET_DUMPABLE`` 0): ``/proc/<pid>/environ`` and ``mem`` and
  ``ptrace`` become refused to processes without ``CAP_SYS_PTRACE``;
- wipes a token given as an environment variable from the process's *initial* environment block,
  the memory ``/proc/<pid>/environ`` shows (removing it from ``os.environ`` alone leaves it there).

A task running as root (or with ``CAP_SYS_PTRACE``) can still read the supervisor's memory: run
tasks as an unprivileged user, and keep a ``token_file`` readable by the worker only — such as a
secret mounted into the worker's container — for isolation a process boundary cannot give.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

_PR_SET_DUMPABLE = 4


def protect_memory() -> None:
    """Make this process non-dumpable (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


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
