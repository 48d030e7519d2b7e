"""Local-folder bundles: which files to parse and the hash of each.

Only ``.py`` files that mention both "airlock" and "dag" are DAG-file candidates (helper modules
beside them are imported by DAG files, not parsed on their own). ``.airlockignore`` in the bundle
root lists glob patterns, one per line, of paths to skip. Hidden folders and ``__pycache__`` are
skipped too.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BundleFileEntry:
    path: Path
    relative_path: str
    content_hash: str


class LocalBundle:
    def __init__(self, name: str, root: str | Path) -> None:
        self.name = name
        self.root = Path(root).expanduser().resolve()

    def scan(self) -> dict[str, BundleFileEntry]:
        if not self.root.is_dir():
            raise FileNotFoundError(f"bundle {self.name!r}: folder {self.root} does not exist")
        ignored = self._ignore_patterns()
        found: dict[str, BundleFileEntry] = {}
        for path in sorted(self.root.rglob("*.py")):
            relative = path.relative_to(self.root).as_posix()
            if any(
                part.startswith(".") or part == "__pycache__"
                for part in path.relative_to(self.root).parts[:-1]
            ):
                continue
            if any(fnmatch.fnmatch(relative, pattern) for pattern in ignored):
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue  # vanished or unreadable between listing and reading: next pass
            lowered = data.lower()
            if b"airlock" not in lowered or b"dag" not in lowered:
                continue
            found[relative] = BundleFileEntry(path, relative, hashlib.sha256(data).hexdigest())
        return found

    def _ignore_patterns(self) -> list[str]:
        ignore = self.root / ".airlockignore"
        if not ignore.is_file():
            return []
        lines = (line.strip() for line in ignore.read_text().splitlines())
        return [line for line in lines if line and not line.startswith("#")]
