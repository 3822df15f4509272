"""GraphQL subgraph of the plans service (Strawberry, federation v2)."""

import strawberry


@strawberry.type
class Query:
    @strawberry.field(description="Name of the service behind this subgraph.")
    def plans_service(self) -> str:
        return "plans"


schema = strawberry.federation.Schema(query=Query, federation_version="2.7")
