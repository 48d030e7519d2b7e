"""Write the OpenAPI document of each API to ``deploy/openapi/<api>.json`` (``just openapi``),
and for the APIs with dated versions (ADR 0007) one more per older version,
``<api>-<YYYY-MM-DD>.json``; ``<api>.json`` is the head version's.

The apps are built against a throwaway home (fresh keys, an empty SQLite file) because the
document depends only on the code; a test compares the files with what the code produces.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from airlock.core.settings import load_settings


def documents() -> dict[str, dict[str, Any]]:
    from airlock.core.http.versioning import versioned_api
    from airlock.core.secrets_key import ensure_secrets_key
    from airlock.core.tokens.keys import generate_key_pair
    from airlock.db.database import Database
    from airlock.execution.app import create_app as create_execution
    from airlock.internal.app import create_app as create_internal
    from airlock.web.app import create_app as create_web

    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(environ={"AIRLOCK_HOME": home}, config_file=None)
        generate_key_pair(settings.private_key_path, settings.public_key_path)
        ensure_secrets_key(settings.secrets_key_path)
        database = Database(settings.database_url())
        try:
            apps = {
                "web": create_web(settings, database=database),
                "execution": create_execution(settings, database=database),
                "internal": create_internal(settings, database=database),
            }
            documents: dict[str, dict[str, Any]] = {}
            for name, app in apps.items():
                versioned = versioned_api(app)
                if versioned is None:
                    documents[name] = app.openapi_schema.to_schema()
                    continue
                for index, date in enumerate(versioned.versions.dates):
                    documents[name if index == 0 else f"{name}-{date}"] = versioned.document(index)
            return documents
        finally:
            database.close()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "deploy/openapi")
    target.mkdir(parents=True, exist_ok=True)
    exported = documents()
    for name, document in exported.items():
        (target / f"{name}.json").write_text(render(document))
        print(f"wrote {target / f'{name}.json'}")
    for stale in sorted(set(exported_files(target)) - set(exported)):
        (target / f"{stale}.json").unlink()
        print(f"removed {target / f'{stale}.json'} (a version no longer served)")
    return 0


def exported_files(target: Path) -> list[str]:
    """The documents in ``target``, by name (``execution``, ``execution-2026-11-01``, …)."""
    return [path.stem for path in target.glob("*.json")]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
