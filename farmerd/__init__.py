"""farmkit.farmerd: A headless farmer daemon speaking the node's JSON-RPC over WebSocket, plus an embedded dev node."""
