"""``run-all``'s fork server: the services are forked from one process that imported their code.

Six service processes that each import the same libraries (msgspec, httpx, SQLAlchemy,
Litestar, Airlock's own packages) each hold a private copy of every module: most of a service's
memory. Forked from one parent that imported them all once, they share those pages
copy-on-write (``gc.freeze`` keeps the collector from writing to them), and the stack idles in
less memory.

The fork server holds no credential, so nothing a service inherits from it is one: it is
started with no ``AIRLOCK_*`` setting at all, and it never reads a service's environment. The
supervisor sends each request as the service's command line plus a memory file holding its
environment (``SCM_RIGHTS``); only the forked service reads that file, after the fork. The
service is forked twice so that the supervisor (a child subreaper) becomes its parent and reaps
it like any other child; its command line is set to the one it would have had when started on
its own, so ``ps`` and the tests see ``… -m airlock.cli worker`` as before. The services keep
their own supervised children, which start by ``exec`` as before: user code inherits nothing
of this.

Protocol on the inherited socket: the supervisor sends the command as JSON with the memory
file's descriptor attached; the server answers with the service's pid (8 bytes; 0 when it could
not fork). A closed socket stops the server.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import signal
import socket
import struct
import sys
from pathlib import Path

#: What the services have in common: the command modules, the HTTP clients and the services
#: outside the control plane. Not SQLAlchemy or Litestar, which only the API and the scheduler
#: use: preloaded, their pages were copied into every other service as it touched the pages
#: around them (measured: the stack took 261 MB instead of 213).
PRELOAD = (
    "airlock.cli.main",
    "airlock.cli.service_tokens",
    "airlock.cli.leftovers",
    "airlock.cli.telemetry",
    "airlock.sdk.api",
    "airlock.sdk.execution_time.supervised",
)
#: The command prefix of a service the server can start: ``python -m airlock.cli …``.
CLI = ["-m", "airlock.cli"]
PID = struct.Struct("q")


def serve(channel: socket.socket) -> None:
    """Answer fork requests until the supervisor closes ``channel``."""
    for module in PRELOAD:
        importlib.import_module(module)
    gc.collect()
    gc.freeze()
    while True:
        message, fds, _flags, _address = socket.recv_fds(channel, 1 << 16, 1)
        if not message or len(fds) != 1:
            return
        pid = _fork(json.loads(message), fds[0], channel)
        os.close(fds[0])
        channel.sendall(PID.pack(pid))


def _fork(command: list[str], env_fd: int, channel: socket.socket) -> int:
    """Fork the service ``command`` via a middle process that exits at once; its pid."""
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(read)
        try:
            pid = os.fork()
        except OSError:
            os._exit(1)
        if pid == 0:
            os.close(write)
            _become_service(command, env_fd, channel)  # raises SystemExit when it ends
        os.write(write, PID.pack(pid))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        reply = pipe.read(PID.size)
    os.waitpid(middle, 0)  # the service is the supervisor's child from here on
    return PID.unpack(reply)[0] if len(reply) == PID.size else 0  # 0: the fork failed


def _become_service(command: list[str], env_fd: int, channel: socket.socket) -> None:
    from airlock.cli.main import main

    channel.close()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with os.fdopen(env_fd, "rb") as f:
        env = json.load(f)
    os.environ.clear()
    os.environ.update(env)
    set_command_line(" ".join(command))
    sys.argv = [command[0], *command[len(CLI) + 1 :]]
    sys.exit(main(command[len(CLI) + 1 :]))


def set_command_line(title: str) -> None:
    """Show ``title`` as this process's command line (``/proc/self/cmdline``, ``ps``).

    Written over the process's own argument area, as ``setproctitle`` does: the title, its NUL,
    then filler up to a last byte that is not NUL, which makes the kernel show the area as one
    string up to the first NUL (tools split it at spaces). A title longer than the arguments
    spills into the area of the initial environment, which the fork server started without
    settings and which a forked service no longer uses (``os.environ`` was replaced).
    """
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 48-51 of proc(5): arg_start, arg_end, env_start, env_end (after ")", field 3 is 0).
    arg_start, arg_end, _env_start, env_end = (int(f) for f in fields[45:49])
    text = title.encode()[: env_end - arg_start - 1] + b"\0"
    text += b" " * max(0, arg_end - arg_start - len(text))
    ctypes.memmove(arg_start, text, len(text))


if __name__ == "__main__":
    # Ctrl-C reaches the whole terminal's process group: the supervisor stops this server by
    # closing the channel, once it has stopped the services.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(socket.socket(fileno=int(sys.argv[1])))
