"""Virtualenv and external-Python tasks: real interpreters, real venvs (built with uv), cached by
what defines them."""

from __future__ import annotations

import sys
from pathlib import Path

import pendulum
import pytest

from airlock.sdk import DAG, task
from airlock.sdk.exceptions import AirlockException


def test_a_virtualenv_task_runs_in_its_cached_venv_with_its_requirements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with DAG("venv", start_date=pendulum.datetime(2021, 1, 1)) as dag:

        @task.virtualenv(requirements=["six==1.16.0"], system_site_packages=False)
        def inside(n: int, ds: str | None = None) -> dict[str, object]:
            import sys

            import six

            return {"prefix": sys.prefix, "n": n * 2, "ds": ds, "six": six.__version__}

        @task.virtualenv(requirements=["six==1.16.0"], system_site_packages=False)
        def again() -> str:
            import sys

            return sys.prefix

        @task.external_python(python=sys.executable)
        def outside() -> str:
            import sys

            return sys.executable

        inside(21) >> again()
        outside()
    result = dag.test(logical_date=pendulum.datetime(2021, 5, 6))
    assert result.state == "success", result.errors
    value = result.xcom("inside")
    assert value["n"] == 42
    assert value["ds"] == "2021-05-06"
    assert value["six"] == "1.16.0"
    assert Path(value["prefix"]).parent == tmp_path / "airlock" / "venvs"
    assert result.xcom("again") == value["prefix"]  # same requirements: the same venv
    assert len([p for p in (tmp_path / "airlock" / "venvs").iterdir() if p.is_dir()]) == 1
    assert result.xcom("outside") == sys.executable


def test_a_failing_callable_fails_the_task_naming_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with DAG("venv_fail", start_date=pendulum.datetime(2021, 1, 1)) as dag:

        @task.virtualenv(system_site_packages=False)
        def boom() -> None:
            raise RuntimeError("inside the venv")

        boom()
    result = dag.test()
    assert result.state == "failed"
    error = result.errors[("boom", -1)]
    assert isinstance(error, AirlockException)
    assert "boom() failed in" in str(error)
