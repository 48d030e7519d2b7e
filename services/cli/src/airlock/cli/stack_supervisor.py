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

#: A service that exits more often than this within the window is not restarted again.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0

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


def supervise(children: dict[str, subprocess.Popen[bytes]], commands: Services) -> int:
    """Keep every service up until Ctrl-C; restart one that dies, give up if it keeps dying."""
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    deaths: dict[str, list[float]] = {name: [] for name in children}
    while not stopping:
        for name, child in list(children.items()):
            if child.poll() is None:
                continue
            now = time.monotonic()
            deaths[name] = [t for t in deaths[name] if now - t < RESTART_WINDOW_S] + [now]
            if len(deaths[name]) > MAX_RESTARTS:
                print(
                    f"airlock run-all: {name} keeps exiting (code {child.returncode}); stopping the rest",
                    file=sys.stderr,
                )
                exit_code = 1
                stopping = True
                break
            print(
                f"airlock run-all: {name} exited with code {child.returncode}; restarting it",
                file=sys.stderr,
            )
            command, env = commands[name]
            children[name] = subprocess.Popen(command, env=env)
        time.sleep(0.2)
    stop_all(children)
    print("airlock run-all: stopped", flush=True)
    return exit_code


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
