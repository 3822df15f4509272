"""``python -m suishin.indicators`` runs the indicators service."""

from suishin.indicators.app import build
from suishin.kit.service import serve


def main() -> None:
    serve(*build())


if __name__ == "__main__":
    main()
