"""Sector derivations and layouts against the spec's vectors (sector-audit-prove.md §7, §16.2)."""

from __future__ import annotations

import numpy as np
import pytest
from blake3 import blake3

from farmkit.protocol.constants import RECORD_NUM_CHUNKS, RECORD_NUM_S_BUCKETS
from farmkit.protocol.sector import (
    SECTOR_METADATA_SIZE,
    SectorContentsMap,
    SectorId,
    SectorLayout,
    SectorMetadata,
    global_challenge,
    s_bucket_audit_index,
    sector_contents_map_size,
    sector_size,
)


def test_sector_sizes():
    # §7 table
    assert sector_size(1) == 1_056_960
    assert sector_size(2) == 2_113_856
    assert sector_size(10) == 10_569_024
    assert sector_size(100) == 105_689_664
    assert sector_size(1000) == 1_056_896_064
    assert sector_contents_map_size(1000) == 8_192_032
    assert SECTOR_METADATA_SIZE == 131_116


def test_sector_id_and_piece_indexes_hs1():
    sid = SectorId.from_public_key(bytes(32), 0, 1)
    assert sid.hex() == "1ac62fa18597d162eef5d0e3409b9680530c5935c71fa4276b9e6c482899af7d"
    assert [sid.derive_piece_index(o, 1) for o in range(8)] == [20, 132, 153, 153, 16, 198, 151, 180]
    assert sid.derive_evaluation_seed(0).hex() == "38ed25f6cc9ee1243db27248911bea378ade50da51e5b3f2b8e81270c5650c65"
    assert sid.derive_evaluation_seed(1).hex() == "5c97915598ad7b57b2c5608f039a88480e23d4d569bfb606e57f0785ae2e72a2"
    assert s_bucket_audit_index(sid.derive_sector_slot_challenge(bytes(32))) == 50714


def test_sector_id_hello():
    pkh = blake3(b"hello").digest()
    assert pkh.hex() == "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"
    sid = SectorId.new(pkh, 500, 1)
    assert sid.hex() == "3f2027fd2924f282a6c4cc66c4211e8400d35cdc08ce192b04294b7cc90911ca"
    assert sid.derive_evaluation_seed(0).hex() == "458011a396540a3891b23e3e90e936aab381bcef2ea6043b064c556cff40d3b2"
    assert sid.derive_evaluation_seed(1).hex() == "826d9de57f8342e241ead1994b471ef1bd247614e75a6c2267b9229de365983b"


def test_recent_history_rule_and_expiration():
    sid = SectorId.from_public_key(bytes(range(32)), 7, 100)
    assert sid.hex() == "10e662eae96de52ae47df305ae95a203065068ce55535b659603ddd3c3e14c80"
    idx = [sid.derive_piece_index(o, 100) for o in range(6)]
    assert idx == [21965, 24450, 7173, 25262, 22971, 25199]
    assert all(24320 <= idx[o] < 25600 for o in (1, 3, 5))
    assert sid.derive_expiration_history_size(100, bytes(48), 4) == 377
    gc = global_challenge(bytes(range(16)), 12345)
    assert gc.hex() == "df0535f5fb8c469d101e69ccf0ac5d53e5d3fd55557576a282e0fc47b10154cc"
    ch = sid.derive_sector_slot_challenge(gc)
    assert ch.hex() == "cfe3571f12e1a3b7f4639ac95e39ff50e383959b00262dc714e3219472e0184c"
    assert s_bucket_audit_index(ch) == 58319
    assert global_challenge(bytes(16), 0).hex() == "ffb2c8d1514ba7cd57fa470aef32f1c8d55eb3b7c36f636ede90092a7783dc8c"


def test_sector_metadata_vectors():
    m = SectorMetadata(0, 1000, np.zeros(RECORD_NUM_S_BUCKETS, np.uint16), 1)
    enc = m.encode_checksummed()
    assert len(enc) == 131_116
    assert enc[-32:].hex() == "078f95ae8d5a1c9f0b6730d62438948732f96414852408f227821c9f4165bd37"
    sizes = (np.arange(RECORD_NUM_S_BUCKETS) % 1001).astype(np.uint16)
    m2 = SectorMetadata(3, 1000, sizes, 42)
    enc2 = m2.encode_checksummed()
    assert enc2[:8].hex() == "0300e80300000100"
    assert enc2[131076:131084].hex() == "2a00000000000000"
    assert enc2[-32:].hex() == "e6a462a9e41a868e8b1b41c1554d374f7fe08da8b29c3d56a6911603eedf8cf6"
    back = SectorMetadata.decode_checksummed(enc2)
    assert (back.sector_index, back.pieces_in_sector, back.history_size) == (3, 1000, 42)
    assert np.array_equal(back.s_bucket_sizes, sizes)
    bad = bytearray(enc2)
    bad[10] ^= 1
    with pytest.raises(Exception):
        SectorMetadata.decode_checksummed(bytes(bad))
    with pytest.raises(Exception):
        SectorMetadata.decode_checksummed(enc2[:-32])


def test_contents_map_checksum_and_roundtrip():
    cm = SectorContentsMap.new(1)
    assert cm.encode()[-32:].hex() == "128daa44a4f7badaed2244bb6fe009d5e7803177414e01d7d9df80c190e14906"
    rng = np.random.default_rng(1)
    bits = np.zeros((3, RECORD_NUM_S_BUCKETS), bool)
    for p in range(3):
        bits[p, np.sort(rng.choice(RECORD_NUM_S_BUCKETS, RECORD_NUM_CHUNKS - 7 * p, replace=False))] = True
    cm = SectorContentsMap(np.packbits(bits, axis=1, bitorder="little"))
    enc = cm.encode()
    back = SectorContentsMap.from_bytes(enc, 3)
    assert np.array_equal(back.bitfields, cm.bitfields)
    with pytest.raises(Exception):
        SectorContentsMap.from_bytes(enc[:-1] + bytes([enc[-1] ^ 1]), 3)
    sizes = cm.s_bucket_sizes()
    assert int(sizes.astype(np.int64).sum()) == 3 * RECORD_NUM_CHUNKS


def _has_chunk_spec(bitfield: bytes, s: int):
    """Appendix A ``has_chunk`` (spec author's reference)."""
    bit = lambda i: (bitfield[i >> 3] >> (i & 7)) & 1  # noqa: E731
    n_enc = sum(bin(b).count("1") for b in bitfield)
    if bit(s):
        return True
    if n_enc == 32768:
        return None
    enc_before = sum(bit(i) for i in range(s))
    return False if (s - enc_before) < (32768 - n_enc) else None


def test_record_presence_matches_spec_rule():
    rng = np.random.default_rng(2)
    bits = np.zeros(RECORD_NUM_S_BUCKETS, bool)
    bits[np.sort(rng.choice(40000, RECORD_NUM_CHUNKS - 100, replace=False))] = True
    bf = np.packbits(bits, bitorder="little")
    cm = SectorContentsMap(bf[None, :])
    present, encoded = cm.record_presence(0)
    assert present.sum() == RECORD_NUM_CHUNKS
    raw = bf.tobytes()
    for s in list(rng.integers(0, RECORD_NUM_S_BUCKETS, 40)) + [0, 1, 39999, 40000, 65535]:
        want = _has_chunk_spec(raw, int(s))
        got = None if not present[s] else bool(encoded[s])
        assert got == want, s


def test_chunk_locations_follow_layout():
    rng = np.random.default_rng(3)
    P = 3
    bits = np.zeros((P, RECORD_NUM_S_BUCKETS), bool)
    for p in range(P):
        bits[p, np.sort(rng.choice(RECORD_NUM_S_BUCKETS, RECORD_NUM_CHUNKS - p, replace=False))] = True
    cm = SectorContentsMap(np.packbits(bits, axis=1, bitorder="little"))
    layout = SectorLayout(P)
    seen = set()
    for p in range(P):
        s, enc, offs = layout.record_chunk_locations(cm, p)
        assert len(s) == RECORD_NUM_CHUNKS
        seen.update(offs.tolist())
    # every chunk slot of the s-bucket region is used exactly once
    assert len(seen) == P * RECORD_NUM_CHUNKS
    assert min(seen) == layout.s_buckets_offset
    assert max(seen) == layout.record_metadata_offset - 32
