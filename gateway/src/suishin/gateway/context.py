"""What every gateway resolver gets as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.types import Info

from suishin.kit.auth import Principal

if TYPE_CHECKING:
    from suishin.gateway.live import LiveHub
    from suishin.gateway.loaders import EntityLoaders
    from suishin.gateway.settings import GatewaySettings
    from suishin.gateway.subgraphs import Subgraphs


@dataclass
class GatewayContext:
    """The caller, their token (forwarded to subgraphs), and this request's loaders."""

    principal: Principal
    authorization: str | None
    settings: GatewaySettings
    subgraphs: Subgraphs
    loaders: EntityLoaders
    hub: LiveHub | None = None
    # The client's variables as sent (JSON), forwarded unchanged to the subgraphs.
    raw_variables: dict[str, Any] = field(default_factory=dict)
    connection_params: dict[str, Any] | None = None
    request: Any = None

    @property
    def tenant(self) -> str | None:
        return self.principal.tenant


def context_of(info: Info[Any, Any]) -> GatewayContext:
    ctx = info.context
    assert isinstance(ctx, GatewayContext)
    return ctx
