"""A workload's DAG file is opened only inside its bundle's folder, whatever path it names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airlock.sdk.execution_time.dag_files import OutsideBundle, file_in_bundle


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "etl.py").write_text("")
    (tmp_path / "secret.txt").write_text("key")
    os.symlink(tmp_path / "secret.txt", root / "link.py")
    return root


def test_a_path_inside_the_bundle_resolves_there(bundle: Path) -> None:
    assert file_in_bundle(str(bundle), "sub/etl.py") == str(bundle / "sub" / "etl.py")
    assert file_in_bundle(str(bundle), "sub/../sub/etl.py") == str(bundle / "sub" / "etl.py")


@pytest.mark.parametrize("path", ["../secret.txt", "/etc/passwd", "sub/../../x", "link.py", "."])
def test_a_path_leaving_the_bundle_is_refused(bundle: Path, path: str) -> None:
    with pytest.raises(OutsideBundle, match="is outside bundle folder"):
        file_in_bundle(str(bundle), path)
