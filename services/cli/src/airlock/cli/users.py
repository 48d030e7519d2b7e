"""Creating users, shared by ``airlock users create`` and ``run-all``'s first-start admin."""

from __future__ import annotations

from sqlalchemy import select

from airlock.cli.errors import CliError
from airlock.core.passwords import hash_password
from airlock.db import User, make_engine, make_session_factory


def add_user(url: str, username: str, password: str, role: str, bundles: list[str] | None) -> None:
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as session:
            if session.scalar(select(User.id).where(User.username == username)) is not None:
                raise CliError(f"user {username!r} already exists")
            session.add(
                User(
                    username=username,
                    password_hash=password_hash,
                    roles=[role],
                    bundles=sorted(set(bundles)) if bundles else None,
                )
            )
    finally:
        engine.dispose()
