"""The farmer's node client: JSON-RPC 2.0 over one WebSocket, with subscriptions that survive
reconnects (pot-rpc.md C.1-C.6; reference ``subspace-farmer`` ``node_client/rpc_node_client.rs``).

Usage (inside an asyncio program)::

    client = NodeRpcClient("ws://127.0.0.1:9944")
    await client.start()                        # connects in the background, reconnects forever
    info = await client.farmer_app_info()       # FarmerAppInfo
    async for slot in client.subscribe_slot_info():      # SlotInfo, across reconnects
        ...
    await client.submit_solution_response(SolutionResponse(slot.slot_number, solution))
    await client.close()

* Params are positional arrays; byte values are hex without ``0x`` (C.1, C.2).
* On a lost connection every pending call fails with :class:`ConnectionLost`; the client
  reconnects with capped exponential backoff (``reconnect_initial_delay`` doubling up to
  ``reconnect_max_delay``, a few seconds) and re-subscribes every live subscription. A
  subscription iterator keeps yielding after a reconnect; ``subscription.reconnects`` counts them.
* Malformed messages (bad JSON, unknown ids, notifications whose payload fails validation) are
  logged and skipped; they never end the connection or an iterator.
* ``max_message_size`` defaults to 20 MiB (a piece is ~2 MiB of hex; websockets' 1 MiB default is
  too small, C.1).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
from typing import Any, Callable, Generic, TypeVar

from farmkit.errors import FarmkitError
from farmkit.protocol import rpc as R
from farmkit.protocol.constants import DEFAULT_NODE_RPC_URL, RPC_MAX_MESSAGE_SIZE
from farmkit.protocol.segments import SegmentHeader

__all__ = [
    "NodeRpcClient",
    "RpcCallError",
    "ConnectionLost",
    "Subscription",
    "run_reward_signer",
    "SegmentHeaderCache",
]

log = logging.getLogger("farmkit.farmerd.rpc_client")

T = TypeVar("T")


_EARLY_MAX_IDS = 16  # bound on held-back notifications (malformed-node safety)
_EARLY_MAX_PER_ID = 64

class RpcCallError(FarmkitError):
    """The node answered a call with a JSON-RPC error (e.g. 9001 "Solution was ignored")."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: node error {code}: {message}")
        self.method = method
        self.code = code
        self.message = message


class ConnectionLost(FarmkitError):
    """The WebSocket closed before the node answered (the client reconnects by itself)."""


class Subscription(Generic[T]):
    """An async iterator over one subscription's notifications, kept alive across reconnects.

    The queue is bounded (``maxsize``); when the consumer falls behind the oldest item is dropped
    (a farmer wants the newest slot, C.5) and ``dropped`` counts it.
    """

    def __init__(self, client: "NodeRpcClient", subscribe: str, parse: Callable[[Any], T], maxsize: int) -> None:
        self._client = client
        self.subscribe_method = subscribe
        self.notification, self.unsubscribe_method = R.SUBSCRIPTIONS[subscribe]
        self._parse = parse
        self._queue: asyncio.Queue = asyncio.Queue(maxsize)
        self.sub_id: str | None = None
        self.dropped = 0
        self.malformed = 0
        self.reconnects = 0  # re-subscriptions after a reconnect
        self.closed = False
        self._subscribed_before = False

    def _push(self, raw) -> None:
        try:
            item = self._parse(raw)
        except FarmkitError as exc:
            self.malformed += 1
            log.warning("skipping malformed %s notification: %s", self.notification, exc)
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    def __aiter__(self):
        return self

    async def __anext__(self) -> T:
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _CLOSED:
            raise StopAsyncIteration
        return item

    async def get(self, timeout: float | None = None) -> T:
        """The next item, or :class:`asyncio.TimeoutError` after ``timeout`` seconds."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    async def close(self) -> None:
        """Unsubscribe (best effort) and end the iterator."""
        if self.closed:
            return
        self.closed = True
        self._client._subscriptions.discard(self)
        if self.sub_id is not None and self._client.connected:
            try:
                await self._client.call(self.unsubscribe_method, self.sub_id, timeout=2.0)
            except FarmkitError:
                pass
        self.sub_id = None
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)


_CLOSED = object()


class NodeRpcClient:
    """A reconnecting JSON-RPC WebSocket client for the node's ``subspace_*`` methods."""

    def __init__(
        self,
        url: str = DEFAULT_NODE_RPC_URL,
        *,
        max_message_size: int = RPC_MAX_MESSAGE_SIZE,
        request_timeout: float = 10.0,
        reconnect_initial_delay: float = 0.1,
        reconnect_max_delay: float = 3.0,
        open_timeout: float = 5.0,
    ) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise FarmkitError(f"node RPC URL must start with ws:// or wss://, got {url!r}")
        self.url = url
        self.max_message_size = max_message_size
        self.request_timeout = request_timeout
        self.reconnect_initial_delay = reconnect_initial_delay
        self.reconnect_max_delay = reconnect_max_delay
        self.open_timeout = open_timeout
        self._ws = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future]] = {}
        self._subscriptions: set[Subscription] = set()
        self._pending_subscribes = 0  # subscribe calls awaiting their reply
        self._early: dict[str, list[dict]] = {}  # notifications that overtook their subscribe reply
        self._by_sub_id: dict[str, Subscription] = {}
        self._connected = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self.connections_made = 0
        self.malformed_messages = 0
        self.on_connect: list[Callable[[], Any]] = []  # called (sync or async) after each (re)connect

    # -- lifecycle --
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        """Start the background connect/reconnect loop (returns at once)."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="node-rpc-client")

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def close(self) -> None:
        self._closing = True
        for sub in list(self._subscriptions):
            sub.closed = True
            if sub._queue.full():
                sub._queue.get_nowait()
            sub._queue.put_nowait(_CLOSED)
        self._subscriptions.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def __aenter__(self) -> "NodeRpcClient":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def _run(self) -> None:
        from websockets.asyncio.client import connect

        delay = self.reconnect_initial_delay
        while not self._closing:
            try:
                ws = await connect(
                    self.url,
                    max_size=self.max_message_size,
                    open_timeout=self.open_timeout,
                    compression=None,
                    ping_interval=20,
                    ping_timeout=20,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("node RPC %s unreachable (%s); retrying in %.1f s", self.url, exc, delay)
                await asyncio.sleep(delay * (0.75 + 0.5 * random.random()))
                delay = min(self.reconnect_max_delay, delay * 2)
                continue
            delay = self.reconnect_initial_delay
            self._ws = ws
            self.connections_made += 1
            reader = asyncio.create_task(self._read(ws))
            self._connected.set()
            try:
                await self._resubscribe_all()
                for cb in list(self.on_connect):
                    r = cb()
                    if asyncio.iscoroutine(r):
                        await r
                await reader
            except asyncio.CancelledError:
                reader.cancel()
                raise
            except Exception as exc:
                log.info("node RPC connection error: %s", exc)
                reader.cancel()
            finally:
                self._connected.clear()
                self._ws = None
                self._by_sub_id.clear()
                self._early.clear()
                for sub in self._subscriptions:
                    sub.sub_id = None
                for method, fut in self._pending.values():
                    if not fut.done():
                        fut.set_exception(ConnectionLost(f"{method}: connection to {self.url} lost"))
                self._pending.clear()
                try:
                    await ws.close()
                except Exception:
                    pass
            if not self._closing:
                log.info("node RPC connection to %s lost; reconnecting", self.url)
                await asyncio.sleep(delay)

    async def _resubscribe_all(self) -> None:
        for sub in list(self._subscriptions):
            try:
                await self._subscribe(sub, resubscribe=True)
            except RpcCallError as exc:  # e.g. an unsafe subscription on a safe node: keep the link
                log.warning("%s refused by the node: %s", sub.subscribe_method, exc)

    async def _subscribe(self, sub: Subscription, resubscribe: bool = False) -> None:
        self._pending_subscribes += 1
        try:
            sub_id = await self.call(sub.subscribe_method)
        finally:
            self._pending_subscribes -= 1
        if not isinstance(sub_id, (str, int)) or isinstance(sub_id, bool):
            raise FarmkitError(f"{sub.subscribe_method}: node returned a malformed subscription id")
        sub.sub_id = str(sub_id)
        self._by_sub_id[sub.sub_id] = sub
        for early in self._early.pop(sub.sub_id, []):
            self._dispatch(early)
        if not self._pending_subscribes:
            for stale in self._early.values():
                for msg in stale:
                    self._malformed(f"notification for unknown subscription ({str(msg.get('method'))[:40]})")
            self._early.clear()
        if sub._subscribed_before:
            sub.reconnects += 1
        sub._subscribed_before = True

    async def _read(self, ws) -> None:
        async for message in ws:
            if isinstance(message, bytes):
                self._malformed("binary frame")
                continue
            try:
                msg = R.loads_untrusted(message)
            except (ValueError, RecursionError):
                self._malformed("invalid JSON")
                continue
            for item in msg if isinstance(msg, list) else [msg]:
                self._dispatch(item)

    def _malformed(self, what: str) -> None:
        self.malformed_messages += 1
        log.warning("skipping malformed message from node: %s", what)

    def _dispatch(self, msg) -> None:
        if not isinstance(msg, dict):
            return self._malformed("not a JSON object")
        if "id" in msg and ("result" in msg or "error" in msg):
            rid = msg["id"]
            entry = self._pending.pop(rid, None) if isinstance(rid, int) and not isinstance(rid, bool) else None
            if entry is None:
                return self._malformed(f"reply to unknown id {str(msg['id'])[:20]}")
            method, fut = entry
            if fut.done():
                return
            if "error" in msg:
                err = msg["error"] if isinstance(msg["error"], dict) else {}
                code = err.get("code") if isinstance(err.get("code"), int) else R.INTERNAL_ERROR
                message = err.get("message") if isinstance(err.get("message"), str) else "malformed error"
                fut.set_exception(RpcCallError(method, code, " ".join(message.split())[:200]))
            else:
                fut.set_result(msg["result"])
            return
        params = msg.get("params")
        if isinstance(msg.get("method"), str) and isinstance(params, dict) and "subscription" in params:
            sub_id = params["subscription"]
            sub = self._by_sub_id.get(str(sub_id)) if isinstance(sub_id, (str, int)) else None
            if sub is None and "result" in params and isinstance(sub_id, (str, int)) and self._pending_subscribes:
                # A notification can overtake the subscribe call's continuation (it arrives in the
                # same read right behind the reply): hold it until _subscribe registers the id.
                early = self._early.setdefault(str(sub_id), [])
                if len(self._early) <= _EARLY_MAX_IDS and len(early) < _EARLY_MAX_PER_ID:
                    early.append(msg)
                    return
            if sub is None or sub.notification != msg["method"] or "result" not in params:
                return self._malformed(f"notification for unknown subscription ({msg['method'][:40]})")
            sub._push(params["result"])
            return
        self._malformed("neither a reply nor a notification")

    # -- calls --
    async def call(self, method: str, *params, timeout: float | None = None):
        """Call ``method`` with positional ``params``; returns the raw JSON result.

        Waits for a connection for up to ``timeout`` (default ``request_timeout``) seconds.
        Raises :class:`RpcCallError`, :class:`ConnectionLost`, or FarmkitError on timeout.
        """
        timeout = self.request_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except asyncio.TimeoutError:
            raise ConnectionLost(f"{method}: not connected to {self.url}") from None
        ws = self._ws
        if ws is None:
            raise ConnectionLost(f"{method}: not connected to {self.url}")
        req_id = next(self._ids)
        fut = loop.create_future()
        self._pending[req_id] = (method, fut)
        try:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": list(params)}))
            return await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise FarmkitError(f"{method}: no answer from the node within {timeout:g} s") from None
        except ConnectionLost:
            raise
        except FarmkitError:
            raise
        except Exception as exc:  # websockets ConnectionClosed while sending
            raise ConnectionLost(f"{method}: {exc}") from None
        finally:
            self._pending.pop(req_id, None)

    def _subscription(self, subscribe: str, parse, maxsize: int) -> Subscription:
        sub = Subscription(self, subscribe, parse, maxsize)
        self._subscriptions.add(sub)
        if self.connected:
            asyncio.ensure_future(self._subscribe_now(sub))
        return sub

    async def _subscribe_now(self, sub: Subscription) -> None:
        try:
            await self._subscribe(sub)
        except FarmkitError as exc:
            log.warning("%s failed (%s); will retry after reconnect", sub.subscribe_method, exc)

    # -- typed API (C.3) --
    async def farmer_app_info(self) -> R.FarmerAppInfo:
        return R.FarmerAppInfo.from_json(await self.call(R.GET_FARMER_APP_INFO))

    def subscribe_slot_info(self, maxsize: int = 8) -> Subscription[R.SlotInfo]:
        return self._subscription(R.SUBSCRIBE_SLOT_INFO, R.SlotInfo.from_json, maxsize)

    def subscribe_reward_signing(self, maxsize: int = 64) -> Subscription[R.RewardSigningInfo]:
        return self._subscription(R.SUBSCRIBE_REWARD_SIGNING, R.RewardSigningInfo.from_json, maxsize)

    def subscribe_archived_segment_headers(self, maxsize: int = 256) -> Subscription[SegmentHeader]:
        return self._subscription(R.SUBSCRIBE_ARCHIVED_SEGMENT_HEADER, R.segment_header_from_json, maxsize)

    async def submit_solution_response(self, response: R.SolutionResponse) -> None:
        """Raises :class:`RpcCallError` (code 9001, "Solution was ignored") when the slot is closed."""
        await self.call(R.SUBMIT_SOLUTION_RESPONSE, response.to_json())

    async def submit_reward_signature(self, response: R.RewardSignatureResponse) -> None:
        await self.call(R.SUBMIT_REWARD_SIGNATURE, response.to_json())

    async def acknowledge_archived_segment_header(self, segment_index: int) -> None:
        await self.call(R.ACKNOWLEDGE_ARCHIVED_SEGMENT_HEADER, R.check_uint(segment_index, 64, "segmentIndex"))

    async def segment_headers(self, segment_indexes: list[int]) -> list[SegmentHeader | None]:
        if len(segment_indexes) > R.MAX_SEGMENT_HEADERS_PER_REQUEST:
            raise FarmkitError(f"at most {R.MAX_SEGMENT_HEADERS_PER_REQUEST} segment headers per request")
        idx = [R.check_uint(i, 64, "segmentIndex") for i in segment_indexes]
        result = await self.call(R.SEGMENT_HEADERS, idx)
        if not isinstance(result, list) or len(result) != len(idx):
            raise FarmkitError(f"{R.SEGMENT_HEADERS}: expected an array of {len(idx)} entries")
        return [None if h is None else R.segment_header_from_json(h, f"segmentHeaders[{i}]") for i, h in enumerate(result)]

    async def last_segment_headers(self, limit: int) -> list[SegmentHeader]:
        result = await self.call(R.LAST_SEGMENT_HEADERS, R.check_uint(limit, 32, "limit"))
        if not isinstance(result, list):
            raise FarmkitError(f"{R.LAST_SEGMENT_HEADERS}: expected an array")
        return [R.segment_header_from_json(h, f"lastSegmentHeaders[{i}]") for i, h in enumerate(result) if h is not None]

    async def piece(self, piece_index: int, timeout: float | None = None) -> bytes | None:
        result = await self.call(R.PIECE, R.check_uint(piece_index, 64, "pieceIndex"), timeout=timeout)
        return R.piece_from_json(result, f"piece {piece_index}")

    async def all_segment_headers(self, batch: int = R.MAX_SEGMENT_HEADERS_PER_REQUEST) -> list[SegmentHeader]:
        """Every header from index 0 until the first ``null`` (what upstream's caching client does, C.5)."""
        out: list[SegmentHeader] = []
        while True:
            got = await self.segment_headers(list(range(len(out), len(out) + batch)))
            for h in got:
                if h is None:
                    return out
                out.append(h)


# --- Farmer-side services on top of the client (C.5, C.6) -------------------------------------------
async def run_reward_signer(client: NodeRpcClient, keypairs, *, on_signed: Callable[[bytes, bytes], Any] | None = None) -> None:
    """Answer ``subspace_reward_signing`` requests for our own public keys until cancelled (C.5).

    Each request whose ``publicKey`` is one of ``keypairs`` (sr25519 Keypairs) is signed with the
    context ``subspace_reward`` and submitted at once (the node waits only 500 ms); requests for
    other keys are ignored, as upstream does. ``on_signed(hash, public_key)`` is called after each.
    """
    from farmkit.kernels import sr25519
    from farmkit.protocol.constants import REWARD_SIGNING_CONTEXT

    by_public = {kp.public: kp for kp in keypairs}
    sub = client.subscribe_reward_signing()
    try:
        async for info in sub:
            kp = by_public.get(info.public_key)
            if kp is None:
                continue
            signature = await asyncio.to_thread(sr25519.sign, kp, info.hash, REWARD_SIGNING_CONTEXT)
            try:
                await client.submit_reward_signature(R.RewardSignatureResponse(info.hash, signature))
            except FarmkitError as exc:
                log.warning("submitting reward signature for %s failed: %s", info.hash.hex()[:16], exc)
                continue
            if on_signed is not None:
                on_signed(info.hash, info.public_key)
    finally:
        await sub.close()


class SegmentHeaderCache:
    """The farmer's ordered list of segment headers, like upstream's caching node client (C.6).

    :meth:`run` subscribes to archived segment headers, downloads every known header (batches of
    1000 until ``null``), then for each notification acknowledges it at once (retrying a few
    times: the node's archiver waits for every acknowledgement) and appends it when its index is
    the next one, filling any gap from the node. ``history_size`` = last index + 1.
    """

    def __init__(self, client: NodeRpcClient) -> None:
        self.client = client
        self.headers: list[SegmentHeader] = []
        self.updated = asyncio.Event()
        self._acks_refused = False

    @property
    def history_size(self) -> int:
        return max(1, len(self.headers))

    def get(self, segment_index: int) -> SegmentHeader | None:
        return self.headers[segment_index] if 0 <= segment_index < len(self.headers) else None

    async def _fill_to(self, last_index: int) -> None:
        while len(self.headers) <= last_index:
            want = list(range(len(self.headers), min(last_index + 1, len(self.headers) + R.MAX_SEGMENT_HEADERS_PER_REQUEST)))
            got = await self.client.segment_headers(want)
            added = False
            for h in got:
                if h is None or h.segment_index != len(self.headers):
                    break
                self.headers.append(h)
                added = True
            if not added:
                return

    async def _acknowledge(self, segment_index: int) -> None:
        if self._acks_refused:
            return
        for attempt in range(5):
            try:
                await self.client.acknowledge_archived_segment_header(segment_index)
                return
            except RpcCallError as exc:
                if exc.code == R.METHOD_NOT_FOUND:  # safe RPC: headers come without acknowledgement (C.6)
                    self._acks_refused = True
                    return
                log.warning("acknowledging segment %d failed (%s), retry %d", segment_index, exc, attempt + 1)
                await asyncio.sleep(0.2 * (attempt + 1))
            except FarmkitError as exc:
                log.warning("acknowledging segment %d failed (%s), retry %d", segment_index, exc, attempt + 1)
                await asyncio.sleep(0.2 * (attempt + 1))

    async def run(self) -> None:
        sub = self.client.subscribe_archived_segment_headers()
        try:
            for attempt in itertools.count():
                try:
                    self.headers = await self.client.all_segment_headers()
                    break
                except FarmkitError as exc:
                    log.warning("downloading segment headers failed (%s); retrying", exc)
                    await asyncio.sleep(min(3.0, 0.2 * (attempt + 1)))
            self.updated.set()
            async for header in sub:
                await self._acknowledge(header.segment_index)
                if header.segment_index == len(self.headers):
                    self.headers.append(header)
                elif header.segment_index > len(self.headers):
                    try:
                        await self._fill_to(header.segment_index)
                    except FarmkitError as exc:
                        log.warning("filling segment headers failed: %s", exc)
                self.updated.set()
        finally:
            await sub.close()
