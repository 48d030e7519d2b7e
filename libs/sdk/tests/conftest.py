"""Shared fixtures: a clean definition state per test, and a loader for the example DAG files."""

from __future__ import annotations

import runpy
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airlock.sdk import DAG
from airlock.sdk.definitions import _active
from airlock.sdk.execution_time.comms import set_comms
from airlock.sdk.testing import InMemoryComms, use_comms

DAGS_DIR = Path(__file__).parent / "dags"


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    _active.clear()
    previous = set_comms(None)
    yield
    _active.clear()
    set_comms(previous)


def load_dag_file(name: str) -> dict[str, DAG]:
    """Run one example DAG file as a DAG processor would; return its DAGs by id."""
    _active.clear()
    namespace = runpy.run_path(str(DAGS_DIR / name), run_name=Path(name).stem)
    found = {d.dag_id: d for d in _active.registered_dags()}
    found.update({v.dag_id: v for v in namespace.values() if isinstance(v, DAG)})
    return found


@pytest.fixture
def load_dags() -> Callable[[str], dict[str, DAG]]:
    return load_dag_file


@pytest.fixture
def comms() -> Iterator[InMemoryComms]:
    memory = InMemoryComms()
    with use_comms(memory):
        yield memory
