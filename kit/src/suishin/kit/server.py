"""How a process of the platform serves its app (``python -m suishin.<service>``, the gateway,
the portal): uvicorn, with the heap frozen once the app has started.

Freezing (:func:`freeze_heap`) takes what startup built (modules, GraphQL and pydantic schemas,
templates, pools) out of the garbage collector's full collections, which otherwise walk all of
it from time to time while the process serves: at 500 reports/s a full collection of the
indicators service took 87 ms (every report arriving meanwhile waited), 6 ms with the heap
frozen (docs/benchmarks.md, eleventh round). Nothing is lost: frozen objects that are still
referenced stay, as they would; only cycles among them that become garbage later are kept.
"""

from __future__ import annotations

import gc
import socket

import uvicorn
from starlette.types import ASGIApp


def freeze_heap() -> None:
    """Collect what is garbage now, then move every object left to the permanent generation."""
    gc.collect()
    gc.freeze()


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:  # the app's lifespan started and the socket is bound
            freeze_heap()


def run_server(app: ASGIApp, *, host: str, port: int) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (uvicorn's own signal handling)."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    _Server(config).run()
