"""DESIGN §2's dependency rules, checked by reading every module's imports (ADRs 0002 to 0004).

Imports are read with ``ast``, including those inside functions and under ``TYPE_CHECKING``:
a rule is about what a package may depend on, not only what it imports at start-up.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.sdk.execution_time.supervised import BLOCKED_MODULES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {
    path.name: path
    for group in ("libs", "services")
    for path in (ROOT / group).iterdir()
    if (path / "src" / "airlock").is_dir()
}
USER_CODE_ZONE = ["sdk", "worker", "dag_processor", "triggerer", "callback_processor"]
API_SERVICES = ["web", "execution", "internal"]


def package_modules(package: str) -> Iterator[Path]:
    dirs = [d for d in PACKAGE_DIRS.values() if (d / "src" / "airlock" / package).is_dir()]
    for directory in dirs:
        yield from (directory / "src" / "airlock" / package).rglob("*.py")


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in package_modules(package):
        for line, name in imports_of(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return sorted(set(found))


def existing(packages: list[str]) -> list[str]:
    return [p for p in packages if any(package_modules(p))]


def test_packages_are_found() -> None:
    for package in ["models", "db", "core", "sdk", *API_SERVICES, "cli"]:
        assert any(package_modules(package)), f"no modules found for airlock.{package}"


def test_models_import_nothing_of_airlock() -> None:
    found = [v for v in violations("models", ("airlock",)) if "imports airlock.models" not in v]
    assert not found, "airlock.models must import nothing else of Airlock:\n" + "\n".join(found)


@pytest.mark.parametrize("package", existing(USER_CODE_ZONE))
def test_user_code_packages_never_import_db_or_signer(package: str) -> None:
    # The list the user code's own processes cannot import at run time, either.
    found = violations(package, BLOCKED_MODULES)
    assert not found, f"airlock.{package} crosses a zone boundary:\n" + "\n".join(found)


@pytest.mark.parametrize("package", API_SERVICES)
def test_api_services_never_import_each_other(package: str) -> None:
    others = tuple(f"airlock.{o}" for o in API_SERVICES if o != package)
    found = violations(package, others)
    assert not found, f"airlock.{package} imports another API service:\n" + "\n".join(found)


@pytest.mark.parametrize("package", ["models", "db", "core", "sdk", *API_SERVICES])
def test_only_cli_imports_the_cli(package: str) -> None:
    assert not violations(package, ("airlock.cli",))


def test_libs_never_import_services() -> None:
    services = tuple(
        f"airlock.{p}"
        for p in [
            *API_SERVICES,
            "scheduler",
            "worker",
            "cli",
            "dag_processor",
            "triggerer",
            "callback_processor",
        ]
    )
    libs = ("models", "db", "core", "sdk", "scheduling")
    found = [v for lib in libs for v in violations(lib, services)]
    assert not found, "a library imports a service:\n" + "\n".join(found)


#: What ``airlock.scheduling`` may import of ``airlock.core``: the telemetry hooks of a DAG run's
#: trace (ADR 0024), which the APIs' request spans and scheduling's events share. Scheduling runs
#: only in control-zone services, which install core's telemetry anyway; settings, tokens and
#: HTTP stay out of it (they are the callers' business).
SCHEDULING_MAY_IMPORT_OF_CORE = ("airlock.core.telemetry",)


def test_scheduling_imports_only_core_telemetry() -> None:
    found = [
        v
        for v in violations("scheduling", ("airlock.core",))
        if not any(f"imports {allowed}" in v for allowed in SCHEDULING_MAY_IMPORT_OF_CORE)
    ]
    assert not found, "airlock.scheduling imports more of airlock.core than telemetry:\n" + (
        "\n".join(found)
    )


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from sqlalchemy.orm import Session\n")
    assert any(name.startswith("sqlalchemy") for _, name in imports_of(module))


#: Private parts of the SDK still used from outside it: the definitions being collected are reset
#: before a DAG file is parsed, and the SDK has no public call for that yet.
SDK_PRIVATE_IMPORTS_ALLOWED = {
    (
        "services/dag_processor/src/airlock/dag_processor/parser.py",
        "airlock.sdk.definitions._active",
    ),
    ("services/worker/tests/conftest.py", "airlock.sdk.definitions._active"),
}


def test_no_package_imports_a_private_module_of_the_sdk() -> None:
    """Other packages (their code and tests) use the SDK's public names, such as
    ``airlock.sdk.api.__all__``; a module or name starting with ``_`` may change under them."""
    outside = [d for name, d in PACKAGE_DIRS.items() if name != "sdk"] + [ROOT / "tests"]
    found = {
        (str(path.relative_to(ROOT)), name)
        for directory in outside
        for path in directory.rglob("*.py")
        if ".venv" not in path.parts and "node_modules" not in path.parts
        for _, name in imports_of(path)
        if name.startswith("airlock.sdk.")
        and any(part.startswith("_") and not part.startswith("__") for part in name.split("."))
    }
    found -= SDK_PRIVATE_IMPORTS_ALLOWED
    assert not found, "outside airlock.sdk, a private part of it is imported:\n" + "\n".join(
        f"{path} imports {name}" for path, name in sorted(found)
    )
