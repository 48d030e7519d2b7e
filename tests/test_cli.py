"""The `airlock` command as a person types it, run as a real process."""

from __future__ import annotations

import jwt

from airlock.core.tokens import TokenVerifier
from airlock.core.tokens.keys import load_public_key
from tests.support.processes import Home

SUBCOMMANDS = [
    "api",
    "dag-processor",
    "dags",
    "db",
    "keys",
    "login",
    "tokens",
    "users",
    "run-all",
    "scheduler",
    "worker",
    "triggerer",
    "triggers",
]


def test_help_lists_every_subcommand_with_one_line(home: Home) -> None:
    lines = home.airlock("--help").stdout.splitlines()
    for name in SUBCOMMANDS:
        where = [i for i, line in enumerate(lines) if line.split()[:1] == [name]]
        assert where, f"{name} missing from airlock --help"
        # argparse puts a long command's description on the next line.
        rest = lines[where[0]].split()[1:] or lines[where[0] + 1].split()
        assert rest, f"{name} has no one-line description"


def test_issue_service_token_verifies_with_public_key_only(home: Home) -> None:
    token = home.airlock(
        "tokens",
        "issue",
        "--kind",
        "service",
        "--role",
        "dag-processor",
        "--bundle",
        "team-a",
        "--ttl",
        "30d",
    ).stdout.strip()
    verifier = TokenVerifier(load_public_key(home.path / "keys" / "jwt_public.pem"))
    claims = verifier.verify(token, "internal")
    assert claims.role == "dag-processor"
    assert claims.bundles == ["team-a"]
    assert claims.exp - claims.iat == 30 * 86400
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"


def test_token_issue_errors_are_named(home: Home) -> None:
    cases = [
        (
            ["--kind", "service", "--role", "boss", "--bundle", "a"],
            "--role 'boss' is not a service role",
        ),
        (["--kind", "service", "--role", "triggerer"], "needs at least one --bundle"),
        (
            ["--kind", "service", "--role", "triggerer", "--bundle", "a", "--ttl", "3y"],
            "invalid duration '3y'",
        ),
        (["--kind", "user", "--role", "admin"], "needs --subject"),
    ]
    for args, message in cases:
        result = home.airlock("tokens", "issue", *args, check=False)
        assert result.returncode == 2, result
        assert message in result.stderr


def test_task_tokens_are_not_issued_by_hand(home: Home) -> None:
    result = home.airlock("tokens", "issue", "--kind", "task", check=False)
    assert result.returncode == 2
    assert "invalid choice: 'task'" in result.stderr


def test_keys_generate_keeps_existing_keys(home: Home) -> None:
    before = (home.path / "keys" / "jwt_signing.pem").read_bytes()
    assert "kept existing token keys" in home.airlock("keys", "generate").stdout
    assert (home.path / "keys" / "jwt_signing.pem").read_bytes() == before


def test_db_current_is_head(home: Home) -> None:
    from alembic.script import ScriptDirectory

    from airlock.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config(home.db_url)).get_current_head()
    assert home.airlock("db", "current").stdout.strip().startswith(str(head))


def test_users_create_refuses_duplicates_and_short_passwords(home: Home) -> None:
    home.airlock(
        "users", "create", "carol", "--role", "op", "--password-stdin", stdin="long-enough-pw\n"
    )
    again = home.airlock(
        "users",
        "create",
        "carol",
        "--role",
        "op",
        "--password-stdin",
        stdin="long-enough-pw\n",
        check=False,
    )
    assert again.returncode == 2
    assert "user 'carol' already exists" in again.stderr
    short = home.airlock(
        "users", "create", "dave", "--role", "op", "--password-stdin", stdin="short\n", check=False
    )
    assert "at least 8 characters" in short.stderr


def test_unknown_setting_is_an_error_naming_it(home: Home) -> None:
    env = {**home.env, "AIRLOCK_API__PROT": "9999"}
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "airlock.cli", "api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown setting AIRLOCK_API__PROT" in result.stderr


def test_api_rejects_unknown_app_name(home: Home) -> None:
    result = home.airlock("api", "--apps", "web,scheduler", check=False)
    assert result.returncode == 2
    assert "choose one or more of web, execution, internal" in result.stderr


def test_an_unreachable_api_is_one_line_naming_the_url(home: Home) -> None:
    from tests.support.processes import free_port

    url = f"http://127.0.0.1:{free_port()}"
    home.env["AIRLOCK_CLIENT__API_URL"] = url
    try:
        result = home.airlock("login", "-u", "ann", "--password-stdin", stdin="pw\n", check=False)
    finally:
        del home.env["AIRLOCK_CLIENT__API_URL"]
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("airlock: error:")]
    assert len(errors) == 1, result.stderr
    assert url in errors[0]
    assert "is the API up and reachable" in errors[0]
