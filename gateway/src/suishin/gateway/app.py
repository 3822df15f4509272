"""The gateway ASGI app."""

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from strawberry.asgi import GraphQL

from suishin.gateway.settings import GatewaySettings


@strawberry.type
class Query:
    @strawberry.field(description="Always 'suishin'.")
    def platform(self) -> str:
        return "suishin"


def build(settings: GatewaySettings | None = None) -> Starlette:
    settings = settings or GatewaySettings()
    schema = strawberry.Schema(query=Query)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "gateway"})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", healthz),
            Mount("/graphql", GraphQL(schema)),
        ]
    )
