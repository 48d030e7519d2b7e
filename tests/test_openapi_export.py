"""deploy/openapi/ must match what the code publishes: run `just openapi` after an API change.

Every supported version of the Execution and Internal APIs has its own document (ADR 0007).
"""

from __future__ import annotations

from pathlib import Path

from airlock.cli.openapi_export import documents, exported_files, render
from airlock.models.versions import EXECUTION_VERSIONS, INTERNAL_VERSIONS

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "deploy" / "openapi"


def test_every_api_and_every_supported_version_has_a_document() -> None:
    expected = {"web", "execution", "internal"}
    for api, versions in (("execution", EXECUTION_VERSIONS), ("internal", INTERNAL_VERSIONS)):
        expected |= {f"{api}-{date}" for date in versions.dates[1:]}
    assert set(documents()) == expected
    assert set(exported_files(FOLDER)) == expected, "run `just openapi`"
    assert documents()["execution-2026-11-01"]["info"]["version"] == "2026-11-01"
    assert documents()["execution"]["info"]["version"] == EXECUTION_VERSIONS.head


def test_exported_openapi_is_up_to_date() -> None:
    for name, document in documents().items():
        exported = ROOT / "deploy" / "openapi" / f"{name}.json"
        assert exported.is_file(), f"{exported} is missing: run `just openapi`"
        assert exported.read_text() == render(document), (
            f"{exported} is out of date: run `just openapi`"
        )
        assert document["openapi"].startswith("3.1")
