"""Python tasks in another interpreter: ``PythonVirtualenvOperator`` / ``@task.virtualenv`` and
``ExternalPythonOperator`` / ``@task.external_python``.

A task that needs libraries the worker does not have (or conflicting versions) runs its function
in a virtual environment built for its requirements. Building one is slow, so environments are
built once with uv (``python -m venv`` and pip when uv is not on PATH) and kept in a cache keyed
by the hash of what defines them: requirements, Python version, system site packages, pip
options. A file lock makes concurrent tasks with the same requirements build it once.

The function's source is run in the other interpreter as a script: its arguments go in as JSON
and its return value comes back as JSON (the same rule as XComs). Context values the function
names as parameters (``params``, ``ds``, ``logical_date`` …) are passed too, dates as ISO text.
The function must therefore be self-contained: imports inside it, no closures.
"""

from __future__ import annotations

import ast
import fcntl
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from airlock.sdk.exceptions import AirlockException, DagDefinitionError
from airlock.sdk.operators.python import PythonOperator
from airlock.sdk.timezone import json_enc_hook

_RUNNER = """
import json, sys
{source}
with open(sys.argv[1]) as handle:
    call = json.load(handle)
result = {name}(*call["args"], **call["kwargs"])
with open(sys.argv[2], "w") as handle:
    json.dump(result, handle)
"""


def function_source(function: Callable[..., Any]) -> str:
    """The function's own source, without its decorators (``@task.virtualenv`` …)."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError) as exc:
        raise DagDefinitionError(
            f"the source of {getattr(function, '__name__', function)!r} is not available ({exc}); "
            "a virtualenv task must be a plain function defined in a file"
        ) from None
    tree = ast.parse(source)
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise DagDefinitionError(
            f"{function!r} is not a def: a virtualenv task must be a plain function"
        )
    node.decorator_list = []
    return ast.unparse(node)


def cache_home() -> Path:
    """``$XDG_CACHE_HOME``, else ``~/.cache`` when this user may write there, else the temp folder:
    a task confined by its worker (``[worker] run_as_user``, ADR 0017) has no home of its own and
    may write only to its private temp folder, where environments are then kept for the worker's
    life."""
    if cache := os.environ.get("XDG_CACHE_HOME"):
        return Path(cache)
    home_cache = Path.home() / ".cache"
    nearest = home_cache if home_cache.exists() else Path.home()
    if os.access(nearest, os.W_OK | os.X_OK):
        return home_cache
    return Path(tempfile.gettempdir()) / "airlock-cache"


def venv_cache_root() -> Path:
    """``<cache home>/airlock/venvs`` (:func:`cache_home`); an operator's ``venv_cache_path``
    wins."""
    return cache_home() / "airlock" / "venvs"


class _ProcessPythonOperator(PythonOperator):
    """Runs ``python_callable`` with the interpreter :meth:`interpreter` returns."""

    def interpreter(self) -> str:
        raise NotImplementedError

    def _call_arguments(self, context: Any) -> dict[str, Any]:
        parameters = inspect.signature(self.python_callable).parameters
        kwargs = dict(self.op_kwargs)
        for name in parameters:
            if name not in kwargs and name in context and name not in ("ti", "task_instance"):
                kwargs[name] = context[name]
        try:
            return msgspec.json.decode(
                msgspec.json.encode(
                    {"args": list(self.op_args), "kwargs": kwargs}, enc_hook=json_enc_hook
                )
            )
        except (TypeError, msgspec.EncodeError) as exc:
            raise AirlockException(
                f"task '{self.task_id}' runs in another interpreter, so its arguments must be "
                f"plain JSON: {exc}"
            ) from None

    def execute(self, context: Any) -> Any:
        python = self.interpreter()
        name = self.python_callable.__name__
        script = _RUNNER.format(source=function_source(self.python_callable), name=name)
        with tempfile.TemporaryDirectory(prefix="airlock-venv-task-") as work:
            folder = Path(work)
            (folder / "task.py").write_text(script)
            (folder / "call.json").write_text(json.dumps(self._call_arguments(context)))
            sys.stdout.flush()
            done = subprocess.run(
                [python, str(folder / "task.py"), str(folder / "call.json"), str(folder / "out")],
                check=False,
                cwd=work,
            )
            if done.returncode != 0:
                raise AirlockException(
                    f"task '{self.task_id}': {name}() failed in {python} (exit code "
                    f"{done.returncode}); its traceback is in the log above"
                )
            return json.loads((folder / "out").read_text())


class ExternalPythonOperator(_ProcessPythonOperator):
    """Run the callable with an existing interpreter, ``python`` (a path)."""

    def __init__(self, *, python: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.python = python

    def interpreter(self) -> str:
        if not os.access(self.python, os.X_OK):
            raise AirlockException(
                f"task '{self.task_id}': python={self.python!r} is not an executable on this worker"
            )
        return self.python


class PythonVirtualenvOperator(_ProcessPythonOperator):
    """Run the callable in a cached virtual environment with ``requirements`` installed."""

    template_fields = ("requirements", "templates_dict", "op_args", "op_kwargs")  # type: ignore[assignment]

    def __init__(
        self,
        *,
        requirements: Sequence[str] | str | None = None,
        python_version: str | None = None,
        system_site_packages: bool = True,
        pip_install_options: Sequence[str] | None = None,
        venv_cache_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(requirements, str):
            requirements = [line for line in requirements.splitlines() if line.strip()]
        self.requirements = list(requirements or [])
        self.python_version = python_version
        self.system_site_packages = system_site_packages
        self.pip_install_options = list(pip_install_options or [])
        self.venv_cache_path = venv_cache_path

    def cache_key(self) -> str:
        spec = {
            "requirements": sorted(self.requirements),
            "python": self.python_version or f"{sys.version_info[0]}.{sys.version_info[1]}",
            "system_site_packages": self.system_site_packages,
            "pip": self.pip_install_options,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]

    def interpreter(self) -> str:
        root = Path(self.venv_cache_path) if self.venv_cache_path else venv_cache_root()
        root.mkdir(parents=True, exist_ok=True)
        venv = root / self.cache_key()
        python = venv / "bin" / "python"
        with open(root / f"{venv.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (venv / ".airlock-complete").exists():
                shutil.rmtree(venv, ignore_errors=True)
                self._build(venv, python)
                (venv / ".airlock-complete").write_text(json.dumps(sorted(self.requirements)))
        return str(python)

    def _build(self, venv: Path, python: Path) -> None:
        uv = shutil.which("uv")
        base = self.python_version or sys.executable
        site = ["--system-site-packages"] if self.system_site_packages else []
        if uv:
            steps = [[uv, "venv", "--quiet", "--python", base, *site, str(venv)]]
            if self.requirements:
                steps.append(
                    [
                        uv,
                        "pip",
                        "install",
                        "--quiet",
                        "--python",
                        str(python),
                        *self.pip_install_options,
                        *self.requirements,
                    ]
                )
        else:
            interpreter = f"python{self.python_version}" if self.python_version else sys.executable
            steps = [[interpreter, "-m", "venv", *site, str(venv)]]
            if self.requirements:
                steps.append(
                    [
                        str(python),
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        *self.pip_install_options,
                        *self.requirements,
                    ]
                )
        # uv keeps its own download cache under the user's cache home, which must be writable.
        env = {**os.environ}
        env.setdefault("UV_CACHE_DIR", str(cache_home() / "uv"))
        for step in steps:
            done = subprocess.run(step, check=False, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise AirlockException(
                    f"task '{self.task_id}': building its virtualenv failed: {' '.join(step)}: "
                    f"{done.stderr.strip() or done.stdout.strip()}"
                )
