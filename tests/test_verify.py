"""verify_solution (sector-audit-prove.md §11): every single-field corruption and every context-only
failure is rejected with the reference's reason name."""

from __future__ import annotations

import dataclasses
import json

import pytest

from farmkit.auditor.verify import (
    PieceCheckParams,
    SolutionVerificationError,
    check_solution,
    piece_check_params_for,
    verify_solution,
)
from farmkit.errors import FarmkitError
from farmkit.protocol.ss58 import ss58_decode, ss58_encode

from test_audit_support import POT_OUTPUT, piece_store, planted, plotted_farm, run_cli, tiny_history

U64 = (1 << 64) - 1


def _flip(b: bytes, i: int = -1) -> bytes:
    x = bytearray(b)
    x[i] ^= 1
    return bytes(x)


def _params(sol, **over):
    p = piece_check_params_for(sol, tiny_history().segment_commitments)
    return dataclasses.replace(p, **over)


def _reason(sol, slot, chal, sr, params):
    return check_solution(sol, slot, chal, sr, params)[1]


def test_single_field_corruptions():
    slot, gc, sr, cand, sol = planted()
    params = _params(sol)
    assert _reason(sol, slot, POT_OUTPUT, sr, params) is None
    other_key = bytes(reversed(sol.public_key))
    cases = {
        "public_key": (other_key, "InvalidProofOfSpace"),
        "sector_index": (sol.sector_index ^ 1, "InvalidProofOfSpace"),
        "history_size": (sol.history_size + 1, "InvalidProofOfSpace"),
        "piece_offset": (sol.piece_offset ^ 1, "InvalidProofOfSpace"),
        "proof_of_space": (_flip(sol.proof_of_space, 5), "InvalidProofOfSpace"),
        "chunk": (_flip(sol.chunk), "OutsideSolutionRange"),
        "record_commitment": (_flip(sol.record_commitment), "InvalidChunkWitness"),
        "chunk_witness": (_flip(sol.chunk_witness), "InvalidChunkWitness"),
        "record_witness": (_flip(sol.record_witness), "InvalidPiece"),
    }
    for field, (value, reason) in cases.items():
        bad = dataclasses.replace(sol, **{field: value})
        assert _reason(bad, slot, POT_OUTPUT, sr, params) == reason, field
    # the reward address is not checked by verify_solution
    assert _reason(dataclasses.replace(sol, reward_address=bytes(32)), slot, POT_OUTPUT, sr, params) is None
    # a valid G1 point that is not the commitment / witness: the pairing check fails
    g = tiny_history().commitments[0][0]
    assert _reason(dataclasses.replace(sol, record_commitment=g), slot, POT_OUTPUT, sr, params) == "InvalidChunkWitness"
    assert _reason(dataclasses.replace(sol, chunk_witness=g), slot, POT_OUTPUT, sr, params) == "InvalidChunkWitness"
    assert _reason(dataclasses.replace(sol, record_witness=g), slot, POT_OUTPUT, sr, params) == "InvalidPiece"
    # a non-canonical chunk is InvalidChunk once the range check passes (widest range)
    assert _reason(dataclasses.replace(sol, chunk=b"\xff" * 32), slot, POT_OUTPUT, U64, params) == "InvalidChunk"
    # the range is checked before the chunk opening; a narrower range or another slot fails it
    assert _reason(sol, slot, POT_OUTPUT, sr - 2, params) == "OutsideSolutionRange"
    assert _reason(sol, slot + 1, POT_OUTPUT, sr, params) in ("InvalidProofOfSpace", "OutsideSolutionRange")
    # without piece checks the record witness is not looked at
    assert _reason(dataclasses.replace(sol, record_witness=_flip(sol.record_witness)), slot, POT_OUTPUT, sr, None) is None


def test_context_only_failures():
    # the reference's PieceCheckParams fields, in order
    assert [f.name for f in dataclasses.fields(PieceCheckParams)] == [
        "max_pieces_in_sector", "segment_commitment", "recent_segments", "recent_history_fraction",
        "min_sector_lifetime", "current_history_size", "sector_expiration_check_segment_commitment",
    ]
    slot, gc, sr, cand, sol = planted()
    assert sol.history_size == 3
    ok = _params(sol)
    assert _reason(sol, slot, POT_OUTPUT, sr, dataclasses.replace(ok, current_history_size=2)) is None  # +1 allowed
    assert _reason(sol, slot, POT_OUTPUT, sr, dataclasses.replace(ok, current_history_size=1)) == "FutureHistorySize"
    assert _reason(sol, slot, POT_OUTPUT, sr, dataclasses.replace(ok, max_pieces_in_sector=sol.piece_offset)) == "InvalidPieceOffset"
    # expiration (§12): lifetime in [h+m, 4h+m) = [7, 16) for h = 3, m = 4
    check = bytes(range(48))
    from farmkit.protocol.sector import SectorId

    sid = SectorId.from_public_key(sol.public_key, sol.sector_index, sol.history_size)
    exp = sid.derive_expiration_history_size(sol.history_size, check, 4)
    assert 7 <= exp < 16
    live = dataclasses.replace(ok, sector_expiration_check_segment_commitment=check, current_history_size=exp - 1)
    dead = dataclasses.replace(live, current_history_size=exp)
    assert _reason(sol, slot, POT_OUTPUT, sr, live) is None
    assert _reason(sol, slot, POT_OUTPUT, sr, dead) == "SectorExpired"
    # the piece must open the segment commitment of its own segment
    wrong = dataclasses.replace(ok, segment_commitment=tiny_history().segment_commitments[(ok.segment_commitment == tiny_history().segment_commitments[0]) * 1])
    assert _reason(sol, slot, POT_OUTPUT, sr, wrong) == "InvalidPiece"
    with pytest.raises(SolutionVerificationError) as e:
        verify_solution(sol, slot, POT_OUTPUT, sr, dataclasses.replace(ok, current_history_size=1))
    assert e.value.reason == "FutureHistorySize"
    # InvalidHistorySize: the expiration arithmetic overflows (checked directly: such a history size
    # changes the sector id, so a real solution fails the PoS check first)
    assert sid.derive_expiration_history_size(U64 - 1, check, 4) is None
    with pytest.raises(FarmkitError):
        verify_solution(sol, slot, b"\x00" * 20, sr, ok)
    with pytest.raises(FarmkitError):
        piece_check_params_for(sol, [])  # missing segment commitment


def test_ss58():
    # Alice (//Alice sr25519 public key), generic Substrate prefix 42 — a well-known address
    alice = bytes.fromhex("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
    assert ss58_decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY") == (alice, 42)
    assert ss58_encode(alice, 42) == "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
    su = ss58_encode(alice)
    assert su.startswith("su") and ss58_decode(su) == (alice, 6094)
    with pytest.raises(FarmkitError, match="checksum"):
        ss58_decode(su[:-1] + ("1" if su[-1] != "1" else "2"))
    with pytest.raises(FarmkitError):
        ss58_decode("0OIl")


def test_cli_prove_and_verify(tmp_path):
    slot, gc, sr, cand, sol = planted()
    addr = ss58_encode(sol.reward_address)
    base = ["--global-challenge", gc.hex(), "--solution-range", str(sr)]
    code, stdout, stderr = run_cli("prove", "--farm", plotted_farm(), *base, "--slot", slot,
                                   "--reward-address", addr, "--piece-store", piece_store(), "--json")
    assert code == 0, stderr
    out = json.loads(stdout)
    assert out == [{"slotNumber": slot, "solution": sol.to_json()}]
    f = tmp_path / "sol.json"
    f.write_text(stdout)
    store = ["--piece-store", str(piece_store())]
    v = run_cli("verify", "--solution", str(f), "--pot-output", POT_OUTPUT.hex(), "--solution-range", str(sr), *store)
    assert v[0] == 0, v
    v = run_cli("verify", "--solution", str(f), *base, *store)
    assert v[0] == 0, v
    v = run_cli("verify", "--solution", str(f), *base, *store, "--history-size", "1")
    assert v[0] == 1 and "FutureHistorySize" in v[1]
    bad = dict(out[0])
    bad["solution"] = dict(bad["solution"], chunkWitness=_flip(sol.chunk_witness).hex())
    f.write_text(json.dumps(bad))
    v = run_cli("verify", "--solution", str(f), *base, *store)
    assert v[0] == 1 and "InvalidChunkWitness" in v[1]
    # bad input: wrong challenge length, missing file, a store without the segment -> exit 2, one line
    for args in (["--solution", str(f), "--global-challenge", "00" * 31, "--solution-range", "1", *store],
                 ["--solution", str(tmp_path / "none.json"), *base, *store],
                 ["--solution", str(f), *base, "--piece-store", str(tmp_path)]):
        v = run_cli("verify", *args)
        assert v[0] == 2 and len(v[2].strip().splitlines()) == 1, v
