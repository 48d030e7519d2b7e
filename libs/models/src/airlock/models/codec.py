"""Encoding, compression and size-limited decoding of serialized DAGs.

A DAG travels as: ``SerializedDag`` → deterministic msgspec JSON (:func:`encode_dag`) → one zstd
frame with its content size in the header (:func:`compress`). The hash of a DAG version is the
sha256 of the *uncompressed* JSON (:func:`dag_hash`), so the compression level never changes it.

Deterministic means: the same DAG gives the same bytes in every process — object keys are
sorted by the encoder, and every list whose order carries no meaning (tasks, edges, groups,
upstream ids …) is sorted by :func:`normalize_dag` before encoding.

Blobs come from processes that run user code, so readers treat them as hostile:
:func:`check_frame` validates the frame header and its declared size without decompressing (the
Internal API decompresses a blob only when it makes a new DAG version), refuses a declared size
the compressed bytes cannot plausibly hold (:data:`MAX_COMPRESSION_RATIO`), and
:func:`decompress` refuses to produce more than ``max_size`` bytes whatever the header claims.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

import msgspec
import zstandard

from airlock.models.dag import (
    SerializedDag,
    SerializedEdge,
    SerializedTask,
    SerializedTaskGroup,
    SerializedWatcher,
)

#: Upper bound on the zstd window a decoder will allocate, whatever a frame asks for.
MAX_WINDOW_SIZE = 1 << 27
_STREAM_CHUNK = 1 << 20
#: Largest decompressed/compressed ratio a blob may declare. Serialized DAGs compress 5-75x
#: (a 20,000-task chain of identical tasks: 73x); a header declaring far more than its bytes
#: could hold is a decompression bomb, refused before any work.
MAX_COMPRESSION_RATIO = 250
#: Any blob may declare this much, whatever its ratio: a tiny DAG costs nothing to decompress.
RATIO_FREE_BYTES = 1 << 20

_S = TypeVar("_S", bound=msgspec.Struct)
_encoder = msgspec.json.Encoder(order="sorted")
_dag_decoder = msgspec.json.Decoder(SerializedDag)


class CodecError(ValueError):
    """A blob could not be accepted."""


class PayloadTooLarge(CodecError):
    """The decompressed size (declared in the frame header, or actual) exceeds the limit."""

    def __init__(self, size: int, max_size: int, *, declared: bool) -> None:
        self.size = size
        self.max_size = max_size
        self.declared = declared
        what = "declares a decompressed size of" if declared else "decompresses to at least"
        super().__init__(
            f"zstd payload {what} {size} bytes, more than the limit of {max_size} bytes"
        )


class CorruptPayload(CodecError):
    """The blob is not one well-formed zstd frame holding a valid serialized DAG."""


# --- encoding -----------------------------------------------------------------------------------


_scalar_defaults_cache: dict[type, list[tuple[str, Any]]] = {}


def _scalar_defaults(cls: type) -> list[tuple[str, Any]]:
    pairs = _scalar_defaults_cache.get(cls)
    if pairs is None:
        pairs = _scalar_defaults_cache[cls] = [
            (f.name, f.default)
            for f in msgspec.structs.fields(cls)
            if isinstance(f.default, str | float) and not isinstance(f.default, bool)
        ]
    return pairs


def _canonical(obj: _S, **changes: Any) -> _S:
    """``obj`` with ``changes`` applied and every value equal to its field's default replaced
    by the default itself, so ``omit_defaults`` drops it (msgspec omits by identity)."""
    for name, default in _scalar_defaults(type(obj)):
        value = changes.get(name, getattr(obj, name))
        if value is not default and type(value) is not bool and value == default:
            changes[name] = default
    return msgspec.structs.replace(obj, **changes) if changes else obj


def _sorted_task(task: SerializedTask) -> SerializedTask:
    sensor = _canonical(task.sensor) if task.sensor is not None else None
    return _canonical(
        task,
        upstream=sorted(set(task.upstream)),
        downstream=sorted(set(task.downstream)),
        sensor=sensor,
    )


def _sorted_group(group: SerializedTaskGroup) -> SerializedTaskGroup:
    return _canonical(group, children=sorted(set(group.children)))


def _edge_key(edge: SerializedEdge) -> tuple[str, str, str]:
    return (edge.source, edge.target, edge.label or "")


def _watcher_key(watcher: SerializedWatcher) -> tuple[str, str, str]:
    return (watcher.asset.name, watcher.asset.uri, watcher.name)


def normalize_dag(dag: SerializedDag) -> SerializedDag:
    """Return ``dag`` with every order-free list sorted, so equal DAGs encode equally."""
    return _canonical(
        dag,
        tags=sorted(set(dag.tags)),
        owners=sorted(set(dag.owners)),
        tasks=sorted((_sorted_task(t) for t in dag.tasks), key=lambda t: t.task_id),
        edges=sorted(dag.edges, key=_edge_key),
        task_groups=sorted((_sorted_group(g) for g in dag.task_groups), key=lambda g: g.group_id),
        watchers=sorted(dag.watchers, key=_watcher_key),
    )


def encode_dag(dag: SerializedDag) -> bytes:
    """Deterministic JSON for ``dag``: sorted keys, sorted order-free lists."""
    return _encoder.encode(normalize_dag(dag))


def dag_hash(encoded: bytes) -> str:
    """The version hash of an encoded (uncompressed) DAG: sha256, hex."""
    return hashlib.sha256(encoded).hexdigest()


# --- compression --------------------------------------------------------------------------------


def compress(data: bytes, level: int = 3) -> bytes:
    """One zstd frame holding ``data``, with the content size written in its header."""
    return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(data)


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _frame_parameters(blob: bytes) -> zstandard.FrameParameters:
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise CorruptPayload(f"expected bytes, got {type(blob).__name__}")
    if bytes(blob[:4]) != _ZSTD_MAGIC:
        raise CorruptPayload(f"not a zstd frame ({len(blob)} bytes; no zstd magic number)")
    try:
        return zstandard.get_frame_parameters(blob)
    except zstandard.ZstdError as exc:
        raise CorruptPayload(
            f"not a zstd frame ({len(blob)} bytes; header unreadable: {exc})"
        ) from exc


def _check_blocks(blob: bytes, params: zstandard.FrameParameters) -> None:
    """Walk the frame's block headers (no decompression): refuse truncation and trailing data."""
    pos = zstandard.frame_header_size(blob)
    end = len(blob)
    while True:
        if pos + 3 > end:
            raise CorruptPayload(f"truncated zstd frame: block header missing at byte {pos}")
        header = int.from_bytes(blob[pos : pos + 3], "little")
        pos += 3
        block_type = (header >> 1) & 3
        if block_type == 3:
            raise CorruptPayload(f"corrupt zstd frame: reserved block type at byte {pos - 3}")
        pos += 1 if block_type == 1 else header >> 3  # an RLE block holds one byte
        if header & 1:
            break
    if params.has_checksum:
        pos += 4
    if pos > end:
        raise CorruptPayload(f"truncated zstd frame: {pos} bytes expected, {end} received")
    if pos < end:
        raise CorruptPayload(f"{end - pos} bytes of trailing data after the zstd frame")


def frame_content_size(blob: bytes) -> int | None:
    """The decompressed size the frame header declares, or ``None`` when it declares none."""
    size = _frame_parameters(blob).content_size
    # python-zstandard reports "unknown" as -1 and some builds as the C constant 2**64 - 1.
    return None if size < 0 or size >= (1 << 64) - 2 else int(size)


def check_frame(blob: bytes, max_size: int) -> int:
    """Validate the frame header without decompressing; return the declared content size.

    Raises :class:`CorruptPayload` if the header is unreadable, does not declare its content
    size, declares more than :data:`MAX_COMPRESSION_RATIO` times the blob's size, asks for a window larger than the decoder would allocate, or if the block headers
    show a truncated frame or trailing bytes; raises
    :class:`PayloadTooLarge` if the declared size exceeds ``max_size``.
    """
    params = _frame_parameters(blob)
    size = frame_content_size(blob)
    if size is None:
        raise CorruptPayload(
            "zstd frame does not declare its decompressed size; "
            "compress with airlock.models.codec.compress (content size written)"
        )
    if size > max_size:
        raise PayloadTooLarge(size, max_size, declared=True)
    plausible = max(RATIO_FREE_BYTES, len(blob) * MAX_COMPRESSION_RATIO)
    if size > plausible:
        raise CorruptPayload(
            f"zstd frame of {len(blob)} bytes declares {size} decompressed bytes, more than "
            f"{MAX_COMPRESSION_RATIO} times its size; a serialized DAG never compresses that well"
        )
    if params.window_size > MAX_WINDOW_SIZE:
        raise CorruptPayload(
            f"zstd frame asks for a {params.window_size}-byte window, "
            f"more than the {MAX_WINDOW_SIZE} bytes a decoder allocates"
        )
    _check_blocks(blob, params)
    return size


def decompress(blob: bytes, max_size: int) -> bytes:
    """Decompress one zstd frame, refusing to produce more than ``max_size`` bytes."""
    params = _frame_parameters(blob)
    declared = frame_content_size(blob)
    if declared is not None and declared > max_size:
        raise PayloadTooLarge(declared, max_size, declared=True)
    _check_blocks(blob, params)
    dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_SIZE)
    try:
        if declared is not None:
            # One shot into a buffer of exactly the declared size: a frame that expands past
            # its header's claim fails here instead of allocating more.
            data = dctx.decompress(blob)
            if len(data) != declared:
                raise CorruptPayload(
                    f"zstd frame declares {declared} bytes but holds {len(data)} bytes"
                )
            return data
        return _bounded_stream(dctx, blob, max_size)
    except zstandard.ZstdError as exc:
        raise CorruptPayload(f"corrupt or truncated zstd frame: {exc}") from exc


def _bounded_stream(dctx: zstandard.ZstdDecompressor, blob: bytes, max_size: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    with dctx.stream_reader(blob, read_across_frames=False) as reader:
        while True:
            chunk = reader.read(min(_STREAM_CHUNK, max_size + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_size:
                raise PayloadTooLarge(total, max_size, declared=False)
    return b"".join(chunks)


# --- DAGs ---------------------------------------------------------------------------------------


def decode_dag(blob: bytes, max_size: int) -> SerializedDag:
    """Decompress (bounded by ``max_size``) and decode one serialized DAG."""
    data = decompress(blob, max_size)
    try:
        return _dag_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise CorruptPayload(f"zstd payload is not a valid serialized DAG: {exc}") from exc


def encode_and_compress(dag: SerializedDag, level: int = 3) -> tuple[bytes, str]:
    """Encode and compress ``dag``; return ``(blob, version hash)``."""
    encoded = encode_dag(dag)
    return compress(encoded, level), dag_hash(encoded)


__all__ = [
    "MAX_COMPRESSION_RATIO",
    "MAX_WINDOW_SIZE",
    "RATIO_FREE_BYTES",
    "CodecError",
    "CorruptPayload",
    "PayloadTooLarge",
    "check_frame",
    "compress",
    "dag_hash",
    "decode_dag",
    "decompress",
    "encode_and_compress",
    "encode_dag",
    "frame_content_size",
    "normalize_dag",
]
