"""Codec: deterministic encoding, zstd frames with size limits, hostile blobs refused."""

from __future__ import annotations

import hashlib

import msgspec
import pytest
import zstandard

from airlock.models.codec import (
    CorruptPayload,
    PayloadTooLarge,
    check_frame,
    compress,
    dag_hash,
    decode_dag,
    decompress,
    encode_and_compress,
    encode_dag,
    frame_content_size,
)
from airlock.models.dag import (
    AssetRef,
    AssetSchedule,
    SerializedDag,
    SerializedEdge,
    SerializedTask,
    SerializedTaskGroup,
)

MAGIC = b"\x28\xb5\x2f\xfd"
MiB = 1 << 20


def _rle_block(last: bool, size: int, byte: bytes = b"\0") -> bytes:
    header = (size << 3) | (1 << 1) | int(last)
    return header.to_bytes(3, "little") + byte


def _dag(order: int = 1) -> SerializedDag:
    tasks = [
        SerializedTask(
            task_id=f"t{i}",
            operator_class="airlock.sdk.operators.empty.EmptyOperator",
            operator_name="EmptyOperator",
            upstream=[f"t{j}" for j in range(i)][::order],
            retry_delay=float(f"{300}"),  # equal to the default, not the same object
            pool="".join(["default", "_pool"]),
        )
        for i in range(4)
    ][::order]
    edges = [SerializedEdge(source=f"t{i}", target=f"t{i + 1}") for i in range(3)][::order]
    return SerializedDag(
        dag_id="d",
        tasks=tasks,
        edges=edges,
        tags=["b", "a"][::order],
        task_groups=[
            SerializedTaskGroup(group_id="g2", children=["x", "y"][::order]),
            SerializedTaskGroup(group_id="g1"),
        ][::order],
        schedule=AssetSchedule(condition=AssetRef(name="a", uri="a")),
    )


def test_encoding_is_deterministic_and_sorted() -> None:
    forward, backward = encode_dag(_dag(1)), encode_dag(_dag(-1))
    assert forward == backward
    assert dag_hash(forward) == dag_hash(backward) == hashlib.sha256(forward).hexdigest()
    decoded = msgspec.json.decode(forward)
    assert list(decoded) == sorted(decoded)
    assert [t["task_id"] for t in decoded["tasks"]] == ["t0", "t1", "t2", "t3"]
    assert decoded["tags"] == ["a", "b"]


def test_defaults_are_omitted_even_when_not_identical() -> None:
    encoded = encode_dag(_dag())
    assert b"retry_delay" not in encoded
    assert b"default_pool" not in encoded


def test_re_encoding_a_decoded_dag_gives_the_same_bytes() -> None:
    blob, version = encode_and_compress(_dag())
    again = encode_dag(decode_dag(blob, MiB))
    assert dag_hash(again) == version


def test_compress_writes_content_size_and_round_trips() -> None:
    data = encode_dag(_dag())
    blob = compress(data, level=5)
    assert frame_content_size(blob) == len(data)
    assert check_frame(blob, len(data)) == len(data)
    assert decompress(blob, len(data)) == data


def test_declared_size_over_limit() -> None:
    blob = compress(b"x" * 5000)
    with pytest.raises(PayloadTooLarge) as info:
        decompress(blob, 4999)
    assert (info.value.size, info.value.max_size, info.value.declared) == (5000, 4999, True)
    assert "5000" in str(info.value)
    assert "4999" in str(info.value)
    with pytest.raises(PayloadTooLarge):
        check_frame(blob, 4999)


def test_bomb_declaring_gigabytes_is_refused_from_the_header() -> None:
    header = MAGIC + bytes([0xC0, 0x58]) + (4 << 30).to_bytes(8, "little")
    bomb = header + _rle_block(True, 1000)
    assert frame_content_size(bomb) == 4 << 30
    with pytest.raises(PayloadTooLarge, match="declares a decompressed size of 4294967296"):
        check_frame(bomb, MiB)
    with pytest.raises(PayloadTooLarge):
        decode_dag(bomb, MiB)


def test_bomb_without_declared_size_stops_at_the_limit() -> None:
    blocks = b"".join(_rle_block(i == 999, 128 * 1024) for i in range(1000))  # 128 MiB
    bomb = MAGIC + bytes([0x00, 0x38]) + blocks
    assert len(bomb) < 5000
    assert frame_content_size(bomb) is None
    with pytest.raises(PayloadTooLarge) as info:
        decompress(bomb, MiB)
    assert info.value.declared is False
    assert info.value.size == MiB + 1
    with pytest.raises(CorruptPayload, match="does not declare"):
        check_frame(bomb, MiB)


def test_frame_expanding_past_its_declared_size() -> None:
    liar = MAGIC + bytes([0x20, 100]) + _rle_block(True, 128 * 1024)
    assert frame_content_size(liar) == 100
    with pytest.raises(CorruptPayload):
        decompress(liar, MiB)


def test_unknown_size_frame_within_limit_decompresses() -> None:
    data = encode_dag(_dag())
    streamed = zstandard.ZstdCompressor(write_content_size=False).compress(data)
    assert frame_content_size(streamed) is None
    assert decode_dag(streamed, MiB).dag_id == "d"


@pytest.mark.parametrize(
    "blob",
    [b"", b"not zstd at all", MAGIC, MAGIC + b"\xff\xff\xff\xff", b"\x00" * 64],
)
def test_garbage_is_corrupt(blob: bytes) -> None:
    with pytest.raises(CorruptPayload):
        decompress(blob, MiB)
    with pytest.raises(CorruptPayload):
        check_frame(blob, MiB)


def test_truncated_frame() -> None:
    blob = compress(encode_dag(_dag()))
    with pytest.raises(CorruptPayload, match="header unreadable"):
        decompress(blob[:5], MiB)
    for cut in (len(blob) // 2, len(blob) - 1):
        with pytest.raises(CorruptPayload, match="truncated"):
            decompress(blob[:cut], MiB)
        with pytest.raises(CorruptPayload, match="truncated"):
            check_frame(blob[:cut], MiB)


def test_trailing_data_and_damaged_content() -> None:
    blob = compress(encode_dag(_dag()))
    with pytest.raises(CorruptPayload, match="trailing data"):
        decompress(blob + b"extra", MiB)
    with pytest.raises(CorruptPayload, match="trailing data"):
        check_frame(blob + blob, MiB)
    damaged = bytearray(blob)
    damaged[len(blob) // 2] ^= 0xFF
    with pytest.raises(CorruptPayload):
        decode_dag(bytes(damaged), MiB)


def test_valid_frame_that_is_not_a_dag() -> None:
    with pytest.raises(CorruptPayload, match="not a valid serialized DAG"):
        decode_dag(compress(b'{"tasks": 3}'), MiB)
    with pytest.raises(CorruptPayload):
        decode_dag(compress(b"[1, 2"), MiB)


def test_non_bytes_input() -> None:
    with pytest.raises(CorruptPayload, match="expected bytes"):
        decompress("text", MiB)  # type: ignore[arg-type]


def test_a_declared_size_the_blob_cannot_plausibly_hold_is_refused() -> None:
    # 4 KiB of RLE blocks really does expand to 8 MiB, but no serialized DAG compresses 2000x.
    blocks = b"".join(_rle_block(i == 63, 128 * 1024) for i in range(64))
    blob = MAGIC + bytes([0xC0, 0x58]) + (8 * MiB).to_bytes(8, "little") + blocks
    with pytest.raises(CorruptPayload, match="more than 250 times its size"):
        check_frame(blob, 64 * MiB)
    small = (
        MAGIC
        + bytes([0xC0, 0x58])
        + MiB.to_bytes(8, "little")
        + b"".join(_rle_block(i == 7, 128 * 1024) for i in range(8))
    )
    assert check_frame(small, 64 * MiB) == MiB, "up to 1 MiB needs no ratio"
    real = encode_dag(
        SerializedDag(
            dag_id="d",
            tasks=[
                SerializedTask(task_id=f"t{i}", operator_class="x", operator_name="x")
                for i in range(2000)
            ],
        )
    )
    assert check_frame(compress(real, level=19), 64 * MiB) == len(real)
