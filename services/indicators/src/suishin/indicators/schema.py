"""GraphQL subgraph of the indicators service (Strawberry, federation v2)."""

import strawberry


@strawberry.type
class Query:
    @strawberry.field(description="Name of the service behind this subgraph.")
    def indicators_service(self) -> str:
        return "indicators"


schema = strawberry.federation.Schema(query=Query, federation_version="2.7")
