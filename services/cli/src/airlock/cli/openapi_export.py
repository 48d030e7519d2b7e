"""Write the OpenAPI document of each API to ``deploy/openapi/<api>.json`` (``just openapi``).

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
            return {name: app.openapi_schema.to_schema() for name, app in apps.items()}
        finally:
            database.close()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "deploy/openapi")
    target.mkdir(parents=True, exist_ok=True)
    for name, document in documents().items():
        (target / f"{name}.json").write_text(render(document))
        print(f"wrote {target / f'{name}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
