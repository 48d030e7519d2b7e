"""An API app (Web or Execution) on a migrated database with keys in a throwaway AIRLOCK_HOME,
driven in-process through Litestar's test client: :class:`ApiEnv`, which each API's test
conftest extends with the rows and calls its tests need."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.orm import Session

from airlock.core.secrets_key import ensure_secrets_key
from airlock.core.settings import Settings, load_settings
from airlock.core.tokens.keys import generate_key_pair, load_private_key
from airlock.core.tokens.signer import TokenSigner
from airlock.db.database import Database
from tests.support.databases import migrate


def api_settings(db_url: str, home: Path, template: Path, **environ: str) -> Settings:
    """Settings for an API on ``db_url`` (migrated here) with keys under ``home``;
    ``environ`` adds ``AIRLOCK_…`` variables."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "airlock.toml").write_text("")  # not whatever airlock.toml the tests run beside
    environ = {"AIRLOCK_HOME": str(home), "AIRLOCK_DATABASE__URL": db_url, **environ}
    settings = load_settings(environ=environ, config_file=home / "airlock.toml")
    generate_key_pair(settings.private_key_path, settings.public_key_path)
    ensure_secrets_key(settings.secrets_key_path)
    migrate(db_url, template)
    return settings


@dataclass
class ApiEnv:
    settings: Settings
    db: Database
    app: Litestar
    client: TestClient[Litestar]
    signer: TokenSigner

    @classmethod
    def open(
        cls, db_url: str, settings: Settings, create_app: Callable[..., Litestar]
    ) -> Iterator[Self]:
        """For a fixture: the app ``create_app`` builds on ``settings`` and ``db_url``, served
        until the fixture ends."""
        db = Database(db_url)
        app = create_app(settings, database=db)
        signer = TokenSigner(load_private_key(settings.private_key_path), settings.auth.issuer)
        try:
            with TestClient(app, timeout=60) as client:
                yield cls(settings=settings, db=db, app=app, client=client, signer=signer)
        finally:
            db.close()

    def session(self) -> Session:
        return self.db.sessions()
