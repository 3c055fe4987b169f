"""The farmer <-> node JSON-RPC contract: method names, error codes and payload shapes.

Spec: pot-rpc.md C.1-C.6 (sector-audit-prove.md §10.2). Every payload is a frozen dataclass with
``to_json() -> dict`` and a strict ``from_json(obj)`` that raises a one-line
:class:`~farmkit.errors.FarmkitError` naming the offending field, e.g.
``SlotInfo.globalChallenge: expected 64 hex characters, got 62``.

Encoding rules (C.2): camelCase names; fixed-size byte values are lowercase hex without ``0x``
(uppercase accepted on input, ``0x`` rejected); the solution's ``chunk`` is an array of 32
integers; integers are bare JSON numbers (u64 up to 2^64 - 1); ``Duration`` is
``{"secs", "nanos"}``; enums are externally tagged (``{"v0": {...}}``, ``"complete"`` or
``{"partial": n}``); ``Option`` is the value or ``null``. Unknown fields are ignored, as serde does.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import (
    BLAKE3_HASH_SIZE,
    PIECE_SIZE,
    PUBLIC_KEY_SIZE,
    REWARD_SIGNATURE_SIZE,
    SEGMENT_COMMITMENT_SIZE,
    SEGMENT_HEADER_HASH_SIZE,
)
from farmkit.protocol.sector import FarmerProtocolInfo
from farmkit.protocol.segments import LastArchivedBlock, SegmentHeader
from farmkit.protocol.solution import Solution

__all__ = [
    # method / notification names
    "GET_FARMER_APP_INFO",
    "SUBSCRIBE_SLOT_INFO",
    "UNSUBSCRIBE_SLOT_INFO",
    "SLOT_INFO_NOTIFICATION",
    "SUBMIT_SOLUTION_RESPONSE",
    "SUBSCRIBE_REWARD_SIGNING",
    "UNSUBSCRIBE_REWARD_SIGNING",
    "REWARD_SIGNING_NOTIFICATION",
    "SUBMIT_REWARD_SIGNATURE",
    "SUBSCRIBE_ARCHIVED_SEGMENT_HEADER",
    "UNSUBSCRIBE_ARCHIVED_SEGMENT_HEADER",
    "ARCHIVED_SEGMENT_HEADER_NOTIFICATION",
    "ACKNOWLEDGE_ARCHIVED_SEGMENT_HEADER",
    "SEGMENT_HEADERS",
    "LAST_SEGMENT_HEADERS",
    "PIECE",
    "SUBSCRIPTIONS",
    "UNSAFE_METHODS",
    # error codes
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "SUBSPACE_ERROR",
    "UNSAFE_CALL_MESSAGE",
    "SOLUTION_IGNORED_MESSAGE",
    "MAX_SEGMENT_HEADERS_PER_REQUEST",
    # payloads
    "Duration",
    "FarmerAppInfo",
    "SlotInfo",
    "SolutionResponse",
    "RewardSigningInfo",
    "RewardSignatureResponse",
    "segment_header_to_json",
    "segment_header_from_json",
    "piece_to_json",
    "piece_from_json",
    # field codecs
    "expect_object",
    "hex_field",
    "decode_hex",
    "uint_field",
    "bool_field",
    "byte_array_field",
    "check_uint",
]

# --- Methods (C.3) ------------------------------------------------------------------------------
GET_FARMER_APP_INFO = "subspace_getFarmerAppInfo"
SUBSCRIBE_SLOT_INFO = "subspace_subscribeSlotInfo"
UNSUBSCRIBE_SLOT_INFO = "subspace_unsubscribeSlotInfo"
SLOT_INFO_NOTIFICATION = "subspace_slot_info"
SUBMIT_SOLUTION_RESPONSE = "subspace_submitSolutionResponse"
SUBSCRIBE_REWARD_SIGNING = "subspace_subscribeRewardSigning"
UNSUBSCRIBE_REWARD_SIGNING = "subspace_unsubscribeRewardSigning"
REWARD_SIGNING_NOTIFICATION = "subspace_reward_signing"
SUBMIT_REWARD_SIGNATURE = "subspace_submitRewardSignature"
SUBSCRIBE_ARCHIVED_SEGMENT_HEADER = "subspace_subscribeArchivedSegmentHeader"
UNSUBSCRIBE_ARCHIVED_SEGMENT_HEADER = "subspace_unsubscribeArchivedSegmentHeader"
ARCHIVED_SEGMENT_HEADER_NOTIFICATION = "subspace_archived_segment_header"
ACKNOWLEDGE_ARCHIVED_SEGMENT_HEADER = "subspace_acknowledgeArchivedSegmentHeader"
SEGMENT_HEADERS = "subspace_segmentHeaders"
LAST_SEGMENT_HEADERS = "subspace_lastSegmentHeaders"
PIECE = "subspace_piece"

#: subscribe method -> (notification name, unsubscribe method)
SUBSCRIPTIONS = {
    SUBSCRIBE_SLOT_INFO: (SLOT_INFO_NOTIFICATION, UNSUBSCRIBE_SLOT_INFO),
    SUBSCRIBE_REWARD_SIGNING: (REWARD_SIGNING_NOTIFICATION, UNSUBSCRIBE_REWARD_SIGNING),
    SUBSCRIBE_ARCHIVED_SEGMENT_HEADER: (ARCHIVED_SEGMENT_HEADER_NOTIFICATION, UNSUBSCRIBE_ARCHIVED_SEGMENT_HEADER),
}

#: Methods a node serves only where unsafe RPC is allowed (C.3, C.10).
UNSAFE_METHODS = frozenset(
    {
        SUBMIT_SOLUTION_RESPONSE,
        SUBSCRIBE_REWARD_SIGNING,
        SUBMIT_REWARD_SIGNATURE,
        ACKNOWLEDGE_ARCHIVED_SEGMENT_HEADER,
        PIECE,
    }
)

# --- Errors (C.1) --------------------------------------------------------------------------------
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601  # also "RPC call is unsafe to be called externally"
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SUBSPACE_ERROR = 9001  # SUBSPACE_ERROR + 1 in sc-consensus-subspace-rpc: every Subspace error
UNSAFE_CALL_MESSAGE = "RPC call is unsafe to be called externally"
SOLUTION_IGNORED_MESSAGE = "Solution was ignored"
MAX_SEGMENT_HEADERS_PER_REQUEST = 1000

# --- Field codecs ---------------------------------------------------------------------------------
_HEX_RE = re.compile(r"[0-9a-fA-F]*\Z")


def _fail(where: str, msg: str):
    raise FarmkitError(f"{where}: {msg}")


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def expect_object(obj, where: str) -> dict:
    if not isinstance(obj, dict):
        _fail(where, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _get(o: dict, name: str, where: str):
    if name not in o:
        _fail(f"{where}.{name}", "missing field")
    return o[name]


def decode_hex(value, size: int, where: str) -> bytes:
    """Hex of exactly ``size`` bytes: no ``0x`` (rejected, as hex::FromHex does), any case."""
    if not isinstance(value, str):
        _fail(where, f"expected a hex string, got {type(value).__name__}")
    if len(value) != 2 * size:
        _fail(where, f"expected {2 * size} hex characters, got {len(value)}")
    if not _HEX_RE.match(value):
        _fail(where, "not valid hex (no 0x prefix allowed)")
    return bytes.fromhex(value)


def hex_field(o: dict, name: str, size: int, where: str) -> bytes:
    return decode_hex(_get(o, name, where), size, f"{where}.{name}")


def check_uint(value, bits: int, where: str, *, nonzero: bool = False) -> int:
    """A bare JSON integer in ``[0 or 1, 2^bits)`` (booleans and floats rejected)."""
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"expected an unsigned integer, got {_describe(value)}")
    lo = 1 if nonzero else 0
    if not lo <= value < 1 << bits:
        _fail(where, f"expected an integer in [{lo}, 2^{bits}), got {_describe(value)}")
    return value


def uint_field(o: dict, name: str, bits: int, where: str, *, nonzero: bool = False) -> int:
    return check_uint(_get(o, name, where), bits, f"{where}.{name}", nonzero=nonzero)


def bool_field(o: dict, name: str, where: str) -> bool:
    value = _get(o, name, where)
    if not isinstance(value, bool):
        _fail(f"{where}.{name}", f"expected true/false, got {_describe(value)}")
    return value


def byte_array_field(o: dict, name: str, size: int, where: str) -> bytes:
    """serde's ``[u8; N]``: a JSON array of exactly N integers 0..255."""
    value = _get(o, name, where)
    path = f"{where}.{name}"
    if not isinstance(value, list):
        _fail(path, f"expected an array of {size} integers, got {type(value).__name__}")
    if len(value) != size:
        _fail(path, f"expected {size} integers, got {len(value)}")
    for i, b in enumerate(value):
        if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b <= 255:
            _fail(f"{path}[{i}]", f"expected a byte 0..255, got {_describe(b)}")
    return bytes(value)


# --- Payloads (C.4) -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Duration:
    """Rust ``Duration`` as serde writes it: ``{"secs": u64, "nanos": u32}``."""

    secs: int
    nanos: int = 0

    def __post_init__(self) -> None:
        check_uint(self.secs, 64, "Duration.secs")
        check_uint(self.nanos, 32, "Duration.nanos")
        if self.nanos >= 1_000_000_000:
            _fail("Duration.nanos", "must be < 1e9")

    @classmethod
    def from_seconds(cls, seconds: float) -> "Duration":
        if not math.isfinite(seconds) or seconds < 0:
            _fail("Duration", f"invalid seconds {seconds!r}")
        secs = int(seconds)
        return cls(secs, int(round((seconds - secs) * 1e9)) % 1_000_000_000)

    @property
    def seconds(self) -> float:
        return self.secs + self.nanos / 1e9

    def to_json(self) -> dict:
        return {"secs": self.secs, "nanos": self.nanos}

    @classmethod
    def from_json(cls, obj, where: str = "Duration") -> "Duration":
        o = expect_object(obj, where)
        secs = uint_field(o, "secs", 64, where)
        nanos = uint_field(o, "nanos", 32, where)
        if nanos >= 1_000_000_000:
            _fail(f"{where}.nanos", "must be < 1e9")
        return cls(secs, nanos)


def _protocol_info_to_json(p: FarmerProtocolInfo) -> dict:
    return {
        "historySize": p.history_size,
        "maxPiecesInSector": p.max_pieces_in_sector,
        "recentSegments": p.recent_segments,
        "recentHistoryFraction": [p.recent_history_fraction[0], p.recent_history_fraction[1]],
        "minSectorLifetime": p.min_sector_lifetime,
    }


def _protocol_info_from_json(obj, where: str) -> FarmerProtocolInfo:
    o = expect_object(obj, where)
    frac = _get(o, "recentHistoryFraction", where)
    fpath = f"{where}.recentHistoryFraction"
    if not isinstance(frac, list) or len(frac) != 2:
        _fail(fpath, "expected an array of 2 history sizes")
    return FarmerProtocolInfo(
        history_size=uint_field(o, "historySize", 64, where, nonzero=True),
        max_pieces_in_sector=uint_field(o, "maxPiecesInSector", 16, where),
        recent_segments=uint_field(o, "recentSegments", 64, where, nonzero=True),
        recent_history_fraction=(
            check_uint(frac[0], 64, f"{fpath}[0]", nonzero=True),
            check_uint(frac[1], 64, f"{fpath}[1]", nonzero=True),
        ),
        min_sector_lifetime=uint_field(o, "minSectorLifetime", 64, where, nonzero=True),
    )


@dataclass(frozen=True)
class FarmerAppInfo:
    """Result of ``subspace_getFarmerAppInfo`` (C.4). ``farming_timeout`` = slot duration x
    block authoring delay (4 s on mainnet)."""

    genesis_hash: bytes
    dsn_bootstrap_nodes: tuple[str, ...]
    syncing: bool
    farming_timeout: Duration
    protocol_info: FarmerProtocolInfo

    def to_json(self) -> dict:
        return {
            "genesisHash": self.genesis_hash.hex(),
            "dsnBootstrapNodes": list(self.dsn_bootstrap_nodes),
            "syncing": self.syncing,
            "farmingTimeout": self.farming_timeout.to_json(),
            "protocolInfo": _protocol_info_to_json(self.protocol_info),
        }

    @classmethod
    def from_json(cls, obj, where: str = "FarmerAppInfo") -> "FarmerAppInfo":
        o = expect_object(obj, where)
        nodes = _get(o, "dsnBootstrapNodes", where)
        if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
            _fail(f"{where}.dsnBootstrapNodes", "expected an array of multiaddr strings")
        return cls(
            genesis_hash=hex_field(o, "genesisHash", BLAKE3_HASH_SIZE, where),
            dsn_bootstrap_nodes=tuple(nodes),
            syncing=bool_field(o, "syncing", where),
            farming_timeout=Duration.from_json(_get(o, "farmingTimeout", where), f"{where}.farmingTimeout"),
            protocol_info=_protocol_info_from_json(_get(o, "protocolInfo", where), f"{where}.protocolInfo"),
        )


@dataclass(frozen=True)
class SlotInfo:
    """Notification ``subspace_slot_info`` (C.4, pot-rpc.md A.7)."""

    slot_number: int
    global_challenge: bytes
    solution_range: int
    voting_solution_range: int

    def to_json(self) -> dict:
        return {
            "slotNumber": self.slot_number,
            "globalChallenge": self.global_challenge.hex(),
            "solutionRange": self.solution_range,
            "votingSolutionRange": self.voting_solution_range,
        }

    @classmethod
    def from_json(cls, obj, where: str = "SlotInfo") -> "SlotInfo":
        o = expect_object(obj, where)
        return cls(
            slot_number=uint_field(o, "slotNumber", 64, where),
            global_challenge=hex_field(o, "globalChallenge", BLAKE3_HASH_SIZE, where),
            solution_range=uint_field(o, "solutionRange", 64, where),
            voting_solution_range=uint_field(o, "votingSolutionRange", 64, where),
        )


@dataclass(frozen=True)
class SolutionResponse:
    """Param of ``subspace_submitSolutionResponse`` (C.4)."""

    slot_number: int
    solution: Solution

    def to_json(self) -> dict:
        return {"slotNumber": self.slot_number, "solution": self.solution.to_json()}

    @classmethod
    def from_json(cls, obj, where: str = "SolutionResponse") -> "SolutionResponse":
        o = expect_object(obj, where)
        return cls(
            slot_number=uint_field(o, "slotNumber", 64, where),
            solution=Solution.from_json(_get(o, "solution", where), f"{where}.solution"),
        )


@dataclass(frozen=True)
class RewardSigningInfo:
    """Notification ``subspace_reward_signing`` (C.4): sign ``hash`` if ``public_key`` is ours."""

    hash: bytes
    public_key: bytes

    def to_json(self) -> dict:
        return {"hash": self.hash.hex(), "publicKey": self.public_key.hex()}

    @classmethod
    def from_json(cls, obj, where: str = "RewardSigningInfo") -> "RewardSigningInfo":
        o = expect_object(obj, where)
        return cls(hex_field(o, "hash", BLAKE3_HASH_SIZE, where), hex_field(o, "publicKey", PUBLIC_KEY_SIZE, where))


@dataclass(frozen=True)
class RewardSignatureResponse:
    """Param of ``subspace_submitRewardSignature`` (C.4); ``signature`` None = decline."""

    hash: bytes
    signature: bytes | None

    def to_json(self) -> dict:
        return {"hash": self.hash.hex(), "signature": None if self.signature is None else self.signature.hex()}

    @classmethod
    def from_json(cls, obj, where: str = "RewardSignatureResponse") -> "RewardSignatureResponse":
        o = expect_object(obj, where)
        h = hex_field(o, "hash", BLAKE3_HASH_SIZE, where)
        sig = _get(o, "signature", where)
        return cls(h, None if sig is None else decode_hex(sig, REWARD_SIGNATURE_SIZE, f"{where}.signature"))


def segment_header_to_json(header: SegmentHeader) -> dict:
    """``SegmentHeader`` as serde writes it: ``{"v0": {...}}`` (C.4)."""
    lab = header.last_archived_block
    progress = "complete" if lab.partial is None else {"partial": lab.partial}
    return {
        "v0": {
            "segmentIndex": header.segment_index,
            "segmentCommitment": bytes(header.segment_commitment).hex(),
            "prevSegmentHeaderHash": bytes(header.prev_segment_header_hash).hex(),
            "lastArchivedBlock": {"number": lab.number, "archivedProgress": progress},
        }
    }


def segment_header_from_json(obj, where: str = "SegmentHeader") -> SegmentHeader:
    o = expect_object(obj, where)
    if set(o) != {"v0"}:
        _fail(where, f"expected the single variant key 'v0', got {sorted(o)!r}"[:120])
    where = f"{where}.v0"
    v = expect_object(o["v0"], where)
    lab_where = f"{where}.lastArchivedBlock"
    lab = expect_object(_get(v, "lastArchivedBlock", where), lab_where)
    progress = _get(lab, "archivedProgress", lab_where)
    ppath = f"{lab_where}.archivedProgress"
    if progress == "complete":
        partial = None
    elif isinstance(progress, dict) and set(progress) == {"partial"}:
        partial = check_uint(progress["partial"], 32, f"{ppath}.partial")
    else:
        _fail(ppath, f'expected "complete" or {{"partial": n}}, got {_describe(progress)}')
    return SegmentHeader(
        segment_index=uint_field(v, "segmentIndex", 64, where),
        segment_commitment=hex_field(v, "segmentCommitment", SEGMENT_COMMITMENT_SIZE, where),
        prev_segment_header_hash=hex_field(v, "prevSegmentHeaderHash", SEGMENT_HEADER_HASH_SIZE, where),
        last_archived_block=LastArchivedBlock(uint_field(lab, "number", 32, lab_where), partial),
    )


def piece_to_json(piece: bytes | None) -> str | None:
    """A piece is one hex string of 1,048,672 bytes (record || commitment || witness), or null."""
    if piece is None:
        return None
    if len(piece) != PIECE_SIZE:
        _fail("Piece", f"expected {PIECE_SIZE} bytes, got {len(piece)}")
    return bytes(piece).hex()


def piece_from_json(value, where: str = "Piece") -> bytes | None:
    return None if value is None else decode_hex(value, PIECE_SIZE, where)


# --- parsing untrusted JSON frames ------------------------------------------------------------------
MAX_JSON_DEPTH = 64  # far deeper than any message of pot-rpc.md part C (the deepest nests 3 levels)


def json_depth_exceeds(text: str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``text`` nests arrays/objects deeper than ``max_depth`` (brackets in strings ignored).

    Checked before ``json.loads``: CPython's JSON decoder recurses on the C stack, and a process
    whose recursion limit was raised (py_ecc raises it to 100,000 on import) crashes on a deeply
    nested frame instead of raising RecursionError. Cost: two ``str.count`` calls for a normal
    message; a vectorised scan only for frames with many brackets.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return False
    import re

    import numpy as np

    outside_strings = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    codes = np.frombuffer(outside_strings.encode("utf-8", "surrogatepass"), np.uint8)
    step = np.zeros(len(codes), np.int64)
    step[(codes == 0x5B) | (codes == 0x7B)] = 1  # [ {
    step[(codes == 0x5D) | (codes == 0x7D)] = -1  # ] }
    return bool(len(step)) and int(np.cumsum(step).max()) > max_depth


def loads_untrusted(text: str | bytes, max_depth: int = MAX_JSON_DEPTH):
    """``json.loads`` for frames from the network: ValueError on bad JSON or excessive nesting."""
    import json

    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    if json_depth_exceeds(text, max_depth):
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return json.loads(text)
