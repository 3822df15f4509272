"""``python -m suishin.web`` runs the ward portal."""

import logging

import uvicorn

from suishin.kit.logging import configure_logging
from suishin.web.app import build
from suishin.web.settings import WebSettings


def main() -> None:
    settings = WebSettings()
    configure_logging("web", settings.log_level, json_lines=settings.log_json)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter
    uvicorn.run(
        build(settings), host=settings.host, port=settings.port, log_config=None, access_log=False
    )


if __name__ == "__main__":
    main()
