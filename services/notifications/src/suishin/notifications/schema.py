"""GraphQL subgraph of the notifications service (Strawberry, federation v2)."""

import strawberry


@strawberry.type
class Query:
    @strawberry.field(description="Name of the service behind this subgraph.")
    def notifications_service(self) -> str:
        return "notifications"


schema = strawberry.federation.Schema(query=Query, federation_version="2.7")
