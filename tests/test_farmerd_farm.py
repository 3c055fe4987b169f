"""farmerd farm: argument shapes, unsafe set-ups, sector expiration (§12), the piece cache, and a
farmer that survives a fuzzing fake node (malformed, wrong-typed, missing-field and huge messages)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import blake3
import pytest

from farmkit.errors import FarmkitError
from farmkit.farmerd.farm import (
    DirectoryPieceCache,
    check_node_url,
    parse_farm_spec,
    sector_expiration,
    sector_state,
)
from farmkit.protocol.constants import NUM_PIECES, PIECE_SIZE

# pot-rpc.md C.7 identity vector: entropy 07 x 32 -> this public key
ENTROPY_07 = bytes([7]) * 32
PUBLIC_07 = bytes.fromhex("ae78b88f68f8a3391cd7d1a8908766e1d068b2c1db6244a373e8b643e49d085f")
# pot-rpc.md C.8: public key e2111779..2666 in SS58 with prefix 6094
SS58_VECTOR = "sugBViCceVT1EzkCSxvySQ9PpvCnGSagTKd1KbgDjP1yw9LPw"


def test_farm_spec_shapes():
    assert parse_farm_spec("path=/d,size=100MiB").size == 100 * 2**20
    assert parse_farm_spec("path=/d,size=2GiB").size == 2 * 2**30
    spec = parse_farm_spec("path=/data/farm,size=1.5TB,record-chunks-mode=WholeSector")
    assert spec.size == 1_500_000_000_000 and spec.path == Path("/data/farm") and spec.record_chunks_mode == "whole"
    assert parse_farm_spec("size=1GB,path=x").record_chunks_mode == "concurrent"
    for bad in ("/d", "path=/d", "size=1G", "path=/d,size=", "path=/d,size=1G,colour=red",
                "path=/d,size=1G,record-chunks-mode=Fast", "path=/d,size=lots", "path=a,path=b,size=1G"):
        with pytest.raises(FarmkitError):
            parse_farm_spec(bad)


def test_unsafe_node_urls_warn():
    assert check_node_url("ws://127.0.0.1:9944") == []
    assert check_node_url("ws://localhost:9944") == []
    assert check_node_url("ws://[::1]:9944") == []
    assert check_node_url("wss://node.example:443") == []
    (warning,) = check_node_url("ws://10.1.2.3:9944")
    assert "not on loopback" in warning and "TLS" in warning
    assert check_node_url("ws://node.example:9944")
    for bad in ("http://127.0.0.1:9944", "127.0.0.1:9944", "ws://"):
        with pytest.raises(FarmkitError):
            check_node_url(bad)


def _expiration_by_spec(sector_id: bytes, h: int, commitment: bytes, m: int) -> int:
    """§12 written out with the blake3 package: h + m + U256(H(sector_id || c)) % (3h)."""
    input_hash = int.from_bytes(blake3.blake3(sector_id + commitment).digest(), "little")
    return h + m + input_hash % ((m + 4 * h) - (h + m))


def test_sector_expiration_matches_spec_formula():
    from farmkit.protocol.sector import SectorId

    commitments = {i: bytes([i]) * 48 for i in range(40)}
    for h in (1, 2, 5, 17):
        sid = SectorId.new(bytes(range(32)), 3, h)
        exp = sector_expiration(sid, h, commitments.get, 4)
        assert exp == _expiration_by_spec(bytes(sid), h, commitments[h + 3], 4)
        assert h + 4 <= exp < 4 * h + 4
        # the check segment (h + m - 1) is not archived yet: cannot expire
        assert sector_expiration(sid, h, lambda i: None if i >= h + 3 else commitments[i], 4) is None
        assert sector_state(exp, exp - 2) == "Plotted"
        assert sector_state(exp, exp - 1) == "AboutToExpire"  # expires_at = exp - 1 <= last index + 1
        assert sector_state(exp, exp) == "Expired"
    assert sector_state(None, 10**6) == "Plotted"


def test_directory_piece_cache(tmp_path):
    from farmkit.plotter.piece_store import pieces_path
    from farmkit.protocol.segments import LastArchivedBlock, SegmentHeader

    cache = DirectoryPieceCache(tmp_path / "cache", keep=2)
    for seg in range(3):
        header = SegmentHeader(seg, bytes([seg]) * 48, bytes(32), LastArchivedBlock(seg, None))
        pieces = [bytes([seg, pos]) * (PIECE_SIZE // 2) for pos in range(NUM_PIECES)]
        cache.put_segment(header, pieces)
        assert cache.has_segment(seg)
        # the piece-store file layout: segment-<i>.pieces, pieces in position order
        raw = pieces_path(tmp_path / "cache", seg).read_bytes()
        assert raw[PIECE_SIZE * 7 : PIECE_SIZE * 7 + 2] == bytes([seg, 7])
    assert cache.segments() == [1, 2]  # newest two kept
    assert cache.get_piece(0) is None
    assert cache.get_piece(2 * NUM_PIECES + 9)[:2] == bytes([2, 9])
    with pytest.raises(FarmkitError):
        cache.put_segment(header, pieces[:3])


def test_farm_cli_errors_are_one_line(tmp_path):
    def run(*args):
        return subprocess.run(["farmerd", "farm", *args], capture_output=True, text=True, timeout=120)

    good_farm = f"path={tmp_path / 'f'},size=100MiB"
    for args, needle in (
        (["--reward-address", "not-an-address", good_farm], "--reward-address"),
        (["--reward-address", SS58_VECTOR, "path=/x"], "path=DIR,size=SIZE"),
        (["--reward-address", SS58_VECTOR, f"path={tmp_path},size=huge"], "size"),
        (["--reward-address", SS58_VECTOR, "--node-rpc-url", "http://127.0.0.1:1", good_farm], "--node-rpc-url"),
    ):
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr, r.stderr


# --- a fuzzing fake node -------------------------------------------------------------------------------
def _app_info() -> dict:
    return {
        "genesisHash": "00" * 32, "dsnBootstrapNodes": [], "syncing": False,
        "farmingTimeout": {"secs": 4, "nanos": 0},
        "protocolInfo": {"historySize": 1, "maxPiecesInSector": 2, "recentSegments": 5,
                         "recentHistoryFraction": [1, 10], "minSectorLifetime": 4},
    }


def _fuzz_messages(subs: dict) -> list:
    """Malformed traffic: every entry is sent as one WebSocket frame."""
    slot, sign, seg = subs["subspace_subscribeSlotInfo"], subs["subspace_subscribeRewardSigning"], subs[
        "subspace_subscribeArchivedSegmentHeader"]

    def note(sub, method, result):
        return json.dumps({"jsonrpc": "2.0", "method": method, "params": {"subscription": sub, "result": result}})

    good_slot = {"slotNumber": 5, "globalChallenge": "ab" * 32, "solutionRange": 1, "votingSolutionRange": 1}
    msgs: list = ["{not json", b"\x00\x01binary", "[]", "[1, 2, 3]", '"a string"', "null", "42", "{}",
                  '{"jsonrpc": "2.0"}', '{"id": 999999, "result": 1}', '{"id": "x", "error": 5}',
                  '{"id": null, "error": {"code": "x"}}', "[" * 50_000 + "]" * 50_000,
                  '{"method": 5, "params": {"subscription": 1}}', '{"method": "subspace_slot_info", "params": []}']
    bad_slots = [
        None, [], "x", {}, {**good_slot, "slotNumber": "5"}, {**good_slot, "slotNumber": -1},
        {**good_slot, "slotNumber": 2**70}, {**good_slot, "slotNumber": 1.5}, {**good_slot, "globalChallenge": "ab"},
        {**good_slot, "globalChallenge": "0x" + "ab" * 31}, {**good_slot, "globalChallenge": "zz" * 32},
        {**good_slot, "globalChallenge": None}, {**good_slot, "solutionRange": True},
        {k: v for k, v in good_slot.items() if k != "votingSolutionRange"},
    ]
    msgs += [note(slot, "subspace_slot_info", b) for b in bad_slots]
    msgs.append(note("unknown-sub", "subspace_slot_info", good_slot))
    msgs.append(note(slot, "subspace_reward_signing", {"hash": "00" * 32, "publicKey": "00" * 32}))  # wrong method
    bad_sign = [{}, {"hash": "zz" * 32, "publicKey": PUBLIC_07.hex()}, {"hash": "00" * 31, "publicKey": PUBLIC_07.hex()},
                {"hash": "00" * 32}, {"hash": 5, "publicKey": [1, 2]}, "hash"]
    msgs += [note(sign, "subspace_reward_signing", b) for b in bad_sign]
    bad_seg = [{}, {"v1": {}}, {"v0": {"segmentIndex": "0"}}, {"v0": {"segmentIndex": 0, "segmentCommitment": "00",
               "prevSegmentHeaderHash": "00" * 32, "lastArchivedBlock": {"number": 1, "archivedProgress": "complete"}}},
               {"v0": {"segmentIndex": 0, "segmentCommitment": "00" * 48, "prevSegmentHeaderHash": "00" * 32,
                       "lastArchivedBlock": {"number": 1, "archivedProgress": {"partial": "x"}}}}]
    msgs += [note(seg, "subspace_archived_segment_header", b) for b in bad_seg]
    msgs.append(note(slot, "subspace_slot_info", {**good_slot, "junk": "x" * (5 * 2**20)}))  # 5 MiB: under the limit
    msgs.append(note(slot, "subspace_slot_info", good_slot))  # a valid slot in between (no sectors yet)
    return msgs


def test_farmer_survives_fuzzing_node(tmp_path):
    from websockets.asyncio.server import serve

    from farmkit.kernels import sr25519
    from farmkit.protocol.constants import REWARD_SIGNING_CONTEXT
    from farmkit.protocol.farm import Identity
    from farmkit.protocol.ss58 import ss58_encode

    farm_dir = tmp_path / "farm"
    farm_dir.mkdir()
    identity = Identity.from_entropy(ENTROPY_07)
    assert identity.public_key == PUBLIC_07  # the spec's identity vector
    (farm_dir / "identity.bin").write_bytes(identity.encode())
    log_path = tmp_path / "farmer.log"

    async def main() -> None:
        state = {"subs": {}, "ws": None, "signatures": asyncio.Queue(), "connections": 0}
        subscribed = asyncio.Event()

        async def handler(ws):
            state["connections"] += 1
            subs: dict = {}
            async for raw in ws:
                msg = json.loads(raw)
                method, rid = msg.get("method"), msg.get("id")
                result = None
                if method == "subspace_getFarmerAppInfo":
                    result = _app_info()
                elif method == "subspace_segmentHeaders":
                    result = [None] * len(msg["params"][0])
                elif method and method.startswith("subspace_subscribe"):
                    result = subs[method] = f"{method}-{state['connections']}"
                    if len(subs) == 3:
                        state["subs"], state["ws"] = dict(subs), ws
                        subscribed.set()
                elif method == "subspace_submitRewardSignature":
                    await state["signatures"].put(msg["params"][0])
                elif method in ("subspace_piece", "subspace_acknowledgeArchivedSegmentHeader",
                                "subspace_submitSolutionResponse") or (method or "").startswith("subspace_unsubscribe"):
                    result = None
                else:
                    await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "Method not found"}}))
                    continue
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}))

        async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            with open(log_path, "wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    "farmerd", "farm", "--node-rpc-url", f"ws://127.0.0.1:{port}",
                    "--reward-address", ss58_encode(bytes(32)), f"path={farm_dir},size=20MiB",
                    "--piece-cache-segments", "0", "-v", stdout=log, stderr=log,
                )
            try:
                async def sign_request(digest: bytes) -> dict:
                    note = {"jsonrpc": "2.0", "method": "subspace_reward_signing",
                            "params": {"subscription": state["subs"]["subspace_subscribeRewardSigning"],
                                       "result": {"hash": digest.hex(), "publicKey": PUBLIC_07.hex()}}}
                    await state["ws"].send(json.dumps(note))
                    return await asyncio.wait_for(state["signatures"].get(), 60)

                await asyncio.wait_for(subscribed.wait(), 180)
                await asyncio.sleep(0.5)  # let the client record the new subscription ids (rpc_client race)
                for m in _fuzz_messages(state["subs"]):
                    await state["ws"].send(m)
                # still answering on the same connection after the fuzz
                digest = bytes(range(32))
                resp = await sign_request(digest)
                assert resp["hash"] == digest.hex()
                assert sr25519.verify(PUBLIC_07, digest, bytes.fromhex(resp["signature"]), REWARD_SIGNING_CONTEXT)
                # a message over the 20 MiB limit: the farmer drops the connection, reconnects, resubscribes
                connections = state["connections"]
                subscribed.clear()
                await state["ws"].send("x" * (21 * 2**20))
                await asyncio.wait_for(subscribed.wait(), 60)
                await asyncio.sleep(0.5)
                assert state["connections"] > connections
                digest2 = bytes(range(1, 33))
                resp = await sign_request(digest2)
                assert sr25519.verify(PUBLIC_07, digest2, bytes.fromhex(resp["signature"]), REWARD_SIGNING_CONTEXT)
                assert proc.returncode is None
            finally:
                if proc.returncode is None:
                    proc.terminate()
                    try:
                        await asyncio.wait_for(proc.wait(), 30)
                    except asyncio.TimeoutError:
                        proc.kill()

    asyncio.run(main())
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert "skipping malformed" in text


def test_new_segment_is_cached_before_acknowledgement(tmp_path):
    """C.6: on a new archived segment the farmer fetches its 256 pieces into the local piece cache
    (piece-store layout) and only then acknowledges it."""
    from websockets.asyncio.server import serve

    from farmkit.plotter.piece_store import header_path, pieces_path
    from farmkit.protocol.segments import LastArchivedBlock, SegmentHeader
    from farmkit.protocol.ss58 import ss58_encode

    def piece(i: int) -> bytes:
        return (i.to_bytes(2, "little") + b"\x5a") * (PIECE_SIZE // 3) + b"\x00" * (PIECE_SIZE % 3)

    header = SegmentHeader(0, bytes([9]) * 48, bytes(32), LastArchivedBlock(3, None))
    header_json = {"v0": {"segmentIndex": 0, "segmentCommitment": "09" * 48, "prevSegmentHeaderHash": "00" * 32,
                          "lastArchivedBlock": {"number": 3, "archivedProgress": "complete"}}}
    cache_dir = tmp_path / "cache"
    log_path = tmp_path / "farmer.log"

    async def main() -> None:
        served: set[int] = set()
        acked = asyncio.get_running_loop().create_future()

        async def handler(ws):
            subs = {}
            async for raw in ws:
                msg = json.loads(raw)
                method, rid, params = msg.get("method"), msg.get("id"), msg.get("params")
                result = None
                if method == "subspace_getFarmerAppInfo":
                    result = _app_info()
                elif method == "subspace_segmentHeaders":
                    result = [None] * len(params[0])
                elif method.startswith("subspace_subscribe"):
                    result = subs[method] = f"s{len(subs)}"
                elif method == "subspace_piece":
                    served.add(params[0])
                    result = piece(params[0]).hex() if params[0] < NUM_PIECES else None
                elif method == "subspace_acknowledgeArchivedSegmentHeader" and not acked.done():
                    acked.set_result((params[0], set(served)))
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}))
                if len(subs) == 3 and "sent" not in subs:
                    subs["sent"] = True
                    # (a notification right behind the subscription reply can beat the client's
                    # bookkeeping of the new id: rpc_client race, reported)
                    await asyncio.sleep(0.5)
                    await ws.send(json.dumps({"jsonrpc": "2.0", "method": "subspace_archived_segment_header", "params": {
                        "subscription": subs["subspace_subscribeArchivedSegmentHeader"], "result": header_json}}))

        async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            with open(log_path, "wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    "farmerd", "farm", "--node-rpc-url", f"ws://127.0.0.1:{port}", "--reward-address",
                    ss58_encode(bytes(32)), f"path={tmp_path / 'farm'},size=20MiB", "--piece-cache", str(cache_dir),
                    stdout=log, stderr=log,
                )
            try:
                index, served_before_ack = await asyncio.wait_for(acked, 240)
                assert index == 0
                assert set(range(NUM_PIECES)) <= served_before_ack
            finally:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except asyncio.TimeoutError:
                    proc.kill()

    asyncio.run(main())
    raw = pieces_path(cache_dir, 0).read_bytes()
    assert len(raw) == NUM_PIECES * PIECE_SIZE
    for i in (0, 1, 77, 255):
        assert raw[i * PIECE_SIZE : (i + 1) * PIECE_SIZE] == piece(i)
    assert SegmentHeader.from_bytes(header_path(cache_dir, 0).read_bytes()) == header


def test_expiring_sectors_are_queued_for_replotting(tmp_path):
    """§12 scheduling on a real plotted farm (2 sectors at history size 3): as headers arrive the
    daemon marks sectors about to expire / expired exactly where the spec formula says."""
    from test_audit_support import copy_farm

    from farmkit.farmerd.farm import Farmer, FarmerConfig, FarmSpec, _Farm
    from farmkit.protocol import rpc as R
    from farmkit.protocol.farm import SingleDiskFarm
    from farmkit.protocol.sector import FarmerProtocolInfo
    from farmkit.protocol.segments import LastArchivedBlock, SegmentHeader

    path = copy_farm(tmp_path / "farm")
    farmer = Farmer(FarmerConfig("ws://127.0.0.1:9944", bytes(32), [FarmSpec(path, 1)]))
    farmer.app_info = R.FarmerAppInfo(bytes(32), (), False, R.Duration.from_seconds(4), FarmerProtocolInfo(3))
    farm = SingleDiskFarm.open(path)
    f = _Farm(0, FarmSpec(path, 1), farm, None, None, None)
    sectors = farm.plotted_sectors()
    try:
        expected = {}
        for s in sectors:
            h = int(s.metadata.history_size)
            commitment = bytes([h + 3]) * 48  # header i below has commitment bytes([i]) * 48
            expected[s.sector_index] = _expiration_by_spec(bytes(s.sector_id), h, commitment, 4)
        for n in range(1, 20):
            farmer.headers = [SegmentHeader(i, bytes([i]) * 48, bytes(32), LastArchivedBlock(i, None)) for i in range(n)]
            farmer._update_expirations(f)
            for s in sectors:
                exp = expected[s.sector_index] if n > 3 + 3 else None  # check segment h + m - 1 = 6 known?
                assert f.expirations[s.sector_index] == (3, exp)
                queued = exp is not None and exp - 1 <= n
                assert (s.sector_index in f.replot_queue) == queued, (n, exp)
                assert (s.sector_index in f.expired) == (exp is not None and exp <= n)
    finally:
        farm.close()
        farmer._prove_pool.shutdown(wait=False)
        farmer._plot_pool.shutdown(wait=False)
        farmer._farm_pool.shutdown(wait=False)


def test_expired_sectors_are_replotted_in_place(tmp_path):
    """The plotting loop replots queued sectors at the current history size, in place, and the
    farm keeps its sector count (pieces: deterministic synthetic ones, piece checks off)."""
    from test_audit_support import PIECES_IN_SECTOR, SECTORS, copy_farm

    from farmkit.farmerd.farm import Farmer, FarmerConfig, FarmSpec, _Farm
    from farmkit.plotter.encoding import SectorEncoder
    from farmkit.plotter.plot import FarmPlotter, SyntheticSource
    from farmkit.protocol import rpc as R
    from farmkit.protocol.farm import Identity, SingleDiskFarm, allocated_space_for_sectors
    from farmkit.protocol.sector import FarmerProtocolInfo
    from farmkit.protocol.segments import LastArchivedBlock, SegmentHeader

    path = copy_farm(tmp_path / "farm")
    farm, identity = SingleDiskFarm.create_or_open(
        path, genesis_hash=bytes(32), allocated_space=allocated_space_for_sectors(SECTORS, PIECES_IN_SECTOR, 0),
        pieces_in_sector=PIECES_IN_SECTOR, cache_percentage=0, identity=Identity.open(path),
    )
    farmer = Farmer(FarmerConfig("ws://127.0.0.1:9944", bytes(32), [FarmSpec(path, 1)]))
    history = 20  # every sector plotted at history size 3 has expired by then (< 4h + m = 16)
    farmer.app_info = R.FarmerAppInfo(bytes(32), (), False, R.Duration.from_seconds(4), FarmerProtocolInfo(history))
    farmer.headers = [SegmentHeader(i, bytes([i]) * 48, bytes(32), LastArchivedBlock(i, None)) for i in range(history)]
    plotter = FarmPlotter(farm, identity, SyntheticSource(history), SectorEncoder("cpu", workers=1), "v2", "none")
    f = _Farm(0, FarmSpec(path, 1), farm, identity, None, plotter)
    farmer.farms = [f]

    async def main() -> None:
        farmer._plot_wakeup = asyncio.Event()
        farmer._update_expirations(f)
        assert sorted(f.replot_queue) == list(range(SECTORS)) and f.expired == set(range(SECTORS))
        task = asyncio.create_task(farmer._plotting_loop())
        try:
            for _ in range(600):
                if not f.replot_queue and not f.being_modified:
                    break
                await asyncio.sleep(0.5)
        finally:
            task.cancel()
        assert not f.replot_queue and not f.expired

    try:
        asyncio.run(main())
        assert farmer.stats["sectors_replotted"] == SECTORS and f.auditor_dirty
        assert farm.header.plotted_sector_count == SECTORS
        for s in SingleDiskFarm.open(path).plotted_sectors():
            assert s.history_size == history
        for i in range(SECTORS):
            farm.check_sector(i)  # checksums and metadata agree after the in-place write
    finally:
        farm.close()
        for pool in (farmer._prove_pool, farmer._plot_pool, farmer._farm_pool):
            pool.shutdown(wait=False)


def test_proving_warm_up_finds_an_encoded_chunk_or_gives_up(tmp_path):
    """The warm-up proof audits fresh challenges until one has an encoded candidate (a fixed
    challenge can land on high s-buckets, where small farms hold none); when none turns up it
    still reports done, so nobody waits for it (the demo did, for 30 minutes)."""
    from concurrent.futures import Future
    from types import SimpleNamespace

    from farmkit.farmerd.farm import Farmer, FarmerConfig, FarmSpec, _Farm
    from farmkit.protocol import rpc as R
    from farmkit.protocol.sector import FarmerProtocolInfo

    class FakeAuditor:
        def __init__(self, empty_audits):
            self.sectors = [object()]
            self.challenges = []
            self.empty_audits = empty_audits

        def audit(self, gc, solution_range):
            self.challenges.append(gc)
            if len(self.challenges) <= self.empty_audits:
                return [SimpleNamespace(encoded=False)]
            return [SimpleNamespace(encoded=False), SimpleNamespace(encoded=True)]

    for empty, proven in ((3, True), (10_000, False)):
        farmer = Farmer(FarmerConfig("ws://127.0.0.1:9944", bytes(32), [FarmSpec(tmp_path, 1)]))
        farmer.app_info = R.FarmerAppInfo(bytes(32), (), False, R.Duration.from_seconds(4), FarmerProtocolInfo(1))
        f = _Farm(0, FarmSpec(tmp_path, 1), None, None, None, None)
        f.auditor = FakeAuditor(empty)
        proofs = []

        def prove(farm, cand):
            proofs.append(cand)
            fut = Future()
            fut.set_result(None)
            return fut

        farmer._prove = prove
        try:
            asyncio.run(farmer._warm_up(f))
        finally:
            for pool in (farmer._prove_pool, farmer._plot_pool, farmer._farm_pool):
                pool.shutdown(wait=False)
        assert farmer.stats["warmup_done"]
        assert len(set(f.auditor.challenges)) == len(f.auditor.challenges)  # a fresh challenge each time
        if proven:
            assert len(f.auditor.challenges) == 4 and len(proofs) == 1 and farmer.stats["warmup_prove_s"] > 0
        else:
            assert len(f.auditor.challenges) == Farmer.WARM_UP_CHALLENGES and not proofs
            assert farmer.stats["warmup_prove_s"] == 0.0
