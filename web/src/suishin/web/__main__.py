"""``python -m suishin.web`` runs the ward portal."""

import logging

from suishin.kit.logging import configure_logging
from suishin.kit.server import run_server
from suishin.web.app import build
from suishin.web.settings import WebSettings


def main() -> None:
    settings = WebSettings()
    configure_logging("web", settings.log_level, json_lines=settings.log_json)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter
    run_server(build(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
