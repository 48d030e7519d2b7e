"""A service's token comes from its file (or its setting) and leaves the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airlock.cli.errors import CliError
from airlock.cli.service_tokens import read_token


def test_the_file_wins_and_the_environment_forgets_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "triggerer.token"
    file.write_text("from-file\n")
    monkeypatch.setenv("AIRLOCK_TRIGGERER__TOKEN", "from-env")
    token = read_token("triggerer", "triggerer", "from-env", str(file), issue="--kind service")
    assert token == "from-file"
    assert "AIRLOCK_TRIGGERER__TOKEN" not in os.environ


def test_the_setting_serves_when_there_is_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_WORKER__TOKEN", "inline")
    assert read_token("worker", "worker", "inline", None, issue="--kind worker") == "inline"
    assert "AIRLOCK_WORKER__TOKEN" not in os.environ


def test_a_missing_token_names_the_setting_and_how_to_issue_one() -> None:
    with pytest.raises(CliError) as refused:
        read_token(
            "callback_processor",
            "callback processor",
            None,
            None,
            issue="--kind service --role callback-processor --bundle NAME",
        )
    assert str(refused.value) == (
        "the callback processor needs a service token: set [callback_processor] token_file or "
        "AIRLOCK_CALLBACK_PROCESSOR__TOKEN (issue one with `airlock tokens issue --kind service "
        "--role callback-processor --bundle NAME`)"
    )


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.token"
    with pytest.raises(CliError, match=r"cannot read \[worker\] token_file .*nope.token"):
        read_token("worker", "worker", None, str(missing), issue="--kind worker")
