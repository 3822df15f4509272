"""``python -m suishin.gateway`` runs the GraphQL gateway."""

import uvicorn

from suishin.gateway.app import build
from suishin.gateway.settings import GatewaySettings
from suishin.kit.logging import configure_logging


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        build(settings), host=settings.host, port=settings.port, log_config=None, access_log=False
    )


if __name__ == "__main__":
    main()
