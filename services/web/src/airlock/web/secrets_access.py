"""Who may see and change which variables and connections, and how secrets are masked.

A variable or connection either belongs to one bundle (only that bundle's tasks read it) or to
none (every bundle's tasks read it). A team-scoped user sees the global ones and those of its
bundles; another team's answers 404, exactly like one that does not exist. A team-scoped admin
writes only its bundles' rows (a global row would reach every team's tasks).

Secrets never leave the Web API in clear: a connection's password and extra are masked, and so is
a variable whose key names a secret (``password``, ``token``, ``api_key`` …, as Airflow masks).
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from airlock.core.http import Problem, claims_of


def may_read(request: Request[Any, Any, Any], bundle_name: str | None) -> bool:
    bundles = claims_of(request).bundles
    return bundles is None or bundle_name is None or bundle_name in bundles


def check_writable(request: Request[Any, Any, Any], bundle_name: str | None, what: str) -> None:
    """Refuse a team-scoped user writing a global row or another team's (403)."""
    bundles = claims_of(request).bundles
    if bundles is None or (bundle_name is not None and bundle_name in bundles):
        return
    target = "a global one" if bundle_name is None else f"one of bundle {bundle_name!r}"
    raise Problem(
        403,
        f"you may only write {what}s of your bundles ({', '.join(bundles)}), not {target}; "
        "set bundle_name to one of yours",
        slug="bundle-forbidden",
    )
