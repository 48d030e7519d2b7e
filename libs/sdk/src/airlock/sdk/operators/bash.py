"""BashOperator: run a command with ``bash -c``.

Exit code 0 succeeds and the last line of output becomes the return value (pushed to XCom);
an exit code in ``skip_on_exit_code`` (default 99) skips the task; any other exit code fails it.
A command ending in ``.sh`` or ``.bash`` names a template file (found next to the DAG file or on
the DAG's ``template_searchpath``); add a space after it to run it as a plain command instead.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

from airlock.sdk.definitions.baseoperator import BaseOperator
from airlock.sdk.exceptions import AirlockException, AirlockSkipException

log = logging.getLogger("airlock.task.bash")


def context_env(context: Mapping[str, Any]) -> dict[str, str]:
    """``AIRLOCK_CTX_*`` variables describing the running task, for scripts to read."""
    ti = context.get("ti")
    values = {
        "AIRLOCK_CTX_DAG_ID": getattr(ti, "dag_id", None),
        "AIRLOCK_CTX_TASK_ID": getattr(ti, "task_id", None),
        "AIRLOCK_CTX_RUN_ID": context.get("run_id"),
        "AIRLOCK_CTX_TRY_NUMBER": getattr(ti, "try_number", None),
        "AIRLOCK_CTX_LOGICAL_DATE": context.get("ts"),
    }
    return {k: str(v) for k, v in values.items() if v is not None}


def skip_codes(value: int | Container[int] | None) -> Container[int]:
    if value is None:
        return ()
    return (value,) if isinstance(value, int) else value


class BashOperator(BaseOperator):
    """Run ``bash_command`` in a subprocess."""

    template_fields: Sequence[str] = ("bash_command", "env", "cwd")
    template_fields_renderers = {"bash_command": "bash", "env": "json"}
    template_ext: Sequence[str] = (".sh", ".bash")
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        output_processor: Callable[[str], Any] = lambda output: output,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        self.skip_on_exit_code = skip_on_exit_code
        self.cwd = cwd
        self.output_processor = output_processor
        self._process: subprocess.Popen[bytes] | None = None

    def build_env(self, context: Mapping[str, Any]) -> dict[str, str]:
        if self.env is None:
            env = dict(os.environ)
        elif self.append_env:
            env = {**os.environ, **self.env}
        else:
            env = dict(self.env)
        env.update(context_env(context))
        return env

    def execute(self, context: Any) -> Any:
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise AirlockException(f"cwd {self.cwd!r} does not exist or is not a directory")
        return self.output_processor(self.run_command(self.bash_command, context))

    def run_command(self, command: str, context: Mapping[str, Any]) -> str:
        """Run ``command``; return its last output line or raise as the exit code says."""
        self._process = process = subprocess.Popen(
            ["bash", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
            env=self.build_env(context),
            start_new_session=True,
        )
        last_line = ""
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(self.output_encoding, errors="backslashreplace").rstrip("\n")
            log.info("%s", line)
            last_line = line
        returncode = process.wait()
        self._process = None
        if returncode in skip_codes(self.skip_on_exit_code):
            raise AirlockSkipException(f"bash command exited with code {returncode}; skipping")
        if returncode != 0:
            raise AirlockException(
                f"bash command failed: it exited with code {returncode} "
                f"(last output line: {last_line!r})"
            )
        return last_line

    def on_kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
