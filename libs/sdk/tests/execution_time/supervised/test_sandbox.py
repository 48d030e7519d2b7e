"""The one sandbox of processes that run user code, checked in real child processes: the modules
they cannot import, their session and OOM priority, what they inherit of the environment, and
how a parent hides its memory and its secrets from them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from airlock.sdk.execution_time.supervised import (
    BLOCKED_MODULES,
    PARENT_PID_VARIABLE,
    Child,
    child_environment,
)


def test_a_child_environment_keeps_nothing_of_airlock_but_its_zone() -> None:
    env = child_environment(
        {
            "PATH": "/bin",
            "AIRLOCK_WORKER__TOKEN": "t",
            "AIRLOCK_CONFIG": "/x.toml",
            "HOME": "/h",
            "PYTHONSTARTUP": "/steal.py",
        },
        "execution",
    )
    assert env == {"PATH": "/bin", "HOME": "/h", "AIRLOCK_ZONE": "execution"}


def test_a_child_environment_can_be_narrowed_to_named_variables() -> None:
    env = child_environment(
        {"PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "k", "AIRLOCK_ZONE": "control"},
        "processing",
        only=("PATH", "AIRLOCK_ZONE"),
    )
    assert env == {"PATH": "/bin", "AIRLOCK_ZONE": "processing"}


def test_a_child_environment_keeps_where_to_export_spans_but_no_exporter_secret() -> None:
    env = child_environment(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel:s3cret@collector.example:4318",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": "etl",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=s3cret",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "authorization=Bearer s3cret",
            "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/etc/otel/client.key",
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/etc/otel/client.pem",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/otel/ca.pem",
        },
        "execution",
    )
    assert env == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": "etl",
        "AIRLOCK_ZONE": "execution",
    }


def test_the_blocked_modules_are_the_db_layer_and_the_signer() -> None:
    for name in ("airlock.db", "sqlalchemy", "airlock.core.tokens.signer"):
        assert name in BLOCKED_MODULES
    assert not any(m == "airlock.core" or m.startswith("airlock.sdk") for m in BLOCKED_MODULES)


@pytest.mark.slow
def test_user_code_cannot_import_a_blocked_module(python_child: Callable[..., Child]) -> None:
    child = python_child(
        """
        import sys
        from airlock.sdk.execution_time.supervised import BLOCKED_MODULES, block_imports
        block_imports("test code", "ask the parent instead")
        for name in [*BLOCKED_MODULES, "sqlalchemy.orm"]:
            try:
                __import__(name)
                print("imported", name)
            except ImportError as exc:
                print(exc)
        import json  # everything else imports as usual
        """
    )
    assert child.stdout is not None
    lines = child.stdout.read().decode().splitlines()
    assert child.wait(10) == 0
    assert len(lines) == len(BLOCKED_MODULES) + 1
    for line in lines:
        assert "is not available to test code" in line, line
        assert line.endswith("; ask the parent instead"), line


@pytest.mark.slow
def test_a_sandboxed_child_leads_its_session_and_is_the_oom_killers_first_pick(
    python_child: Callable[..., Child],
) -> None:
    child = python_child(
        f"""
        import os, subprocess
        from airlock.sdk.execution_time.supervised import enter_sandbox, parent_pid
        enter_sandbox(parent_pid())
        print(os.getsid(0) == os.getpid())
        print(open("/proc/self/oom_score_adj").read().strip())
        print({PARENT_PID_VARIABLE!r} in os.environ)
        # What it forks is in its session too.
        print(subprocess.run(["sh", "-c", "ps -o sid= $$"], capture_output=True).stdout.strip()
              == str(os.getpid()).encode())
        """
    )
    assert child.stdout is not None
    assert child.stdout.read().decode().split() == ["True", "1000", "False", "True"]
    assert child.wait(10) == 0


@pytest.mark.slow
def test_a_parent_hides_its_memory_and_forgets_a_secret_variable(
    python_child: Callable[..., Child],
) -> None:
    child = python_child(
        """
        import ctypes, os, sys
        from airlock.sdk.execution_time.supervised import (
            forget_environment_variable, protect_memory,
        )
        forget_environment_variable("AIRLOCK_TEST_SECRET")
        print("AIRLOCK_TEST_SECRET" in os.environ, flush=True)
        sys.stdin.readline()
        protect_memory()
        print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0), flush=True)  # PR_GET_DUMPABLE
        """,
        stdin=subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stdin is not None
    assert child.stdout.readline().strip() == b"False"
    environ = Path(f"/proc/{child.pid}/environ").read_bytes()
    assert b"AIRLOCK_TEST_SECRET=xxxx" in environ
    assert b"hunter2" not in environ, "wiped from the block /proc shows, too"
    child.stdin.write(b"\n")
    assert child.stdout.readline().strip() == b"0", "not dumpable"
    assert child.wait(10) == 0
