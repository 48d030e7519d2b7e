"""``airlock migrate-from-airflow PATH…``: port Airflow 3 DAG files by rewriting their imports.

An Airflow 3 DAG written against ``airflow.sdk`` and the standard provider runs on Airlock once its
imports name ``airlock.sdk`` instead. This command does that rewrite for a folder of files, in
place (``--dry-run`` prints the unified diff and writes nothing), and then checks every name the
rewritten imports ask for against the installed SDK. What it cannot carry over — a module with no
Airlock counterpart (Airflow internals, plugins, other providers) or a name the SDK lacks — is
reported by file and line, and makes the exit status 1, so a script notices.

Only import statements and dotted ``airflow.sdk.…`` references are touched; the rest of the file
is left byte for byte.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airlock.cli.errors import CliError

#: Airflow module → Airlock module.
MODULES: dict[str, str] = {
    "airflow.sdk": "airlock.sdk",
    "airflow.sdk.bases.operator": "airlock.sdk",
    "airflow.sdk.bases.sensor": "airlock.sdk.bases.sensor",
    "airflow.sdk.bases.decorator": "airlock.sdk",
    "airflow.sdk.definitions.asset": "airlock.sdk",
    "airflow.sdk.definitions.param": "airlock.sdk",
    "airflow.sdk.timezone": "airlock.sdk.timezone",
    "airflow.sdk.exceptions": "airlock.sdk.exceptions",
    "airflow.exceptions": "airlock.sdk.exceptions",
    "airflow.decorators": "airlock.sdk",
    "airflow.utils.trigger_rule": "airlock.sdk",
    "airflow.utils.edgemodifier": "airlock.sdk",
    "airflow.utils.task_group": "airlock.sdk",
    "airflow.utils.timezone": "airlock.sdk.timezone",
    "airflow.providers.standard.operators.bash": "airlock.sdk.operators.bash",
    "airflow.providers.standard.operators.empty": "airlock.sdk.operators.empty",
    "airflow.providers.standard.operators.python": "airlock.sdk.operators.python",
    "airflow.providers.standard.operators.trigger_dagrun": "airlock.sdk.operators.trigger_dagrun",
    "airflow.providers.standard.operators.latest_only": "airlock.sdk.operators.latest_only",
    "airflow.providers.standard.sensors.date_time": "airlock.sdk.sensors.date_time",
    "airflow.providers.standard.sensors.time_delta": "airlock.sdk.sensors.time_delta",
    "airflow.providers.standard.sensors.filesystem": "airlock.sdk.sensors.filesystem",
    "airflow.providers.standard.sensors.external_task": "airlock.sdk.sensors.external_task",
    "airflow.providers.standard.triggers.temporal": "airlock.sdk.triggers.temporal",
    "airflow.providers.standard.triggers.file": "airlock.sdk.triggers.file",
    "airflow.triggers.base": "airlock.sdk",
    "airflow.task.priority_strategy": "airlock.sdk",
    "airflow.timetables.base": "airlock.sdk.timetables",
    "airflow.sdk.io": "airlock.sdk.io",
    "airflow.io.path": "airlock.sdk.io",
    "airflow.timetables.events": "airlock.sdk.timetables",
    "airflow.timetables.trigger": "airlock.sdk.timetables",
    "airflow.timetables.partitioned": "airlock.sdk",
    "airflow.timetables.simple": "airlock.sdk",
    # Airflow 2's paths, still found in DAG files that Airflow 3 runs with deprecation warnings
    "airflow.operators.bash": "airlock.sdk.operators.bash",
    "airflow.operators.empty": "airlock.sdk.operators.empty",
    "airflow.operators.python": "airlock.sdk.operators.python",
    "airflow.operators.trigger_dagrun": "airlock.sdk.operators.trigger_dagrun",
    "airflow.sensors.date_time": "airlock.sdk.sensors.date_time",
    "airflow.sensors.time_delta": "airlock.sdk.sensors.time_delta",
}

_WHY_NOT = (
    "Airflow internals, plugins and providers other than the standard one have no Airlock "
    "counterpart; use airlock.sdk's public names (libs/sdk/README.md lists them)"
)


@dataclass
class Problem:
    path: Path
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


@dataclass
class FileResult:
    path: Path
    original: str
    rewritten: str
    problems: list[Problem] = field(default_factory=list)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "migrate-from-airflow",
        help="rewrite Airflow 3 DAG files' imports to airlock.sdk (in place; --dry-run: a diff)",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="DAG files or folders of them")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the diff and what cannot be carried over"
    )
    parser.set_defaults(func=run_migrate)


def target_module(module: str) -> str | None:
    """The Airlock module for an Airflow one (``None``: no counterpart)."""
    return MODULES.get(module)


def _python_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.py") if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise CliError(f"{raw} is neither a file nor a folder")
    return files


def _line_offsets(source: str) -> list[int]:
    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def rewrite_source(path: Path, source: str) -> FileResult:
    """``source`` with its Airflow imports rewritten, and what could not be carried over."""
    result = FileResult(path, source, source)
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        result.problems.append(Problem(path, exc.lineno or 0, f"not valid Python: {exc.msg}"))
        return result
    offsets = _line_offsets(source)
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        airflow = [m for m in modules if m == "airflow" or m.startswith("airflow.")]
        if not airflow:
            continue
        start = offsets[node.lineno - 1] + node.col_offset
        end = offsets[(node.end_lineno or node.lineno) - 1] + (node.end_col_offset or 0)
        text = source[start:end]
        new_text = text
        for module in airflow:
            target = target_module(module)
            if target is None:
                result.problems.append(
                    Problem(path, node.lineno, f"`{module}` cannot be carried over: {_WHY_NOT}")
                )
                continue
            new_text = re.sub(rf"\b{re.escape(module)}\b", target, new_text, count=1)
            if isinstance(node, ast.ImportFrom):
                result.problems += _missing_names(path, node, target)
        if new_text != text:
            edits.append((start, end, new_text))
    rewritten = source
    for start, end, new_text in sorted(edits, reverse=True):
        rewritten = rewritten[:start] + new_text + rewritten[end:]
    result.rewritten = re.sub(r"\bairflow\.sdk\b", "airlock.sdk", rewritten)
    return result


def _missing_names(path: Path, node: ast.ImportFrom, target: str) -> list[Problem]:
    try:
        module = importlib.import_module(target)
    except ImportError as exc:
        return [Problem(path, node.lineno, f"`{target}` cannot be imported here: {exc}")]
    problems = []
    for alias in node.names:
        if alias.name == "*" or hasattr(module, alias.name):
            continue
        try:
            importlib.import_module(f"{target}.{alias.name}")
        except ImportError:
            problems.append(
                Problem(
                    path,
                    node.lineno,
                    f"`{alias.name}` (from `{node.module}`) is not in `{target}`: Airlock does "
                    "not support it yet (libs/sdk/README.md says what is supported)",
                )
            )
    return problems


def run_migrate(args: argparse.Namespace) -> int:
    results = [
        rewrite_source(path, path.read_text(encoding="utf-8")) for path in _python_files(args.paths)
    ]
    changed = [r for r in results if r.rewritten != r.original]
    for result in changed:
        if args.dry_run:
            sys.stdout.writelines(
                difflib.unified_diff(
                    result.original.splitlines(keepends=True),
                    result.rewritten.splitlines(keepends=True),
                    fromfile=f"a/{result.path}",
                    tofile=f"b/{result.path}",
                )
            )
        else:
            result.path.write_text(result.rewritten, encoding="utf-8")
    problems = [p for r in results for p in r.problems]
    for problem in problems:
        print(f"cannot carry over: {problem}", file=sys.stderr)
    verb = "would rewrite" if args.dry_run else "rewrote"
    print(
        f"{verb} {len(changed)} of {len(results)} file(s); {len(problems)} thing(s) to port by "
        "hand",
        file=sys.stderr,
    )
    return 1 if problems else 0
