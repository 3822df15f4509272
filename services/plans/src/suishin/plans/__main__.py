"""``python -m suishin.plans`` runs the plans service."""

from suishin.kit.service import serve
from suishin.plans.app import build


def main() -> None:
    serve(*build())


if __name__ == "__main__":
    main()
