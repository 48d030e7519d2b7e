"""``ObjectStoragePath`` on local paths, ``file://`` URLs, and an fsspec filesystem (memory://),
options from a connection's extra included."""

from __future__ import annotations

from pathlib import Path

import pytest

from airlock.sdk import Connection, ObjectStoragePath
from airlock.sdk.testing import InMemoryComms, use_comms


@pytest.mark.parametrize("prefix", ["", "file://"])
def test_local_paths_read_write_list_copy_and_delete(tmp_path: Path, prefix: str) -> None:
    base = ObjectStoragePath(f"{prefix}{tmp_path}")
    assert base.is_local
    assert base.protocol == "file"
    folder = base / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "day=2026-01-01.csv"
    assert target.write_text("a,b\n1,2\n") == 8
    assert (target.name, target.stem, target.suffix) == (
        "day=2026-01-01.csv",
        "day=2026-01-01",
        ".csv",
    )
    assert target.parent == folder
    assert target.exists()
    assert target.is_file()
    assert folder.is_dir()
    assert [p.name for p in folder.glob("*.csv")] == ["day=2026-01-01.csv"]
    copy = base / "copy.csv"
    target.copy(copy)
    assert copy.read_bytes() == b"a,b\n1,2\n"
    assert copy.size() == 8
    copy.move(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["copy.csv", "day=2026-01-01.csv"]
    assert Path(target).read_text() == "a,b\n1,2\n"  # os.fspath works for local paths
    folder.rm(recursive=True)
    assert not folder.exists()


def test_other_schemes_go_through_fsspec_with_options_from_a_connection() -> None:
    comms = InMemoryComms(
        connections={"lake": Connection(conn_id="lake", conn_type="fs", extra='{"team": "a"}')}
    )
    with use_comms(comms):
        root = ObjectStoragePath("memory://corpus-bucket/exports", conn_id="lake")
        assert (root.protocol, root.bucket, root.key) == ("memory", "corpus-bucket", "exports")
        part = root / "part-0.json"
        part.write_text('{"rows": 3}')
        assert part.exists()
        assert part.read_text() == '{"rows": 3}'
        assert [p.name for p in root.iterdir()] == ["part-0.json"]
        assert str(part) == "memory://corpus-bucket/exports/part-0.json"
        assert part.fs.storage_options == {"team": "a"}
        with pytest.raises(TypeError, match="not a local path"):
            Path(part)
        part.unlink()
        assert not part.exists()
        part.unlink(missing_ok=True)


def test_a_scheme_without_fsspec_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(ImportError, match="needs fsspec \\(and the package for s3://"):
        ObjectStoragePath("s3://bucket/key").exists()
