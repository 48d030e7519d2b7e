"""``airlock keys generate``: the token signing key pair and the secrets-at-rest key."""

from __future__ import annotations

import argparse
from typing import Any

from airlock.core.secrets_key import ensure_secrets_key
from airlock.core.settings import load_settings


def register(sub: Any) -> None:
    parser = sub.add_parser("keys", help="generate the token signing keys and the secrets key")
    verbs = parser.add_subparsers(metavar="VERB", required=True)
    gen = verbs.add_parser("generate", help="create missing keys under AIRLOCK_HOME/keys")
    gen.add_argument("--force", action="store_true", help="replace existing token keys")
    gen.set_defaults(func=generate)


def generate(args: argparse.Namespace) -> int:
    from airlock.core.tokens.keys import generate_key_pair

    settings = load_settings()
    made = generate_key_pair(
        settings.private_key_path, settings.public_key_path, overwrite=args.force
    )
    state = "created" if made else "kept existing"
    print(
        f"{state} token keys: {settings.private_key_path} (private), {settings.public_key_path} (public)"
    )
    made_secret = ensure_secrets_key(settings.secrets_key_path)
    print(
        f"{'created' if made_secret else 'kept existing'} secrets key: {settings.secrets_key_path}"
    )
    return 0
