"""A task's output as log batches: whole lines, numbered batches, resent unchanged after a
failed upload, bounded while the API is away."""

from __future__ import annotations

import httpx
import pytest

from airlock.models.execution import LogBatch
from airlock.sdk.api import ApiError
from airlock.sdk.execution_time.secrets_masker import SecretsMasker
from airlock.worker import logs
from airlock.worker.logs import WORKER_PREFIX, LogShipper


class Api:
    """Records the batches it accepts; refuses while ``down``."""

    def __init__(self) -> None:
        self.batches: list[LogBatch] = []
        self.down = False

    def send(self, batch: LogBatch) -> None:
        if self.down:
            raise httpx.ConnectError("connection refused")
        self.batches.append(batch)

    @property
    def lines(self) -> list[str]:
        return [line for batch in self.batches for line in batch.lines]


def test_lines_are_cut_at_newlines_whatever_the_chunks() -> None:
    api = Api()
    shipper = LogShipper(api.send, try_number=2, batch_s=60)
    for chunk in (b"hel", b"lo\nwor", b"ld\r\n", "ünï".encode()[:3], "ünï".encode()[3:], b"\n"):
        shipper.feed(chunk)
    shipper.feed(b"no newline at the end")
    assert shipper.flush(final=True)
    assert api.lines == ["hello", "world", "ünï", "no newline at the end"]
    assert {b.try_number for b in api.batches} == {2}


def test_worker_notes_are_marked() -> None:
    api = Api()
    shipper = LogShipper(api.send, try_number=1, batch_s=60)
    shipper.note("killed it")
    shipper.flush()
    assert api.lines == [WORKER_PREFIX + "killed it"]


def test_a_long_line_is_cut_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "MAX_LINE_CHARS", 10)
    api = Api()
    shipper = LogShipper(api.send, try_number=1, batch_s=60)
    shipper.feed(b"x" * 25)
    shipper.feed(b"y" * 5 + b"\n")
    shipper.flush(final=True)
    assert api.lines == ["x" * 10, "x" * 10, "x" * 5 + "y" * 5]


def test_batches_are_sent_when_due_or_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "BATCH_MAX_LINES", 3)
    api = Api()
    shipper = LogShipper(api.send, try_number=1, batch_s=0.5)
    shipper.feed(b"a\nb\n")
    shipper.maybe_flush(now=0)
    assert api.batches == [], "neither due nor full"
    assert shipper.due_at is not None
    shipper.feed(b"c\n")
    shipper.maybe_flush(now=0)
    assert [b.lines for b in api.batches] == [["a", "b", "c"]]
    shipper.feed(b"d\n")
    shipper.maybe_flush(now=shipper.due_at)
    assert [b.seq for b in api.batches] == [0, 1]


def test_a_failed_batch_is_resent_with_its_number(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api()
    shipper = LogShipper(api.send, try_number=1, batch_s=60)
    shipper.feed(b"one\n")
    api.down = True
    assert not shipper.flush()
    shipper.feed(b"two\n")
    assert not shipper.flush()
    api.down = False
    assert shipper.flush(final=True)
    assert [(b.seq, b.lines) for b in api.batches] == [(0, ["one"]), (1, ["two"])]
    assert shipper.due_at is None


def test_the_backlog_is_bounded_while_the_api_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "MAX_BACKLOG_LINES", 4)
    api = Api()
    api.down = True
    shipper = LogShipper(api.send, try_number=1, batch_s=60)
    for i in range(5):
        shipper.feed(f"{i}a\n{i}b\n".encode())
        shipper.flush()
    api.down = False
    shipper.flush(final=True)
    assert api.lines[-2:] == ["4a", "4b"], "the newest lines are kept"
    assert "0a" not in api.lines
    assert "earlier log lines were lost" in api.lines[0]
    assert len(api.lines) <= 4 + 1


def test_secrets_registered_for_the_try_are_masked_before_shipping() -> None:
    api = Api()
    masker = SecretsMasker()
    shipper = LogShipper(api.send, try_number=1, batch_s=60, redact=masker.redact)
    masker.add_variable("db_password", "hunter2-long")
    masker.add_variable("region", "eu-west-1")
    shipper.feed(b"password is hunter2-long, twice: hunter2-long\nin eu-west-1")
    assert shipper.flush(final=True)
    assert api.lines == ["password is ***, twice: ***", "in eu-west-1"]


def test_a_batch_the_api_refuses_for_good_is_dropped_not_resent() -> None:
    sent: list[LogBatch] = []

    def refuse(batch: LogBatch) -> None:
        sent.append(batch)
        raise ApiError("POST", "/logs", 409, {"detail": "try 1 is not running"})

    shipper = LogShipper(refuse, try_number=1, batch_s=60)
    shipper.feed(b"late line\n")
    assert shipper.flush(final=True)
    assert shipper.flush(final=True)
    assert len(sent) == 1
