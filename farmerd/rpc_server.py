"""A small JSON-RPC 2.0 server over WebSocket, shaped like the Substrate (jsonrpsee) node RPC.

Spec: pot-rpc.md C.1 (transport, errors), C.3 (safe/unsafe methods), C.10 (``--rpc-methods``).
Used by the dev node (:mod:`farmkit.farmerd.devnode`); it knows nothing about Subspace itself.

* Methods are registered with :meth:`RpcServer.method`; handlers take ``(conn, params: list)`` and
  return a JSON-able result (sync or async). Raise :class:`RpcError` for a JSON-RPC error; a
  :class:`~farmkit.errors.FarmkitError` from parsing params becomes ``-32602 Invalid params``.
* Subscriptions (:meth:`RpcServer.subscription`) answer ``subscribeX`` with an opaque random id,
  ``unsubscribeX [id]`` with a boolean, and :meth:`RpcServer.notify` sends
  ``{"method": <notification>, "params": {"subscription": id, "result": ...}}``.
* Unsafe methods on a connection without unsafe RPC get ``-32601 "RPC call is unsafe to be called
  externally"``; an unsafe subscription there is "silently not served" (an id, no notifications),
  as the node does for reward signing.
* Limits: ``max_message_size`` bytes per frame (larger frames close the connection with 1009),
  ``max_connections``, ``max_subscriptions_per_connection``; malformed JSON gets ``-32700`` and the
  connection stays up.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

from farmkit.protocol import rpc as R
from farmkit.errors import FarmkitError
from farmkit.protocol.constants import RPC_MAX_MESSAGE_SIZE
from farmkit.protocol.rpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    UNSAFE_CALL_MESSAGE,
)

__all__ = ["RpcError", "RpcServer", "Connection", "rpc_methods_allow_unsafe"]

log = logging.getLogger("farmkit.farmerd.rpc_server")

Handler = Callable[["Connection", list], Any]


class RpcError(Exception):
    """A JSON-RPC error reply: ``code``, one-line ``message``, optional ``data``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict:
        err = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


def rpc_methods_allow_unsafe(rpc_methods: str, host: str) -> bool:
    """``--rpc-methods auto|safe|unsafe``: auto = unsafe only on a loopback listen address (C.10)."""
    if rpc_methods == "unsafe":
        return True
    if rpc_methods == "safe":
        return False
    if rpc_methods != "auto":
        raise FarmkitError(f"--rpc-methods must be auto, safe or unsafe, got {rpc_methods!r}")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class _Method:
    handler: Handler
    unsafe: bool


@dataclass
class _Subscription:
    notification: str
    unsafe: bool
    silent_when_safe: bool
    on_subscribe: Callable[["Connection", str], Any] | None
    on_unsubscribe: Callable[["Connection", str], Any] | None


@dataclass(eq=False)
class Connection:
    """One WebSocket client. ``subscriptions`` maps subscription id -> subscribe method name."""

    id: int
    ws: Any
    unsafe_allowed: bool
    remote: str = ""
    subscriptions: dict[str, str] = field(default_factory=dict)
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    send_timeout: float = 5.0

    async def send_json(self, obj) -> bool:
        """Send one message; a client that does not read for ``send_timeout`` s is disconnected
        (a stalled farmer must not hold up slot notifications for everyone else)."""
        text = json.dumps(obj, separators=(",", ":"))
        try:
            async with self._send_lock:
                await asyncio.wait_for(self.ws.send(text), self.send_timeout)
            return True
        except asyncio.TimeoutError:
            log.info("connection %d (%s) is not reading; closing it", self.id, self.remote)
            asyncio.ensure_future(self.ws.close(1008, "too slow"))
            return False
        except Exception as exc:  # closed connection, etc.: the reader task cleans up
            log.debug("send to connection %d failed: %s", self.id, exc)
            return False


class RpcServer:
    """JSON-RPC 2.0 over WebSocket with Substrate-style subscriptions and safe/unsafe methods."""

    def __init__(
        self,
        *,
        allow_unsafe: bool,
        max_message_size: int = RPC_MAX_MESSAGE_SIZE,
        max_connections: int = 100,
        max_subscriptions_per_connection: int = 1024,
    ) -> None:
        self.allow_unsafe = allow_unsafe
        self.max_message_size = max_message_size
        self.max_connections = max_connections
        self.max_subscriptions_per_connection = max_subscriptions_per_connection
        self._methods: dict[str, _Method] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._unsubscribe: dict[str, str] = {}  # unsubscribe method -> subscribe method
        self.connections: set[Connection] = set()
        self._next_conn_id = 0
        self._server = None
        self.on_connections_changed: Callable[[int], None] | None = None

    # -- registration --
    def method(self, name: str, handler: Handler | None = None, *, unsafe: bool = False):
        """Register ``handler(conn, params) -> result`` (usable as a decorator)."""

        def register(h: Handler) -> Handler:
            if name in self._methods or name in self._subscriptions or name in self._unsubscribe:
                raise ValueError(f"RPC method {name} registered twice")
            self._methods[name] = _Method(h, unsafe)
            return h

        return register(handler) if handler is not None else register

    def subscription(
        self,
        subscribe: str,
        notification: str,
        unsubscribe: str,
        *,
        unsafe: bool = False,
        silent_when_safe: bool = False,
        on_subscribe: Callable[["Connection", str], Any] | None = None,
        on_unsubscribe: Callable[["Connection", str], Any] | None = None,
    ) -> None:
        """Register a subscription. ``silent_when_safe``: on a safe connection hand out an id but
        never notify (the node's reward-signing behaviour); otherwise unsafe ones get -32601."""
        self._subscriptions[subscribe] = _Subscription(notification, unsafe, silent_when_safe, on_subscribe, on_unsubscribe)
        self._unsubscribe[unsubscribe] = subscribe

    def subscribers(self, subscribe: str) -> list[tuple[Connection, str]]:
        return [
            (conn, sub_id)
            for conn in list(self.connections)
            for sub_id, method in list(conn.subscriptions.items())
            if method == subscribe
        ]

    async def notify(self, subscribe: str, result: Any, *, only: Callable[[Connection], bool] | None = None) -> int:
        """Send ``result`` to every subscriber of ``subscribe``; returns how many were sent."""
        sub = self._subscriptions[subscribe]
        targets = [(c, s) for c, s in self.subscribers(subscribe) if only is None or only(c)]
        if not targets:
            return 0
        sends = [
            conn.send_json({"jsonrpc": "2.0", "method": sub.notification, "params": {"subscription": sub_id, "result": result}})
            for conn, sub_id in targets
        ]
        done = await asyncio.gather(*sends)
        return sum(1 for ok in done if ok)

    # -- lifecycle --
    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (port 0 picks one); returns the bound port."""
        from websockets.asyncio.server import serve

        self._server = await serve(
            self._serve_connection,
            host,
            port,
            max_size=self.max_message_size,
            max_queue=64,
            compression=None,
            ping_interval=20,
            ping_timeout=20,
        )
        sock = next(iter(self._server.sockets))
        return sock.getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # -- per connection --
    async def _serve_connection(self, ws) -> None:
        if len(self.connections) >= self.max_connections:
            await ws.close(1013, "too many connections")
            return
        self._next_conn_id += 1
        remote = ws.remote_address
        conn = Connection(self._next_conn_id, ws, self.allow_unsafe, f"{remote[0]}:{remote[1]}" if remote else "")
        self.connections.add(conn)
        self._connections_changed()
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    await conn.send_json(_error_reply(None, RpcError(INVALID_REQUEST, "binary frames are not supported")))
                    continue
                reply = await self.handle_text(conn, message)
                if reply is not None:
                    await conn.send_json(reply)
        except Exception as exc:  # connection errors (incl. oversized frames) end this connection only
            log.debug("connection %d closed: %s", conn.id, exc)
        finally:
            self.connections.discard(conn)
            for sub_id, method in list(conn.subscriptions.items()):
                await self._run_hook(self._subscriptions[method].on_unsubscribe, conn, sub_id)
            conn.subscriptions.clear()
            self._connections_changed()

    def _connections_changed(self) -> None:
        if self.on_connections_changed is not None:
            self.on_connections_changed(len(self.connections))

    async def handle_text(self, conn: Connection, text: str):
        """Process one text frame; returns the reply object (None for notifications only)."""
        try:
            msg = R.loads_untrusted(text)
        except (ValueError, RecursionError):
            return _error_reply(None, RpcError(PARSE_ERROR, "Parse error"))
        if isinstance(msg, list):
            if not msg:
                return _error_reply(None, RpcError(INVALID_REQUEST, "Invalid request: empty batch"))
            replies = []
            for item in msg[:1000]:
                reply = await self._handle_request(conn, item)
                if reply is not None:
                    replies.append(reply)
            return replies or None
        return await self._handle_request(conn, msg)

    async def _handle_request(self, conn: Connection, msg):
        if not isinstance(msg, dict):
            return _error_reply(None, RpcError(INVALID_REQUEST, "Invalid request"))
        req_id = msg.get("id")
        is_notification = "id" not in msg
        if not (req_id is None or isinstance(req_id, (str, int))) or isinstance(req_id, bool):
            return _error_reply(None, RpcError(INVALID_REQUEST, "Invalid request: bad id"))
        method = msg.get("method")
        if msg.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _error_reply(req_id, RpcError(INVALID_REQUEST, "Invalid request"))
        params = msg.get("params", [])
        if params is None:
            params = []
        try:
            if not isinstance(params, list):
                raise RpcError(INVALID_PARAMS, "Invalid params: use positional (array) params")
            result = await self._dispatch(conn, method, params)
        except RpcError as err:
            return None if is_notification else _error_reply(req_id, err)
        except FarmkitError as exc:
            return None if is_notification else _error_reply(req_id, RpcError(INVALID_PARAMS, f"Invalid params: {exc}"))
        except Exception:
            log.exception("RPC handler for %s failed", method)
            return None if is_notification else _error_reply(req_id, RpcError(INTERNAL_ERROR, "Internal error"))
        if is_notification:
            return None
        if isinstance(result, _SubscribeReply):
            # the id must reach the client before any notification for it
            await conn.send_json({"jsonrpc": "2.0", "id": req_id, "result": result.sub_id})
            if result.register:
                conn.subscriptions[result.sub_id] = result.method
                await self._run_hook(self._subscriptions[result.method].on_subscribe, conn, result.sub_id)
            return None
        return {"jsonrpc": "2.0", "id": req_id, "result": result}

    async def _dispatch(self, conn: Connection, method: str, params: list):
        if method in self._methods:
            m = self._methods[method]
            if m.unsafe and not conn.unsafe_allowed:
                raise RpcError(METHOD_NOT_FOUND, UNSAFE_CALL_MESSAGE)
            result = m.handler(conn, params)
            if inspect.isawaitable(result):
                result = await result
            return result
        if method in self._subscriptions:
            sub = self._subscriptions[method]
            register = True
            if sub.unsafe and not conn.unsafe_allowed:
                if not sub.silent_when_safe:
                    raise RpcError(METHOD_NOT_FOUND, UNSAFE_CALL_MESSAGE)
                register = False
            if params:
                raise RpcError(INVALID_PARAMS, "Invalid params: this subscription takes none")
            if len(conn.subscriptions) >= self.max_subscriptions_per_connection:
                raise RpcError(INVALID_REQUEST, "Too many subscriptions on this connection")
            return _SubscribeReply(method, secrets.token_urlsafe(12), register)
        if method in self._unsubscribe:
            if len(params) != 1 or not isinstance(params[0], str):
                raise RpcError(INVALID_PARAMS, "Invalid params: expected [subscriptionId]")
            sub_id = params[0]
            if conn.subscriptions.get(sub_id) != self._unsubscribe[method]:
                return False
            del conn.subscriptions[sub_id]
            await self._run_hook(self._subscriptions[self._unsubscribe[method]].on_unsubscribe, conn, sub_id)
            return True
        raise RpcError(METHOD_NOT_FOUND, "Method not found")

    @staticmethod
    async def _run_hook(hook, conn: Connection, sub_id: str) -> None:
        if hook is None:
            return
        try:
            result = hook(conn, sub_id)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("subscription hook failed")


@dataclass
class _SubscribeReply:
    method: str
    sub_id: str
    register: bool


def _error_reply(req_id, err: RpcError) -> dict:
    return {"jsonrpc": "2.0", "id": req_id, "error": err.to_json()}

