"""``python -m suishin.gateway`` runs the GraphQL gateway."""

from suishin.gateway.app import build
from suishin.gateway.settings import GatewaySettings
from suishin.kit.logging import configure_logging
from suishin.kit.server import run_server


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level, json_lines=settings.log_json)
    run_server(build(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
