"""``airlock tokens``: issue and revoke service, worker and user tokens (control zone only).

Task tokens are never issued here: the Execution API mints one per workload.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from airlock.cli.errors import CliError
from airlock.core.durations import parse_duration
from airlock.core.settings import load_settings
from airlock.core.tokens import ServiceRole, TokenKind, UserRole


def register(sub: Any) -> None:
    parser = sub.add_parser("tokens", help="issue or revoke API tokens")
    verbs = parser.add_subparsers(metavar="VERB", required=True)
    issue = verbs.add_parser("issue", help="print a new signed token")
    issue.add_argument(
        "--kind", required=True, choices=[k.value for k in TokenKind if k is not TokenKind.TASK]
    )
    issue.add_argument(
        "--role",
        help="service role (dag-processor, triggerer, callback-processor) or user role (admin, op, viewer)",
    )
    issue.add_argument(
        "--bundle",
        action="append",
        dest="bundles",
        help="bundle the token may touch (repeat for several)",
    )
    issue.add_argument(
        "--queue", action="append", dest="queues", help="worker queue (repeat for several)"
    )
    issue.add_argument("--subject", help="who holds it (default: the role or kind)")
    issue.add_argument(
        "--ttl", default="30d", help="lifetime like 90s, 15m, 12h, 30d (default 30d)"
    )
    issue.set_defaults(func=issue_token)
    revoke = verbs.add_parser("revoke", help="revoke a token (give the token itself or its jti)")
    revoke.add_argument("token_or_jti")
    revoke.set_defaults(func=revoke_token)


def issue_token(args: argparse.Namespace) -> int:
    from airlock.core.tokens.keys import load_private_key
    from airlock.core.tokens.signer import TokenSigner

    settings = load_settings()
    kind = TokenKind(args.kind)
    try:
        ttl = parse_duration(args.ttl)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    claims = _claims_for(kind, args)
    signer = TokenSigner(load_private_key(settings.private_key_path), settings.auth.issuer)
    subject = args.subject or args.role or kind.value
    print(signer.issue(kind, subject, ttl, **claims))
    return 0


def _claims_for(kind: TokenKind, args: argparse.Namespace) -> dict[str, Any]:
    if kind is TokenKind.SERVICE:
        roles = [r.value for r in ServiceRole]
        if args.role not in roles:
            raise CliError(
                f"--role {args.role!r} is not a service role; choose from {', '.join(roles)}"
            )
        if not args.bundles:
            raise CliError("a service token needs at least one --bundle NAME it may touch")
        return {"role": args.role, "bundles": sorted(set(args.bundles))}
    if kind is TokenKind.USER:
        roles = [r.value for r in UserRole]
        if args.role not in roles:
            raise CliError(
                f"--role {args.role!r} is not a user role; choose from {', '.join(roles)}"
            )
        if not args.subject:
            raise CliError("a user token needs --subject USERNAME")
        return {
            "roles": [args.role],
            "bundles": sorted(set(args.bundles)) if args.bundles else None,
        }
    if args.role or args.bundles:
        raise CliError("a worker token takes --queue, not --role or --bundle")
    return {"queues": sorted(set(args.queues)) if args.queues else None}


def revoke_token(args: argparse.Namespace) -> int:
    from airlock.db import RevokedToken, make_engine, make_session_factory

    settings = load_settings()
    jti, expires = _jti_and_expiry(args.token_or_jti, settings)
    sessions = make_session_factory(make_engine(settings.database_url()))
    with sessions.begin() as session:
        if session.get(RevokedToken, jti) is None:
            session.add(RevokedToken(jti=jti, expires_at=expires))
    print(f"revoked {jti}")
    return 0


def _jti_and_expiry(value: str, settings: Any) -> tuple[str, Any]:
    from datetime import UTC, datetime, timedelta

    import jwt

    from airlock.core.tokens.keys import load_public_key

    if value.count(".") != 2:
        # A bare jti: keep the row for the longest lifetime a token could have.
        return value, datetime.now(UTC) + timedelta(days=3650)
    try:
        payload = jwt.decode(
            value,
            load_public_key(settings.public_key_path),
            algorithms=["EdDSA"],
            options={"verify_exp": False, "verify_aud": False},
        )
    except jwt.InvalidTokenError as exc:
        raise CliError(f"not a token signed by this installation's key: {exc}") from None
    return str(payload["jti"]), datetime.fromtimestamp(int(payload.get("exp", time.time())), UTC)
