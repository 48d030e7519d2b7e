"""deploy/openapi/ must match what the code publishes: run `just openapi` after an API change."""

from __future__ import annotations

from pathlib import Path

from airlock.cli.openapi_export import documents, render

ROOT = Path(__file__).resolve().parents[1]


def test_exported_openapi_is_up_to_date() -> None:
    for name, document in documents().items():
        exported = ROOT / "deploy" / "openapi" / f"{name}.json"
        assert exported.is_file(), f"{exported} is missing: run `just openapi`"
        assert exported.read_text() == render(document), (
            f"{exported} is out of date: run `just openapi`"
        )
        assert document["openapi"].startswith("3.1")
