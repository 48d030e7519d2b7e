"""A child's confinement, applied by the kernel before its code runs: a memory cap, another user
when started as root (still able to import the standard library and read its folders), and a
Landlock ruleset that lets it open only its own folders."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from airlock.sdk.execution_time.supervised import (
    Child,
    Confinement,
    default_user,
    landlock_abi,
    prepare_folder,
)

REPORT = """
import json, os, sys
from airlock.sdk.execution_time.supervised import confinement, enter_sandbox, parent_pid

enter_sandbox(parent_pid(), confinement=confinement())
{body}
"""


def report(python_child: Callable[..., Child], body: str, confinement: Confinement) -> dict:
    child = python_child(REPORT.format(body=body), confinement=confinement)
    assert child.stdout is not None
    out = child.stdout.read()
    assert child.wait(10) == 0, out
    result: dict = json.loads(out)
    return result


def attempt(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        return type(exc).__name__
    return "read"


ATTEMPTS = """
def attempt(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        return type(exc).__name__
    return "read"
"""


def test_going_over_the_memory_cap_is_a_memory_error(python_child: Callable[..., Child]) -> None:
    body = """
try:
    hoard = bytearray(400 * 2**20)
    print(json.dumps({"allocated": len(hoard)}))
except MemoryError:
    print(json.dumps({"memory_error": True}))
"""
    seen = report(python_child, body, Confinement(memory_limit_bytes=200 * 2**20, landlock=False))
    assert seen == {"memory_error": True}


@pytest.mark.skipif(landlock_abi() == 0, reason="this kernel has no Landlock")
def test_landlock_lets_it_open_only_its_folders(
    python_child: Callable[..., Child], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # (tmp_path holds the child's script: it may read that folder, as its own sys.path.)
    mine, theirs = tmp_path / "bundle", tmp_path_factory.mktemp("keys")
    mine.mkdir()
    (mine / "dag.py").write_text("x = 1\n")
    (theirs / "secret.key").write_text("hunter2\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert attempt(str(theirs / "secret.key")) == "read", "readable before confinement"
    body = (
        ATTEMPTS
        + f"""
import decimal  # the standard library is still there
open({str(scratch / "note")!r}, "w").write("ok")
print(json.dumps({{
    "mine": attempt({str(mine / "dag.py")!r}),
    "theirs": attempt({str(theirs / "secret.key")!r}),
    "parent environ": attempt(f"/proc/{{os.getppid()}}/environ"),
    "own status": attempt("/proc/self/status"),
}}))
"""
    )
    confinement = Confinement(readable=(str(mine),), writable=(str(scratch),))
    seen = report(python_child, body, confinement)
    assert seen == {
        "mine": "read",
        "theirs": "PermissionError",
        "parent environ": "PermissionError",
        "own status": "read",
    }
    assert (scratch / "note").read_text() == "ok"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can run user code as another user")
def test_started_as_root_it_runs_as_nobody_and_still_reaches_its_folders(
    python_child: Callable[..., Child], tmp_path: Path
) -> None:
    # tmp_path is private to root (0700): nobody could not reach the bundle inside it but for
    # the private view of its folders the confinement sets up.
    assert tmp_path.stat().st_mode & 0o077 == 0
    bundle = tmp_path / "bundle"
    bundle.mkdir(mode=0o755)
    (bundle / "dag.py").write_text("x = 1\n")
    (tmp_path / "secret.key").write_text("hunter2\n")
    (tmp_path / "secret.key").chmod(0o600)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    prepare_folder(str(scratch), "nobody")
    body = (
        ATTEMPTS
        + f"""
import decimal, sqlite3  # imported after the switch: the Python install is reachable
print(json.dumps({{
    "uid": os.getuid(),
    "groups": os.getgroups(),
    "bundle": attempt({str(bundle / "dag.py")!r}),
    "secret": attempt({str(tmp_path / "secret.key")!r}),
}}))
"""
    )
    confinement = Confinement(
        user="nobody", readable=(str(bundle),), writable=(str(scratch),), landlock=False
    )
    seen = report(python_child, body, confinement)
    assert seen["uid"] == 65534
    assert seen["groups"] == []
    assert seen["bundle"] == "read"
    assert seen["secret"] in ("PermissionError", "FileNotFoundError")


def test_the_default_user_is_nobody_for_root_and_unknown_users_are_refused() -> None:
    assert default_user("") is None
    if os.geteuid() == 0:
        assert default_user(None) == "nobody"
        with pytest.raises(ValueError, match="'no-such-user-x' is not a user of this system"):
            default_user("no-such-user-x")
    else:
        assert default_user(None) is None
