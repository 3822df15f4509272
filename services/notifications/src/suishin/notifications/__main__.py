"""``python -m suishin.notifications`` runs the notifications service."""

from suishin.kit.service import serve
from suishin.notifications.app import build


def main() -> None:
    serve(*build())


if __name__ == "__main__":
    main()
