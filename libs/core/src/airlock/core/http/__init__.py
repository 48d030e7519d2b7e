"""What the three Airlock APIs share at the HTTP layer: problem-details errors, bearer-token auth
and role guards, and the app configuration every service factory starts from."""

from airlock.core.http.app import ApiAppConfig, build_app
from airlock.core.http.auth import (
    claims_of,
    require_kind,
    require_service_role,
    require_user_role,
)
from airlock.core.http.blocking import OFF_LOOP
from airlock.core.http.problem_docs import problems
from airlock.core.http.problems import Problem, problem_response, require_aware, too_many_values

__all__ = [
    "OFF_LOOP",
    "ApiAppConfig",
    "Problem",
    "build_app",
    "claims_of",
    "problem_response",
    "problems",
    "require_aware",
    "require_kind",
    "require_service_role",
    "require_user_role",
    "too_many_values",
]
