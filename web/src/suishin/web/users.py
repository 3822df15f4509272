"""Who can sign in: demo users in development (dev tokens), OpenID Connect in production."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from suishin.kit.auth import issue_token
from suishin.kit.settings import PlatformSettings


@dataclass(frozen=True)
class Preset:
    roles: tuple[str, ...]
    posts: tuple[str, ...] = ()


# The demo directory's people are named after their role (cio@itabashi, reporter@nerima, ...).
PRESETS: dict[str, Preset] = {
    "cio": Preset(("executive", "viewer"), ("CIO", "DX推進本部")),
    "honbu": Preset(("executive", "viewer"), ("DX推進本部",)),
    "jimukyoku": Preset(("admin", "viewer"), ("事務局",)),
    "reporter": Preset(("reporter", "viewer")),
    "viewer": Preset(("viewer",)),
}


@dataclass(frozen=True)
class DemoUser:
    subject: str
    tenant: str
    name: str
    preset: str
    departments: tuple[str, ...] = ()

    def token(self, settings: PlatformSettings, ttl_seconds: int) -> str:
        preset = PRESETS[self.preset]
        return issue_token(
            settings,
            subject=self.subject,
            tenant=self.tenant,
            roles=list(preset.roles),
            departments=list(self.departments),
            posts=list(preset.posts),
            name=self.name,
            ttl_seconds=ttl_seconds,
        )


def demo_users(datasets_dir: Path) -> list[DemoUser]:
    """The people of the demo directories whose id names a role (like ``suishin up`` prints)."""
    users = []
    for path in sorted((datasets_dir / "directory").glob("*.yaml")):
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        for person in data.get("people", []):
            subject = str(person["id"])
            role = subject.split("@", 1)[0]
            if role not in PRESETS:
                continue
            departments = tuple(
                a["department"] for a in person.get("assignments", []) if a.get("department")
            )
            users.append(
                DemoUser(
                    subject,
                    str(data["tenant"]),
                    str(person.get("name", subject)),
                    role,
                    departments if role == "reporter" else (),
                )
            )
    return users
