"""Farmer <-> node RPC: JSON shapes (pot-rpc.md C.2/C.4, sector-audit-prove.md §10.1), the
JSON-RPC server framework and the reconnecting client, including malformed and oversized input."""

from __future__ import annotations

import asyncio
import json

import pytest

from farmkit.errors import FarmkitError
from farmkit.farmerd.rpc_client import ConnectionLost, NodeRpcClient, RpcCallError
from farmkit.farmerd.rpc_server import RpcError, RpcServer, rpc_methods_allow_unsafe
from farmkit.protocol import rpc as R
from farmkit.protocol.segments import LastArchivedBlock, SegmentHeader
from farmkit.protocol.solution import SOLUTION_ENCODED_SIZE, Solution

# --- Examples in the shape of pot-rpc.md C.4 (placeholders filled with concrete hex) ------------

APP_INFO = {
    "genesisHash": "ab" * 32,
    "dsnBootstrapNodes": ["/dns/bootstrap-0.example/tcp/30533/p2p/12D3KooWExample"],
    "syncing": False,
    "farmingTimeout": {"secs": 4, "nanos": 0},
    "protocolInfo": {
        "historySize": 42,
        "maxPiecesInSector": 1000,
        "recentSegments": 5,
        "recentHistoryFraction": [1, 10],
        "minSectorLifetime": 4,
    },
}

SLOT_INFO = {
    "slotNumber": 12345,
    "globalChallenge": "0f" * 32,
    "solutionRange": 6148914691236517205,
    "votingSolutionRange": 18446744073709551615,
}

SOLUTION_RESPONSE = {
    "slotNumber": 12345,
    "solution": {
        "publicKey": "11" * 32,
        "rewardAddress": "22" * 32,
        "sectorIndex": 3,
        "historySize": 4,
        "pieceOffset": 5,
        "recordCommitment": "33" * 48,
        "recordWitness": "44" * 48,
        "chunk": [8] * 32,
        "chunkWitness": "55" * 48,
        "proofOfSpace": "66" * 160,
    },
}

SEGMENT_HEADER_COMPLETE = {
    "v0": {
        "segmentIndex": 7,
        "segmentCommitment": "77" * 48,
        "prevSegmentHeaderHash": "88" * 32,
        "lastArchivedBlock": {"number": 1000, "archivedProgress": "complete"},
    }
}
SEGMENT_HEADER_PARTIAL = json.loads(json.dumps(SEGMENT_HEADER_COMPLETE).replace('"complete"', '{"partial": 777}'))


def test_farmer_app_info_round_trip():
    info = R.FarmerAppInfo.from_json(APP_INFO)
    assert info.farming_timeout.seconds == 4.0
    assert info.protocol_info.history_size == 42
    assert info.protocol_info.recent_history_fraction == (1, 10)
    assert info.to_json() == APP_INFO


def test_slot_info_round_trip_and_u64_edges():
    info = R.SlotInfo.from_json(SLOT_INFO)
    assert info.voting_solution_range == 2**64 - 1
    assert info.to_json() == SLOT_INFO
    # through real JSON text: Python's json keeps u64 exact
    assert R.SlotInfo.from_json(json.loads(json.dumps(info.to_json()))) == info


def test_solution_response_round_trip_and_scale():
    resp = R.SolutionResponse.from_json(SOLUTION_RESPONSE)
    assert resp.solution.chunk == bytes([8] * 32)
    assert resp.to_json() == SOLUTION_RESPONSE
    enc = resp.solution.encode()
    assert len(enc) == SOLUTION_ENCODED_SIZE == 412
    # SCALE field order (S-A-P §10.1): pk, reward, u16 sector, u64 history, u16 offset, ...
    assert enc[:32] == b"\x11" * 32 and enc[32:64] == b"\x22" * 32
    assert enc[64:66] == (3).to_bytes(2, "little")
    assert enc[66:74] == (4).to_bytes(8, "little")
    assert enc[74:76] == (5).to_bytes(2, "little")
    assert enc[-160:] == b"\x66" * 160
    assert Solution.decode(enc) == resp.solution


def test_uppercase_hex_accepted_prefix_rejected():
    obj = dict(SLOT_INFO, globalChallenge="AB" * 32)
    assert R.SlotInfo.from_json(obj).global_challenge == b"\xab" * 32
    with pytest.raises(FarmkitError, match=r"SlotInfo\.globalChallenge"):
        R.SlotInfo.from_json(dict(SLOT_INFO, globalChallenge="0x" + "ab" * 31))


def test_reward_signing_shapes():
    info = {"hash": "aa" * 32, "publicKey": "bb" * 32}
    assert R.RewardSigningInfo.from_json(info).to_json() == info
    sig = {"hash": "aa" * 32, "signature": "cc" * 64}
    assert R.RewardSignatureResponse.from_json(sig).to_json() == sig
    none = {"hash": "aa" * 32, "signature": None}
    assert R.RewardSignatureResponse.from_json(none).signature is None
    assert R.RewardSignatureResponse.from_json(none).to_json() == none


def test_segment_header_json_round_trip():
    for obj, partial in ((SEGMENT_HEADER_COMPLETE, None), (SEGMENT_HEADER_PARTIAL, 777)):
        h = R.segment_header_from_json(obj)
        assert isinstance(h, SegmentHeader)
        assert h.segment_index == 7 and h.last_archived_block == LastArchivedBlock(1000, partial)
        assert R.segment_header_to_json(h) == obj


def test_piece_json():
    from farmkit.protocol.constants import PIECE_SIZE

    piece = bytes(range(256)) * (PIECE_SIZE // 256) + bytes(PIECE_SIZE % 256)
    text = R.piece_to_json(piece)
    assert len(text) == 2 * PIECE_SIZE == 2_097_344
    assert R.piece_from_json(text) == piece
    assert R.piece_to_json(None) is None and R.piece_from_json(None) is None
    with pytest.raises(FarmkitError, match="Piece"):
        R.piece_from_json("00" * 10)


def _mutations():
    """(payload parser, object, expected field named in the error)."""
    sol = SOLUTION_RESPONSE
    s = sol["solution"]
    return [
        (R.SlotInfo.from_json, {k: v for k, v in SLOT_INFO.items() if k != "slotNumber"}, "SlotInfo.slotNumber"),
        (R.SlotInfo.from_json, dict(SLOT_INFO, slotNumber="12"), "SlotInfo.slotNumber"),
        (R.SlotInfo.from_json, dict(SLOT_INFO, slotNumber=1.5), "SlotInfo.slotNumber"),
        (R.SlotInfo.from_json, dict(SLOT_INFO, slotNumber=True), "SlotInfo.slotNumber"),
        (R.SlotInfo.from_json, dict(SLOT_INFO, solutionRange=2**64), "SlotInfo.solutionRange"),
        (R.SlotInfo.from_json, dict(SLOT_INFO, solutionRange=-1), "SlotInfo.solutionRange"),
        (R.SlotInfo.from_json, dict(SLOT_INFO, globalChallenge="zz" * 32), "SlotInfo.globalChallenge"),
        (R.SlotInfo.from_json, dict(SLOT_INFO, globalChallenge=None), "SlotInfo.globalChallenge"),
        (R.SlotInfo.from_json, [1, 2, 3], "SlotInfo"),
        (R.FarmerAppInfo.from_json, dict(APP_INFO, syncing="no"), "FarmerAppInfo.syncing"),
        (R.FarmerAppInfo.from_json, dict(APP_INFO, farmingTimeout={"secs": 4}), "FarmerAppInfo.farmingTimeout.nanos"),
        (R.FarmerAppInfo.from_json, dict(APP_INFO, protocolInfo=dict(APP_INFO["protocolInfo"], historySize=0)),
         "FarmerAppInfo.protocolInfo.historySize"),
        (R.FarmerAppInfo.from_json, dict(APP_INFO, protocolInfo=dict(APP_INFO["protocolInfo"], recentHistoryFraction=[1])),
         "FarmerAppInfo.protocolInfo.recentHistoryFraction"),
        (R.FarmerAppInfo.from_json, dict(APP_INFO, dsnBootstrapNodes=[1]), "FarmerAppInfo.dsnBootstrapNodes"),
        (R.SolutionResponse.from_json, dict(sol, solution=dict(s, chunk="08" * 32)), "SolutionResponse.solution.chunk"),
        (R.SolutionResponse.from_json, dict(sol, solution=dict(s, chunk=[8] * 31)), "SolutionResponse.solution.chunk"),
        (R.SolutionResponse.from_json, dict(sol, solution=dict(s, chunk=[256] + [8] * 31)), "SolutionResponse.solution.chunk[0]"),
        (R.SolutionResponse.from_json, dict(sol, solution=dict(s, sectorIndex=65536)), "SolutionResponse.solution.sectorIndex"),
        (R.SolutionResponse.from_json, dict(sol, solution=dict(s, historySize=0)), "SolutionResponse.solution.historySize"),
        (R.SolutionResponse.from_json, dict(sol, solution=dict(s, proofOfSpace="66" * 159)), "SolutionResponse.solution.proofOfSpace"),
        (R.SolutionResponse.from_json, {"slotNumber": 1}, "SolutionResponse.solution"),
        (R.RewardSignatureResponse.from_json, {"hash": "aa" * 32, "signature": "cc" * 63}, "RewardSignatureResponse.signature"),
        (R.RewardSignatureResponse.from_json, {"hash": "aa" * 32}, "RewardSignatureResponse.signature"),
        (R.RewardSigningInfo.from_json, {"hash": "aa" * 32, "publicKey": 5}, "RewardSigningInfo.publicKey"),
        (R.segment_header_from_json, {"v1": SEGMENT_HEADER_COMPLETE["v0"]}, "SegmentHeader"),
        (R.segment_header_from_json, {"v0": dict(SEGMENT_HEADER_COMPLETE["v0"], lastArchivedBlock={"number": 1, "archivedProgress": "done"})},
         "SegmentHeader.v0.lastArchivedBlock.archivedProgress"),
        (R.segment_header_from_json, {"v0": dict(SEGMENT_HEADER_COMPLETE["v0"], segmentCommitment="77" * 47)},
         "SegmentHeader.v0.segmentCommitment"),
    ]


@pytest.mark.parametrize("parse,obj,field", _mutations())
def test_malformed_payloads_name_the_field(parse, obj, field):
    with pytest.raises(FarmkitError) as info:
        parse(obj)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.split(":")[0] == field, msg


def test_unknown_fields_are_ignored_like_serde():
    assert R.SlotInfo.from_json(dict(SLOT_INFO, somethingNew=1)) == R.SlotInfo.from_json(SLOT_INFO)


def test_rpc_methods_auto():
    assert rpc_methods_allow_unsafe("auto", "127.0.0.1")
    assert rpc_methods_allow_unsafe("auto", "::1")
    assert not rpc_methods_allow_unsafe("auto", "0.0.0.0")
    assert not rpc_methods_allow_unsafe("safe", "127.0.0.1")
    assert rpc_methods_allow_unsafe("unsafe", "10.0.0.1")
    with pytest.raises(FarmkitError):
        rpc_methods_allow_unsafe("sometimes", "127.0.0.1")


# --- Server framework + client over a real socket ------------------------------------------------


def _make_server(allow_unsafe: bool, max_message_size: int = 1 << 20) -> RpcServer:
    server = RpcServer(allow_unsafe=allow_unsafe, max_message_size=max_message_size)
    server.method("echo", lambda conn, params: params)
    server.method("boom", lambda conn, params: 1 / 0)

    def ignored(conn, params):
        raise RpcError(R.SUBSPACE_ERROR, R.SOLUTION_IGNORED_MESSAGE)

    server.method(R.SUBMIT_SOLUTION_RESPONSE, ignored, unsafe=True)

    def parse_slot(conn, params):
        return R.SlotInfo.from_json(params[0]).slot_number

    server.method("parse_slot", parse_slot)
    server.subscription(R.SUBSCRIBE_SLOT_INFO, R.SLOT_INFO_NOTIFICATION, R.UNSUBSCRIBE_SLOT_INFO)
    server.subscription(R.SUBSCRIBE_REWARD_SIGNING, R.REWARD_SIGNING_NOTIFICATION, R.UNSUBSCRIBE_REWARD_SIGNING,
                        unsafe=True, silent_when_safe=True)
    return server


async def _raw(port: int, frames: list, max_size: int = 1 << 22, wait: float = 2.0) -> list:
    """Send raw frames on a fresh connection; collect one reply per frame (or None)."""
    from websockets.asyncio.client import connect

    replies = []
    async with connect(f"ws://127.0.0.1:{port}", max_size=max_size) as ws:
        for frame in frames:
            await ws.send(frame)
            try:
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), wait)))
            except asyncio.TimeoutError:
                replies.append(None)
    return replies


def test_server_error_codes_and_fuzz():
    async def scenario():
        server = _make_server(allow_unsafe=False)
        port = await server.start("127.0.0.1", 0)
        try:
            frames = [
                "{not json",
                json.dumps([]),
                json.dumps(42),
                json.dumps({"jsonrpc": "1.0", "id": 1, "method": "echo"}),
                json.dumps({"jsonrpc": "2.0", "id": 2, "method": "nope", "params": []}),
                json.dumps({"jsonrpc": "2.0", "id": 3, "method": "echo", "params": {"a": 1}}),
                json.dumps({"jsonrpc": "2.0", "id": 4, "method": "boom", "params": []}),
                json.dumps({"jsonrpc": "2.0", "id": 5, "method": R.SUBMIT_SOLUTION_RESPONSE, "params": [{}]}),
                json.dumps({"jsonrpc": "2.0", "id": 6, "method": "parse_slot", "params": [{"slotNumber": "x"}]}),
                json.dumps({"jsonrpc": "2.0", "id": 7, "method": "echo", "params": [1, "a", None]}),
                json.dumps({"jsonrpc": "2.0", "id": [1], "method": "echo"}),
                "[" * 100000 + "]" * 100000,  # deep nesting
            ]
            r = await _raw(port, frames)
            assert r[0]["error"]["code"] == R.PARSE_ERROR
            assert r[1]["error"]["code"] == R.INVALID_REQUEST
            assert r[2]["error"]["code"] == R.INVALID_REQUEST
            assert r[3]["error"]["code"] == R.INVALID_REQUEST and r[3]["id"] == 1
            assert r[4]["error"]["code"] == R.METHOD_NOT_FOUND and r[4]["id"] == 2
            assert r[5]["error"]["code"] == R.INVALID_PARAMS
            assert r[6]["error"] == {"code": R.INTERNAL_ERROR, "message": "Internal error"}
            assert r[7]["error"] == {"code": R.METHOD_NOT_FOUND, "message": R.UNSAFE_CALL_MESSAGE}
            assert r[8]["error"]["code"] == R.INVALID_PARAMS and "SlotInfo.slotNumber" in r[8]["error"]["message"]
            assert r[9] == {"jsonrpc": "2.0", "id": 7, "result": [1, "a", None]}
            assert r[10]["error"]["code"] == R.INVALID_REQUEST
            assert r[11]["error"]["code"] in (R.PARSE_ERROR, R.INVALID_REQUEST)
            # a notification (no id) gets no reply; the connection keeps working
            r = await _raw(port, [json.dumps({"jsonrpc": "2.0", "method": "echo", "params": [1]}),
                                  json.dumps({"jsonrpc": "2.0", "id": 9, "method": "echo", "params": [2]})], wait=0.3)
            assert r == [None, {"jsonrpc": "2.0", "id": 9, "result": [2]}]
            # batch
            r = await _raw(port, [json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": [1]}, 5])])
            assert r[0][0]["result"] == [1] and r[0][1]["error"]["code"] == R.INVALID_REQUEST
            # oversized frame: that connection is closed (1009), the server keeps serving others
            from websockets.exceptions import ConnectionClosed

            with pytest.raises(ConnectionClosed):
                await _raw(port, ["x" * (2 << 20)])
            r = await _raw(port, [json.dumps({"jsonrpc": "2.0", "id": 1, "method": "echo", "params": []})])
            assert r[0]["result"] == []
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_client_calls_subscriptions_and_safe_mode():
    async def scenario():
        server = _make_server(allow_unsafe=False)
        port = await server.start("127.0.0.1", 0)
        client = NodeRpcClient(f"ws://127.0.0.1:{port}", reconnect_max_delay=0.5)
        await client.start()
        try:
            await client.wait_connected(5)
            assert await client.call("echo", 1, "two") == [1, "two"]
            with pytest.raises(RpcCallError) as info:
                await client.call(R.SUBMIT_SOLUTION_RESPONSE, {})
            assert info.value.code == R.METHOD_NOT_FOUND and R.UNSAFE_CALL_MESSAGE in str(info.value)
            slots = client.subscribe_slot_info()
            rewards = client.subscribe_reward_signing()  # silently not served on a safe server
            for _ in range(100):
                if len(server.subscribers(R.SUBSCRIBE_SLOT_INFO)) == 1:
                    break
                await asyncio.sleep(0.01)
            assert server.subscribers(R.SUBSCRIBE_REWARD_SIGNING) == []
            # a malformed notification is skipped, the next good one arrives
            await server.notify(R.SUBSCRIBE_SLOT_INFO, {"slotNumber": "bad"})
            await server.notify(R.SUBSCRIBE_SLOT_INFO, dict(SLOT_INFO, slotNumber=1))
            got = await slots.get(5)
            assert got.slot_number == 1 and slots.malformed == 1
            # garbage frames from the "node" don't break the client
            conn = next(iter(server.connections))
            for junk in ["{", "[]", "5", '{"jsonrpc":"2.0","id":99999,"result":1}',
                         '{"jsonrpc":"2.0","method":"subspace_slot_info","params":{"subscription":"nope","result":{}}}']:
                await conn.ws.send(junk)
            await server.notify(R.SUBSCRIBE_SLOT_INFO, dict(SLOT_INFO, slotNumber=2))
            assert (await slots.get(5)).slot_number == 2
            assert client.malformed_messages >= 4
            await slots.close()
            await rewards.close()
        finally:
            await client.close()
            await server.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_client_reconnects_and_resubscribes():
    async def scenario():
        server = _make_server(allow_unsafe=True)
        port = await server.start("127.0.0.1", 0)
        client = NodeRpcClient(f"ws://127.0.0.1:{port}", reconnect_initial_delay=0.05, reconnect_max_delay=0.3)
        await client.start()
        slots = client.subscribe_slot_info()
        try:
            await client.wait_connected(5)
            for _ in range(200):
                if server.subscribers(R.SUBSCRIBE_SLOT_INFO):
                    break
                await asyncio.sleep(0.01)
            await server.notify(R.SUBSCRIBE_SLOT_INFO, dict(SLOT_INFO, slotNumber=10))
            assert (await slots.get(5)).slot_number == 10
            await server.stop()
            with pytest.raises((ConnectionLost, FarmkitError)):
                await client.call("echo", timeout=0.5)
            server2 = _make_server(allow_unsafe=True)
            await server2.start("127.0.0.1", port)
            try:
                for _ in range(500):
                    if server2.subscribers(R.SUBSCRIBE_SLOT_INFO):
                        break
                    await asyncio.sleep(0.01)
                await server2.notify(R.SUBSCRIBE_SLOT_INFO, dict(SLOT_INFO, slotNumber=11))
                assert (await slots.get(5)).slot_number == 11
                assert slots.reconnects == 1 and client.connections_made == 2
            finally:
                await server2.stop()
        finally:
            await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_client_rejects_bad_url():
    with pytest.raises(FarmkitError):
        NodeRpcClient("http://127.0.0.1:9944")


def test_random_mutations_raise_only_farmkit_errors():
    """Fuzz: replace/delete random leaves of valid payloads; parsers either accept or raise a
    one-line FarmkitError, never anything else."""
    import copy
    import random

    rng = random.Random(1234)
    junk = [None, True, -1, 2**70, 1.5, "", "zz", "0x00", [], {}, [1] * 40, "a" * 5000, {"v0": {}}]
    cases = [
        (R.FarmerAppInfo.from_json, APP_INFO),
        (R.SlotInfo.from_json, SLOT_INFO),
        (R.SolutionResponse.from_json, SOLUTION_RESPONSE),
        (R.segment_header_from_json, SEGMENT_HEADER_PARTIAL),
        (R.RewardSignatureResponse.from_json, {"hash": "aa" * 32, "signature": "cc" * 64}),
    ]

    def paths(obj, prefix=()):
        yield prefix
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield from paths(v, prefix + (k,))
        elif isinstance(obj, list):
            for i, v in enumerate(obj[:3]):
                yield from paths(v, prefix + (i,))

    for parse, good in cases:
        all_paths = [p for p in paths(good) if p]
        for _ in range(150):
            obj = copy.deepcopy(good)
            path = rng.choice(all_paths)
            parent = obj
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict) and rng.random() < 0.3:
                del parent[path[-1]]
            else:
                parent[path[-1]] = rng.choice(junk)
            try:
                parse(obj)
            except FarmkitError as exc:
                assert "\n" not in str(exc)


def test_client_survives_oversized_message_from_node():
    async def scenario():
        server = _make_server(allow_unsafe=True)
        port = await server.start("127.0.0.1", 0)
        client = NodeRpcClient(f"ws://127.0.0.1:{port}", max_message_size=64 * 1024,
                               reconnect_initial_delay=0.05, reconnect_max_delay=0.2)
        await client.start()
        slots = client.subscribe_slot_info()
        try:
            for _ in range(300):
                if server.subscribers(R.SUBSCRIBE_SLOT_INFO):
                    break
                await asyncio.sleep(0.01)
            await server.notify(R.SUBSCRIBE_SLOT_INFO, dict(SLOT_INFO, padding="x" * (1 << 20)))
            for _ in range(300):  # the client drops the link (1009) and comes back
                if client.connections_made == 2 and server.subscribers(R.SUBSCRIBE_SLOT_INFO):
                    break
                await asyncio.sleep(0.01)
            await server.notify(R.SUBSCRIBE_SLOT_INFO, dict(SLOT_INFO, slotNumber=77))
            assert (await slots.get(5)).slot_number == 77
            assert client.connections_made == 2
        finally:
            await client.close()
            await server.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_ss58_reward_address():
    """pot-rpc.md C.8 vector (prefix 6094, checked there against substrate-interface) and the
    well-known Substrate dev account Alice (prefix 42). protocol/ss58.py is shared with the auditor."""
    from farmkit.protocol.ss58 import AUTONOMYS_SS58_PREFIX, ss58_decode, ss58_encode

    pk = bytes.fromhex("e2111779981618705ecacea1af6ff9350bce2b2dccd03e0c3e01eb0c823d2666")
    addr = "sugBViCceVT1EzkCSxvySQ9PpvCnGSagTKd1KbgDjP1yw9LPw"
    assert ss58_encode(pk) == addr
    assert ss58_decode(addr) == (pk, AUTONOMYS_SS58_PREFIX)
    alice = bytes.fromhex("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
    assert ss58_encode(alice, 42) == "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
    assert ss58_decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY") == (alice, 42)
    for bad in ("", "sugBViCceVT1EzkCSxvySQ9PpvCnGSagTKd1KbgDjP1yw9LPx", "0OIl", "su"):
        with pytest.raises(FarmkitError):
            ss58_decode(bad)


def test_notification_right_behind_the_subscribe_reply_is_delivered():
    """A node may send the first notification in the same breath as the subscribe reply; the
    client must not drop it as "unknown subscription" (it overtakes the caller's continuation)."""
    from websockets.asyncio.server import serve

    slot = R.SlotInfo(7, bytes(range(32)), 10, 20)

    async def handler(ws):
        async for message in ws:
            req = json.loads(message)
            if req.get("method") == R.SUBSCRIBE_SLOT_INFO:
                reply = {"jsonrpc": "2.0", "id": req["id"], "result": "s1"}
                note = {"jsonrpc": "2.0", "method": "subspace_slot_info",
                        "params": {"subscription": "s1", "result": slot.to_json()}}
                await ws.send(json.dumps([reply, note]))  # one frame: reply and notification together

    async def scenario():
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            client = NodeRpcClient(f"ws://127.0.0.1:{port}")
            await client.start()
            try:
                sub = client.subscribe_slot_info()
                got = await sub.get(timeout=5)
                assert got == slot
                assert client.malformed_messages == 0
            finally:
                await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_deeply_nested_frames_are_rejected_even_with_a_raised_recursion_limit():
    """py_ecc raises the recursion limit to 100,000 on import; json.loads on a deeply nested frame
    would then overflow the C stack. Both sides bound the depth before parsing."""
    import sys

    from farmkit.protocol.rpc import MAX_JSON_DEPTH, json_depth_exceeds, loads_untrusted

    assert not json_depth_exceeds('{"a": [[1, 2], {"b": "[[[[[[[[[[[[[[[[[[["}]}')
    assert json_depth_exceeds("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    assert not json_depth_exceeds("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert not json_depth_exceeds('["' + "[" * 10_000 + '"]')  # brackets inside a string
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(ValueError):
            loads_untrusted("[" * 200_000 + "]" * 200_000)
        assert loads_untrusted('{"x": [1, {"y": null}]}') == {"x": [1, {"y": None}]}
    finally:
        sys.setrecursionlimit(old)
