"""Dev tokens for the embedded default (``suishin token``)."""

from __future__ import annotations

from dataclasses import dataclass

from suishin.contracts.enums import Role


@dataclass(frozen=True)
class RolePreset:
    roles: tuple[str, ...]
    posts: tuple[str, ...] = ()


# Names people use for who they are, mapped onto token roles and governance posts.
ROLE_PRESETS: dict[str, RolePreset] = {
    "public": RolePreset((Role.PUBLIC,)),
    "viewer": RolePreset((Role.VIEWER,)),
    "reporter": RolePreset((Role.REPORTER, Role.VIEWER)),
    "admin": RolePreset((Role.ADMIN, Role.VIEWER), ("事務局",)),
    "jimukyoku": RolePreset((Role.ADMIN, Role.VIEWER), ("事務局",)),
    "executive": RolePreset((Role.EXECUTIVE, Role.VIEWER), ("DX推進本部",)),
    "honbu": RolePreset((Role.EXECUTIVE, Role.VIEWER), ("DX推進本部",)),
    "cio": RolePreset((Role.EXECUTIVE, Role.VIEWER), ("CIO", "DX推進本部")),
}
