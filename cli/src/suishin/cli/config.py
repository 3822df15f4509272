"""Settings for CLI commands (`replay`, `import`, `export`, `directory import`, ...).

The database and the broker are, in order: ``SUISHIN_DATABASE_URL`` / ``SUISHIN_KAFKA_BOOTSTRAP``;
else, when neither that URL nor the port variable is set, what the ``suishin up`` running on
``SUISHIN_DATA_DIR`` wrote in its state file; else the embedded ones on ``SUISHIN_PG_PORT`` /
``SUISHIN_BROKER_PORT`` (see :class:`suishin.kit.settings.PlatformSettings`). So with two
instances, each command talks to its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from suishin.cli.stack import running_state
from suishin.kit.settings import PlatformSettings

S = TypeVar("S", bound=PlatformSettings)


def cli_settings(cls: type[S], **overrides: Any) -> S:
    values: dict[str, Any] = {}
    state = running_state(Path(os.environ.get("SUISHIN_DATA_DIR", ".suishin")))
    if state is not None:
        if not {"SUISHIN_DATABASE_URL", "SUISHIN_PG_PORT"} & os.environ.keys():
            values["database_url"] = state.database_url
        if not {"SUISHIN_KAFKA_BOOTSTRAP", "SUISHIN_BROKER_PORT"} & os.environ.keys():
            values["kafka_bootstrap"] = state.kafka_bootstrap
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)
