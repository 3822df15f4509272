"""A served process freezes its heap once its app has started: what the lifespan built is out
of the garbage collector's full collections (kit.server)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import AsyncIterator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from suishin.kit.server import _Server


async def test_the_heap_is_frozen_after_the_lifespan_started_and_the_app_still_serves() -> None:
    seen: dict[str, object] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        seen["frozen at startup"] = gc.get_freeze_count()
        app.state.built = {"built": "at startup"}  # what a service's startup builds
        yield

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.app.state.built["built"])

    started = asyncio.Event()

    class Observed(_Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            started.set()

    app = Starlette(routes=[Route("/", hello)], lifespan=lifespan)
    server = Observed(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on"))
    gc.unfreeze()
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            await started.wait()
        assert server.started
        assert seen["frozen at startup"] == 0  # not before the lifespan ran
        assert gc.get_freeze_count() > 0
        built = app.state.built
        # a frozen object is in no generation the collector walks
        assert not any(o is built for o in gc.get_objects())
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/")
        assert answer.text == "at startup"
    finally:
        gc.unfreeze()  # the test process keeps collecting as before
        server.should_exit = True
        await serving
