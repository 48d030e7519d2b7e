"""Revoked tokens are refused by the Execution API, which reads the revocation list at most every
``REVOCATION_MAX_AGE_S`` rather than once per request."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt

from airlock.db import RevokedToken
from airlock.execution.app import RevokedTokens

from .conftest import ExecEnv


def _revoke(env: ExecEnv, token: str) -> str:
    jti: str = jwt.decode(token, options={"verify_signature": False})["jti"]
    with env.session() as session:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        session.add(RevokedToken(jti=jti, expires_at=expires))
        session.commit()
    return jti


def test_a_revoked_worker_token_is_refused(env: ExecEnv, expect_problem: Any) -> None:
    token = env.worker_token()
    _revoke(env, token)
    expect_problem(env.call("GET", "/identity", token), 401, "revoked")
    assert env.call("GET", "/identity", env.worker_token()).status_code == 200


def test_the_revocation_list_is_read_again_once_it_is_old(env: ExecEnv) -> None:
    revoked = RevokedTokens(env.db, max_age_s=3600)
    token = env.worker_token()
    jti: str = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert not revoked(jti)
    _revoke(env, token)
    assert not revoked(jti), "within max_age_s the list read before is used"
    fresh = RevokedTokens(env.db, max_age_s=0)
    assert fresh(jti)
    with env.session() as session:
        session.add(
            RevokedToken(jti="old", expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        session.commit()
    assert not fresh("old"), "a revoked token that expired anyway is not kept"
