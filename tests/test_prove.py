"""Proving (sector-audit-prove.md §10): a planted winner is found, proven and accepted."""

from __future__ import annotations

import numpy as np

from farmkit.auditor.audit import FarmAuditor
from farmkit.auditor.prove import record_chunk_locations
from farmkit.auditor.verify import piece_check_params_for, verify_solution
from farmkit.kernels.fr import MODULUS
from farmkit.protocol.farm import SingleDiskFarm
from farmkit.protocol.sector import SectorLayout
from farmkit.protocol.solution import Solution

from test_audit_support import POT_OUTPUT, REWARD_ADDRESS, plotted_farm, planted, tiny_history


def test_record_chunk_locations_match_reference_layout():
    with SingleDiskFarm.open(plotted_farm()) as farm:
        for s in farm.plotted_sectors():
            cmap = farm.read_contents_map(s.sector_index)
            for p in range(farm.pieces_in_sector):
                sb, enc, loc = record_chunk_locations(cmap, p, s.metadata.s_bucket_offsets())
                rsb, renc, roff = SectorLayout(farm.pieces_in_sector).record_chunk_locations(cmap, p, s.metadata.s_bucket_offsets())
                assert np.array_equal(sb, rsb) and np.array_equal(enc, renc)
                assert np.array_equal(farm.layout.s_buckets_offset + 32 * loc, roff)


def test_planted_winner_audit_prove_verify():
    slot, gc, solution_range, cand, sol = planted()
    # the audit finds it first with just this range
    with FarmAuditor(plotted_farm()) as auditor:
        cands = auditor.audit(gc, solution_range)
        assert cands[0] == cand and cand.distance <= solution_range // 2
        sector = next(s for s in auditor.farm.plotted_sectors() if s.sector_index == cand.sector_index)
    # fields determined by the plot and the history (§15.11)
    history = tiny_history()
    assert sol.sector_index == cand.sector_index and sol.piece_offset == cand.piece_offset
    assert sol.history_size == sector.history_size == 3 and sol.reward_address == REWARD_ADDRESS
    piece_index = sector.sector_id.derive_piece_index(cand.piece_offset, sol.history_size)
    seg, pos = divmod(piece_index, 256)
    assert sol.record_commitment == history.commitments[seg][pos]
    assert sol.record_witness == history.record_witness(piece_index)
    # chunk = the record's unmasked value at s: the record polynomial a + b·X at ω_{2^16}^s
    a, b = (int.from_bytes(x.tobytes(), "big") for x in history.coeffs[seg][pos])
    from farmkit.kernels.fft import root_of_unity

    expect = (a + b * pow(root_of_unity(2**16), cand.s_bucket, MODULUS)) % MODULUS
    assert int.from_bytes(sol.chunk, "big") == expect
    # the Solution round-trips through its RPC JSON and SCALE forms
    assert Solution.from_json(sol.to_json()) == sol and Solution.decode(sol.encode()) == sol
    # verification as the node does it: from the PoT output, with piece checks
    segments = history.segment_commitments
    params = piece_check_params_for(sol, segments)
    assert verify_solution(sol, slot, POT_OUTPUT, solution_range, params) == cand.distance
    assert verify_solution(sol, slot, gc, solution_range, None) == cand.distance
