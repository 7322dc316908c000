"""uvicorn's server, taught to end the live streams before it waits for connections."""

from __future__ import annotations

import socket

import uvicorn

from dashboards.live import Hub


class Server(uvicorn.Server):
    """A `uvicorn.Server` that closes `hub` as its shutdown begins.

    uvicorn waits for every open connection before it runs the app's lifespan shutdown,
    and an EventSource connection never ends by itself: closing the hub first ends each
    stream, so shutdown is not held up by the control-room pages that are open.
    """

    def __init__(self, config: uvicorn.Config, hub: Hub) -> None:
        super().__init__(config)
        self.hub = hub

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.hub.close()
        await super().shutdown(sockets)
