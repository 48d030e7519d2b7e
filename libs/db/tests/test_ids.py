from __future__ import annotations

import time
import uuid

from airlock.db import new_task_instance_id, new_uuid7


def test_uuid7_layout():
    value = new_uuid7()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    now_ms = time.time_ns() // 1_000_000
    assert abs((value.int >> 80) - now_ms) < 1000


def test_ids_made_later_sort_later():
    earlier = [new_task_instance_id() for _ in range(50)]
    time.sleep(0.002)
    later = new_task_instance_id()
    assert all(id_ < later for id_ in earlier)
    assert len(set(earlier)) == 50
    assert len(later) == 36
    assert later == later.lower()


def test_task_instance_ids_are_canonical_uuid7_text():
    for _ in range(200):
        text = new_task_instance_id()
        value = uuid.UUID(text)
        assert str(value) == text
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
