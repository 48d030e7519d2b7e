"""The parent process of ``airlock run-all``: start the services, keep them up until Ctrl-C.

It lives as long as the stack, so it is kept small: ``run-all`` prepares everything with the
full CLI, then replaces itself (``os.execv``, same pid) with ``python -I -S`` running this file,
which imports only the standard library (~6 MB of memory instead of ~13 MB). The services come
as JSON in an inherited memory file (their environments hold settings that must not show in a
command line).

When given one, it asks a fork server (:mod:`airlock.cli.fork_server`) to fork each service
from one process that imported the services' code, so they share those pages; a service the
fork server cannot start (it died, or the command is not ``airlock``'s) is started on its own.
"""

import ctypes
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

#: A service that exits again within this window of its last start waits longer before the next
#: restart: 0.5 s after the first exit, doubling up to ``MAX_BACKOFF_S``. One failing service
#: never stops the rest of the stack: the others keep serving, and the restarts are reported.
RESTART_WINDOW_S = 60.0
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0

#: How long the fork server may take to answer (its first answer waits for its imports).
FORK_TIMEOUT_S = 60.0
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36

Command = tuple[list[str], dict[str, str]]
Services = dict[str, Command]


def main(argv: list[str]) -> int:
    prctl = getattr(ctypes.CDLL(None), "prctl", None)
    if prctl is not None:
        # It holds every service's environment: non-dumpable, so its /proc files are refused to
        # user code running as its user. A subreaper: the services the fork server forks become
        # its children.
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    with os.fdopen(int(argv[0]), "rb") as f:
        stack = json.load(f)
    services: Services = {name: (cmd, env) for name, (cmd, env) in stack["services"].items()}
    forks = ForkServer(*stack["fork_server"]) if stack.get("fork_server") else None
    children = {name: start(name, command, forks) for name, command in services.items()}
    try:
        return supervise(children, services, forks)
    finally:
        if forks is not None:
            forks.stop()


class Forked:
    """A service the fork server forked: the part of ``subprocess.Popen`` the supervisor uses
    (it is this process's child, as the fork server's middle process exited)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1  # reaped elsewhere: gone all the same
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.05)
        return code

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)


Child = subprocess.Popen[bytes] | Forked


class ForkServer:
    """The supervisor's end of :mod:`airlock.cli.fork_server`."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self._channel, theirs = socket.socketpair()
        self._channel.settimeout(FORK_TIMEOUT_S)
        self.process = subprocess.Popen(
            [*command, str(theirs.fileno())], env=env, pass_fds=[theirs.fileno()]
        )
        theirs.close()

    def fork(self, command: list[str], env: dict[str, str]) -> Forked:
        """Fork ``command`` with ``env`` (which this fork server never reads); OSError when
        the server is gone or cannot fork."""
        fd = os.memfd_create("airlock-service-env", os.MFD_CLOEXEC)
        try:
            os.write(fd, json.dumps(env).encode())
            os.lseek(fd, 0, os.SEEK_SET)
            socket.send_fds(self._channel, [json.dumps(command).encode()], [fd])
            reply = self._channel.recv(8)
        except OSError:
            # A late answer would be taken for the next request's: no next request.
            self._channel.close()
            raise
        finally:
            os.close(fd)
        pid = struct.unpack("q", reply)[0] if len(reply) == 8 else 0
        if not pid:
            raise OSError("the fork server did not answer")
        return Forked(pid)

    def stop(self) -> None:
        self._channel.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(name: str, command: Command, forks: ForkServer | None) -> Child:
    """Start one service: forked by ``forks`` when it is an ``airlock`` command, else on its own."""
    cmd, env = command
    if forks is not None and cmd[1:3] == ["-m", "airlock.cli"]:
        try:
            return forks.fork(cmd, env)
        except OSError as exc:
            print(
                f"airlock run-all: the fork server could not start {name} ({exc}); "
                "starting it on its own",
                file=sys.stderr,
                flush=True,
            )
    return subprocess.Popen(cmd, env=env)


def reap_strays(children: dict[str, Child], forks: ForkServer | None) -> None:
    """Reap an exited process that is none of the services or the fork server: a subreaper
    inherits the orphans of the services it runs, which would otherwise stay zombies."""
    ours = {child.pid for child in children.values()}
    if forks is not None:
        ours.add(forks.process.pid)
    while True:
        try:
            found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if found is None or found.si_pid in ours:
            return
        os.waitpid(found.si_pid, 0)


def backoff_s(recent_exits: int) -> float:
    """How long a service that exited ``recent_exits`` times in the window waits to restart."""
    return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** max(0, recent_exits - 1))


def supervise(
    children: dict[str, Child], commands: Services, forks: ForkServer | None = None
) -> int:
    """Keep every service up until Ctrl-C: restart one that dies, backing off while it keeps
    dying; 0 when stopped by a signal."""
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    deaths: dict[str, list[float]] = {name: [] for name in children}
    restart_at: dict[str, float] = {}
    while not stopping:
        now = time.monotonic()
        for name, child in list(children.items()):
            if name in restart_at:
                if now >= restart_at[name]:
                    del restart_at[name]
                    children[name] = start(name, commands[name], forks)
                continue
            if child.poll() is None:
                continue
            deaths[name] = [t for t in deaths[name] if now - t < RESTART_WINDOW_S] + [now]
            wait = backoff_s(len(deaths[name]))
            print(
                f"airlock run-all: {name} exited with code {child.returncode} "
                f"({len(deaths[name])} time(s) in the last {RESTART_WINDOW_S:.0f} s); "
                f"restarting it in {wait:.1f} s, the other services keep running",
                file=sys.stderr,
                flush=True,
            )
            restart_at[name] = now + wait
        reap_strays(children, forks)
        time.sleep(0.2)
    stop_all(children)
    print("airlock run-all: stopped", flush=True)
    return 0


def stop_all(children: dict[str, Child], grace_s: float = 10.0) -> None:
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + grace_s
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def exec_supervisor(services: Services, fork_server: Command | None = None) -> None:
    """Replace this process with the small supervisor of ``services``, forked by
    ``fork_server`` when given (does not return)."""
    fd = os.memfd_create("airlock-run-all-services", 0)
    with os.fdopen(fd, "wb", closefd=False) as f:
        f.write(json.dumps({"services": services, "fork_server": fork_server}).encode())
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-I", "-S", __file__, str(fd)])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
