"""The parent process of ``airlock run-all``: start the services, keep them up until Ctrl-C.

It lives as long as the stack, so it is kept small: ``run-all`` prepares everything with the
full CLI, then replaces itself (``os.execv``, same pid) with ``python -I -S`` running this file,
which imports only the standard library (~6 MB of memory instead of ~13 MB). The services come
as JSON in an inherited memory file (their environments hold settings that must not show in a
command line).
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time

#: A service that exits again within this window of its last start waits longer before the next
#: restart: 0.5 s after the first exit, doubling up to ``MAX_BACKOFF_S``. One failing service
#: never stops the rest of the stack: the others keep serving, and the restarts are reported.
RESTART_WINDOW_S = 60.0
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0

Services = dict[str, tuple[list[str], dict[str, str]]]


def main(argv: list[str]) -> int:
    # It holds every service's environment: non-dumpable, so its /proc files are refused to user
    # code running as its user.
    prctl = getattr(ctypes.CDLL(None), "prctl", None)
    if prctl is not None:
        prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
    with os.fdopen(int(argv[0]), "rb") as f:
        services: Services = {name: (cmd, env) for name, (cmd, env) in json.load(f).items()}
    children = {name: subprocess.Popen(cmd, env=env) for name, (cmd, env) in services.items()}
    return supervise(children, services)


def backoff_s(recent_exits: int) -> float:
    """How long a service that exited ``recent_exits`` times in the window waits to restart."""
    return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** max(0, recent_exits - 1))


def supervise(children: dict[str, subprocess.Popen[bytes]], commands: Services) -> int:
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
                    command, env = commands[name]
                    children[name] = subprocess.Popen(command, env=env)
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
        time.sleep(0.2)
    stop_all(children)
    print("airlock run-all: stopped", flush=True)
    return 0


def stop_all(children: dict[str, subprocess.Popen[bytes]], grace_s: float = 10.0) -> None:
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


def exec_supervisor(services: Services) -> None:
    """Replace this process with the small supervisor of ``services`` (does not return)."""
    fd = os.memfd_create("airlock-run-all-services", 0)
    with os.fdopen(fd, "wb", closefd=False) as f:
        f.write(json.dumps(services).encode())
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-I", "-S", __file__, str(fd)])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
