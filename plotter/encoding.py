"""Record and sector encoding (sector-audit-prove.md §6.3-§6.5; reference ``plotting.rs``).

Per record (offset p of the sector)::

    seed   = H(sector_id ‖ u16le(p))                         PoS seed (§5.3)
    proofs = first proof of each s-bucket that has one      (at most the first 2^15; V1 or V2)
    ext    = interleave(source, erasure.extend(source))      2^16 s-buckets
    masked = ext[s] XOR H(proof_s)                           encoded chunks, ascending s, first 2^15
    fill   = lowest s-buckets without an encoded chunk      unencoded chunks, up to 2^15 in all

Paths (all give identical bytes; tests compare them):

* :func:`encode_record_reference` — the readable §6.3 loop (Python, ``blake3`` package).
* :func:`encode_record` — numba kernels (``nogil``), run for several records at once in threads.
* :func:`encode_records_gpu` (``cuda``/``opencl``) — a batch of records stays on the device end to
  end: PoS tables and masks H(proof) from :mod:`farmkit.kernels.pos_gpu`, extend + mask + fill
  from :mod:`farmkit.kernels.erasure_gpu` (kernels in ``kernels/pos.cl``, ``fr.cl``,
  ``erasure.cl``); only the stored chunks and bitfields come back for the sector assembly.

A sector is then assembled s-bucket by s-bucket (§6.5) by :func:`assemble_sector`.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from numba import njit, prange

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import (
    PIECE_SIZE,
    POS_PROOF_SIZE,
    RECORD_NUM_CHUNKS,
    RECORD_NUM_S_BUCKETS,
    RECORD_SIZE,
    SCALAR_SIZE,
)
from farmkit.protocol.sector import (
    RECORD_BITFIELD_SIZE,
    RecordMetadata,
    SectorContentsMap,
    SectorId,
    SectorLayout,
    SectorMetadata,
    sector_checksum,
)

__all__ = [
    "EncodedRecord",
    "extend_record",
    "record_proofs",
    "encode_record_reference",
    "encode_record",
    "encode_records_gpu",
    "assemble_sector",
    "SectorEncoder",
    "PlottedSectorBytes",
    "STAGES",
]

STAGES = ("pos", "erasure", "hashing", "masking", "assembly", "io")


@dataclass
class EncodedRecord:
    """One encoded record: bit s of ``bitfield`` = s-bucket s is PoS-encoded (Lsb0, §6.4);
    ``present`` marks the 2^15 s-buckets that hold a chunk; ``chunks`` are those chunks, ascending s."""

    bitfield: np.ndarray  # uint8[8192]
    present: np.ndarray  # uint8[65536]
    chunks: np.ndarray  # uint8[32768, 32]

    @property
    def num_encoded(self) -> int:
        return int(np.unpackbits(self.bitfield).sum())


# --- the parts ---------------------------------------------------------------------------------
def extend_record(source: np.ndarray) -> np.ndarray:
    """§6.3: the 2^16 s-bucket values ``ext`` (source at even s, parity at odd s)."""
    from farmkit.kernels.erasure import extend, interleave

    source = np.ascontiguousarray(source, dtype=np.uint8).reshape(RECORD_NUM_CHUNKS, SCALAR_SIZE)
    return interleave(source, extend(source))


def record_proofs(seed: bytes, version: str) -> tuple[np.ndarray, np.ndarray]:
    """First proof of every s-bucket with one, ascending s (at most 2^15): ``(s_buckets, proofs)``."""
    from farmkit.kernels.pos import encoding_proofs

    s_buckets, proofs = encoding_proofs(bytes(seed), version)
    return np.asarray(s_buckets, dtype=np.int64), np.ascontiguousarray(proofs, dtype=np.uint8).reshape(-1, POS_PROOF_SIZE)


# --- reference path (§6.3, readable) --------------------------------------------------------------
def encode_record_reference(ext: np.ndarray, s_buckets: Sequence[int], proofs: np.ndarray) -> EncodedRecord:
    """§6.3 literally: mask with H(first proof) in ascending s, keep 2^15, fill with unencoded."""
    from blake3 import blake3

    proof_of = {int(s): bytes(proofs[i]) for i, s in enumerate(s_buckets)}
    encoded: list[tuple[int, bytes]] = []
    for s in range(RECORD_NUM_S_BUCKETS):
        proof = proof_of.get(s)
        if proof is None:
            continue
        key = blake3(proof).digest()
        masked = bytes(a ^ b for a, b in zip(bytes(ext[s]), key))
        if masked == bytes(32):  # upstream treats an all-zero masked chunk as "no proof"
            continue
        encoded.append((s, masked))
        if len(encoded) == RECORD_NUM_CHUNKS:
            break
    encoded_s = {s for s, _ in encoded}
    unencoded: list[tuple[int, bytes]] = []
    for s in range(RECORD_NUM_S_BUCKETS):
        if len(encoded) + len(unencoded) == RECORD_NUM_CHUNKS:
            break
        if s not in encoded_s:
            unencoded.append((s, bytes(ext[s])))
    stored = sorted(encoded + unencoded)
    bits = np.zeros(RECORD_NUM_S_BUCKETS, np.uint8)
    present = np.zeros(RECORD_NUM_S_BUCKETS, np.uint8)
    for s, _ in encoded:
        bits[s] = 1
    for s, _ in stored:
        present[s] = 1
    chunks = np.frombuffer(b"".join(c for _, c in stored), np.uint8).reshape(RECORD_NUM_CHUNKS, SCALAR_SIZE)
    return EncodedRecord(np.packbits(bits, bitorder="little"), present, chunks.copy())


# --- fast path (numba) ----------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _mask_and_fill(ext, s_buckets, hashes, bits, present, chunks):
    """Mask the chunks that have a proof (ascending s, first 2^15, skip all-zero), then fill.

    ext (65536, 32), s_buckets int64[n] ascending, hashes (n, 32) = H(proof); outputs: bits and
    present uint8[65536], chunks (32768, 32) in ascending s. Returns the number of encoded chunks.
    """
    n_s = ext.shape[0]
    hash_row = np.full(n_s, -1, np.int64)
    n_enc = 0
    for i in range(s_buckets.shape[0]):
        if n_enc == 32768:
            break
        s = s_buckets[i]
        zero = True
        for j in range(32):
            if (ext[s, j] ^ hashes[i, j]) != 0:
                zero = False
                break
        if zero:
            continue
        hash_row[s] = i
        bits[s] = 1
        n_enc += 1
    unencoded_left = 32768 - n_enc
    k = 0
    for s in range(n_s):
        if bits[s] == 1:
            i = hash_row[s]
            for j in range(32):
                chunks[k, j] = ext[s, j] ^ hashes[i, j]
            present[s] = 1
            k += 1
        elif unencoded_left > 0:
            for j in range(32):
                chunks[k, j] = ext[s, j]
            present[s] = 1
            unencoded_left -= 1
            k += 1
        if k == 32768:
            break
    return n_enc


@njit(cache=True, nogil=True)
def _pack_bits_lsb0(bits, out):
    for b in range(out.shape[0]):
        v = 0
        for t in range(8):
            v |= (bits[8 * b + t] & 1) << t
        out[b] = v


def _record_buffers(out: EncodedRecord | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    bits = np.zeros(RECORD_NUM_S_BUCKETS, np.uint8)
    if out is None:
        return bits, np.zeros(RECORD_NUM_S_BUCKETS, np.uint8), np.empty((RECORD_NUM_CHUNKS, SCALAR_SIZE), np.uint8), np.empty(RECORD_BITFIELD_SIZE, np.uint8)
    out.present[:] = 0
    return bits, out.present, out.chunks, out.bitfield


def encode_record_from_parts(
    ext: np.ndarray, s_buckets: np.ndarray, hashes: np.ndarray, out: EncodedRecord | None = None
) -> EncodedRecord:
    """Fast §6.3 given ``ext`` and ``H(proof)`` per s-bucket with a proof (``out``: write in place)."""
    bits, present, chunks, bitfield = _record_buffers(out)
    _mask_and_fill(
        np.ascontiguousarray(ext, dtype=np.uint8),
        np.ascontiguousarray(s_buckets, dtype=np.int64),
        np.ascontiguousarray(hashes, dtype=np.uint8),
        bits,
        present,
        chunks,
    )
    _pack_bits_lsb0(bits, bitfield)
    return out if out is not None else EncodedRecord(bitfield, present, chunks)


def encode_record(
    source: np.ndarray, seed: bytes, version: str, timings: dict | None = None, out: EncodedRecord | None = None
) -> EncodedRecord:
    """Fast path for one record (numba; releases the GIL so records can run in threads)."""
    from farmkit.kernels.blake3 import blake3_rows

    t0 = time.perf_counter()
    s_buckets, proofs = record_proofs(seed, version)
    t1 = time.perf_counter()
    with _parallel_kernel_lock:  # numba-parallel kernel: one launch at a time (workqueue layer safety)
        ext = extend_record(source)
    t2 = time.perf_counter()
    hashes = blake3_rows(proofs)
    t3 = time.perf_counter()
    rec = encode_record_from_parts(ext, s_buckets, hashes, out)
    t4 = time.perf_counter()
    if timings is not None:
        _add(timings, "pos", t1 - t0)
        _add(timings, "erasure", t2 - t1)
        _add(timings, "hashing", t3 - t2)
        _add(timings, "masking", t4 - t3)
    return rec


_timings_lock = threading.Lock()
_parallel_kernel_lock = threading.Lock()


def _add(timings: dict, key: str, dt: float) -> None:
    with _timings_lock:
        timings[key] = timings.get(key, 0.0) + dt


# --- GPU path: PoS masks, erasure coding, masking and fill on the device ---------------------------
_gpu_lock = threading.Lock()  # pos_gpu keeps one set of device buffers per backend: one batch at a time


def encode_records_gpu(
    sources: Sequence[np.ndarray], seeds: Sequence[bytes], version: str, backend: str,
    timings: dict | None = None, outs: Sequence[EncodedRecord] | None = None,
) -> list[EncodedRecord]:
    """§6.3 for a batch of records on the device (``cuda``/``opencl``), same bytes as the CPU path.

    :func:`farmkit.kernels.pos_gpu.encoding_masks_device` builds the PoS tables and leaves, per
    record, the s-buckets with a proof and the masks H(proof) on the device;
    :func:`farmkit.kernels.erasure_gpu.encode_records_device` extends the sources there and masks +
    fills (all-zero masked chunks are not encoded, §6.3).  Only the stored chunks, the presence
    map and the bitfield come back (into ``outs`` when given).  The whole batch is one launch:
    callers size it (:class:`SectorEncoder` uses ``pos_gpu.default_batch``)."""
    from farmkit.kernels import erasure_gpu, pos_gpu
    from farmkit.kernels.gpu import gpu_context

    b = len(sources)
    if len(seeds) != b:
        raise FarmkitError(f"{b} sources but {len(seeds)} seeds")
    if outs is not None and len(outs) != b:
        raise FarmkitError(f"{b} sources but {len(outs)} output records")
    if b == 0:
        return []
    if version not in ("v1", "v2"):
        raise FarmkitError(f"proof-of-space version must be v1 or v2, not {version!r}")
    src = np.ascontiguousarray(np.stack([np.asarray(s, np.uint8).reshape(RECORD_NUM_CHUNKS, SCALAR_SIZE) for s in sources]))
    ctx = gpu_context(backend)
    with _gpu_lock:
        t0 = time.perf_counter()
        s_buckets, masks, counts = pos_gpu.encoding_masks_device([bytes(s) for s in seeds], version, backend)
        t1 = time.perf_counter()  # encoding_masks_device has read back its overflow flags: tables done
        chunks, present, bitfield, _ext = erasure_gpu.encode_records_device(
            ctx, ctx.to_device(src), s_buckets, masks, counts, b)  # raises on a non-canonical source
        t2 = time.perf_counter()
        chunks, present, bitfield = ctx.to_host(chunks), ctx.to_host(present), ctx.to_host(bitfield)
    out: list[EncodedRecord] = []
    for k in range(b):
        if outs is None:
            out.append(EncodedRecord(bitfield[k], present[k], chunks[k]))
        else:
            outs[k].bitfield[:] = bitfield[k]
            outs[k].present[:] = present[k]
            outs[k].chunks[:] = chunks[k]
            out.append(outs[k])
    if timings is not None:  # GPU stages: "erasure" = extend + mask + fill on the device,
        _add(timings, "pos", t1 - t0)  # "pos" includes H(proof); "masking" = the copy back
        _add(timings, "erasure", t2 - t1)
        _add(timings, "masking", time.perf_counter() - t2)
    return out


# --- sector assembly (§6.4-§6.5) -------------------------------------------------------------------
@njit(cache=True, nogil=True, parallel=True)
def _record_ranks(present, block_starts, ranks):
    """ranks[p, b] = number of chunks of record p before s-bucket block_starts[b]."""
    for p in prange(present.shape[0]):
        acc = 0
        b = 0
        for s in range(present.shape[1]):
            while b < block_starts.shape[0] and block_starts[b] == s:
                ranks[p, b] = acc
                b += 1
            acc += present[p, s]


@njit(cache=True, nogil=True, parallel=True)
def _scatter_blocks(present, chunks, offsets, ranks, block, out):
    n_p = present.shape[0]
    n_blocks = ranks.shape[1]
    for b in prange(n_blocks):
        s0 = b * block
        s1 = s0 + block
        cursor = offsets[s0:s1].copy()
        for p in range(n_p):
            k = ranks[p, b]
            for s in range(s0, s1):
                if present[p, s]:
                    c = cursor[s - s0]
                    out[c, :] = chunks[p, k, :]
                    cursor[s - s0] = c + 1
                    k += 1


def scatter_s_buckets(present: np.ndarray, chunks: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    """Fill the s-bucket region ``out`` ((P·32768, 32)) from per-record chunks (§6.5 region 2)."""
    block = 1024
    starts = np.arange(0, RECORD_NUM_S_BUCKETS, block, dtype=np.int64)
    ranks = np.zeros((present.shape[0], len(starts)), np.int64)
    _record_ranks(present, starts, ranks)
    _scatter_blocks(present, chunks, np.asarray(offsets, np.int64), ranks, block, out)


def scatter_s_buckets_reference(present: np.ndarray, chunks: np.ndarray) -> np.ndarray:
    """Readable §6.5 region 2: for s ascending, for p ascending, append record p's chunk."""
    order_rows = []
    k_of = np.cumsum(present, axis=1) - 1  # index of s within record p's ascending chunks
    for s in range(present.shape[1]):
        for p in range(present.shape[0]):
            if present[p, s]:
                order_rows.append(chunks[p, k_of[p, s]])
    return np.stack(order_rows)


@dataclass
class PlottedSectorBytes:
    """A sector ready to write (§6.7): bytes, metadata and which piece went to which offset."""

    sector_index: int
    sector_id: SectorId
    data: np.ndarray  # uint8[sector_size]
    metadata: SectorMetadata
    piece_indexes: list[int]


def assemble_sector(
    records: "Sequence[EncodedRecord] | SectorBuffers", record_metadata: Sequence[RecordMetadata], sector_index: int,
    history_size: int, timings: dict | None = None,
) -> tuple[np.ndarray, SectorMetadata]:
    """§6.4-§6.6: contents map ‖ s-buckets ‖ record metadata ‖ checksum, and the sector metadata."""
    t0 = time.perf_counter()
    if isinstance(records, SectorBuffers):
        bitfields, present, chunks = records.bitfields, records.present, records.chunks
    else:
        bitfields = np.stack([r.bitfield for r in records])
        present = np.stack([r.present for r in records])
        chunks = np.stack([r.chunks for r in records])
    p = len(bitfields)
    layout = SectorLayout(p)
    sizes = present.sum(axis=0, dtype=np.int64)
    metadata = SectorMetadata(sector_index, p, sizes.astype(np.uint16), history_size)
    offsets = metadata.s_bucket_offsets().astype(np.int64)
    sector = np.empty(layout.size, np.uint8)
    sector[: layout.contents_map_size] = np.frombuffer(SectorContentsMap(bitfields).encode(), np.uint8)
    region = sector[layout.s_buckets_offset : layout.record_metadata_offset].reshape(-1, SCALAR_SIZE)
    scatter_s_buckets(present, chunks, offsets, region)
    meta = b"".join(m.encode() for m in record_metadata)
    sector[layout.record_metadata_offset : layout.checksum_offset] = np.frombuffer(meta, np.uint8)
    t1 = time.perf_counter()
    sector[layout.checksum_offset :] = np.frombuffer(sector_checksum(sector[: layout.checksum_offset]), np.uint8)
    t2 = time.perf_counter()
    if timings is not None:
        _add(timings, "assembly", t1 - t0)
        _add(timings, "hashing", t2 - t1)
    return sector, metadata


# --- sector encoder (several records in flight) ----------------------------------------------------
def _default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class SectorBuffers:
    """Per-sector arrays the encoders write into (no copies when the sector is assembled)."""

    def __init__(self, pieces_in_sector: int):
        self.bitfields = np.zeros((pieces_in_sector, RECORD_BITFIELD_SIZE), np.uint8)
        self.present = np.zeros((pieces_in_sector, RECORD_NUM_S_BUCKETS), np.uint8)
        self.chunks = np.empty((pieces_in_sector, RECORD_NUM_CHUNKS, SCALAR_SIZE), np.uint8)

    def record(self, p: int) -> EncodedRecord:
        return EncodedRecord(self.bitfields[p], self.present[p], self.chunks[p])


class SectorEncoder:
    """Encodes whole sectors on one backend. ``cpu``: a thread pool keeps several records in
    flight (numba kernels release the GIL); ``cuda``/``opencl``: batches of records on the GPU."""

    def __init__(self, backend: str = "cpu", workers: int | None = None, gpu_batch: int | None = None):
        self.backend = backend
        self.workers = workers or _default_workers()
        self.timings: dict[str, float] = {}
        self._gpu = None
        self.gpu_batch = gpu_batch or 1
        if backend != "cpu":
            from farmkit.kernels import pos_gpu
            from farmkit.kernels.gpu import gpu_context

            self._gpu = gpu_context(backend)
            # records per device launch: as many as half the device memory holds (pos_gpu's rule)
            self.gpu_batch = gpu_batch or max(1, pos_gpu.default_batch(backend))

    def device_name(self) -> str:
        if self._gpu is not None:
            return self._gpu.device_name
        from farmkit.kernels.backends import probe

        return probe("cpu").device

    def encode_records(
        self, sources: Sequence[np.ndarray], seeds: Sequence[bytes], version: str,
        progress: Callable[[int], None] | None = None, buffers: SectorBuffers | None = None,
    ) -> list[EncodedRecord]:
        n = len(sources)
        buffers = buffers or SectorBuffers(n)
        if self.backend == "cpu":
            out: list[EncodedRecord | None] = [None] * n
            pool = ThreadPoolExecutor(max_workers=self.workers)
            try:
                futures = {
                    pool.submit(encode_record, sources[i], seeds[i], version, self.timings, buffers.record(i)): i
                    for i in range(n)
                }
                for fut in futures:
                    i = futures[fut]
                    out[i] = fut.result()
                    if progress:
                        progress(1)
            finally:  # on an error or Ctrl-C, drop the records not started yet
                pool.shutdown(wait=True, cancel_futures=True)
            return out  # type: ignore[return-value]
        out2: list[EncodedRecord] = []
        for start in range(0, n, self.gpu_batch):
            batch = slice(start, min(n, start + self.gpu_batch))
            recs = encode_records_gpu(
                sources[batch], seeds[batch], version, self.backend, self.timings,
                [buffers.record(i) for i in range(batch.start, batch.stop)],
            )
            out2.extend(recs)
            if progress:
                progress(len(recs))
        return out2

    def encode_sector(
        self, public_key_hash: bytes, sector_index: int, history_size: int, pieces: Sequence[bytes],
        piece_indexes: Sequence[int], version: str, progress: Callable[[int], None] | None = None,
    ) -> PlottedSectorBytes:
        """§6.2-§6.6 for already-downloaded pieces (``pieces[offset]`` is the piece at that offset)."""
        sector_id = SectorId.new(public_key_hash, sector_index, history_size)
        if not pieces:
            raise FarmkitError("a sector needs at least one piece")
        sources = []
        metas = []
        for piece in pieces:
            if len(piece) != PIECE_SIZE:
                raise FarmkitError(f"piece has {len(piece)} bytes, expected {PIECE_SIZE}")
            sources.append(np.frombuffer(piece, np.uint8, count=RECORD_SIZE).reshape(RECORD_NUM_CHUNKS, SCALAR_SIZE))
            metas.append(RecordMetadata.from_piece(piece))
        seeds = [sector_id.derive_evaluation_seed(p) for p in range(len(pieces))]
        buffers = SectorBuffers(len(pieces))
        self.encode_records(sources, seeds, version, progress, buffers)
        data, metadata = assemble_sector(buffers, metas, sector_index, history_size, self.timings)
        return PlottedSectorBytes(sector_index, sector_id, data, metadata, list(piece_indexes))

