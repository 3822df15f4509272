"""The directory file of a tenant (``datasets/directory/<tenant>.yaml``, the model in
:mod:`suishin.notifications.domain.directory`): reading it, and importing it into the service."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import yaml
from pydantic import ValidationError

from suishin.notifications import commands
from suishin.notifications.domain.directory import (
    Directory,
    Loc,
    Problem,
    Webhook,
    format_loc,
)

log = logging.getLogger(__name__)

_PYDANTIC_JA = {
    "missing": "必須項目がありません",
    "extra_forbidden": "未知の項目です",
    "string_type": "文字列を指定してください",
    "string_too_short": "空にできません",
    "string_too_long": "長すぎます",
    "string_pattern_mismatch": "形式が正しくありません",
    "bool_type": "true か false を指定してください",
    "bool_parsing": "true か false を指定してください",
    "int_type": "整数を指定してください",
    "int_parsing": "整数を指定してください",
    "list_type": "リストを指定してください",
    "model_type": "マッピング（キーと値）を指定してください",
    "dict_type": "マッピング（キーと値）を指定してください",
    "literal_error": "許可されていない値です",
    "enum": "許可されていない値です",
    "date_from_datetime_parsing": "日付を指定してください（例: 2025-04-01）",
    "date_parsing": "日付を指定してください（例: 2025-04-01）",
    "date_type": "日付を指定してください（例: 2025-04-01）",
    "greater_than_equal": "値が小さすぎます",
    "less_than_equal": "値が大きすぎます",
    "value_error": "値が正しくありません",
}


@dataclass(frozen=True)
class DirectoryError:
    """One problem of a directory file, located like a plan file's: file:line:column, the
    path in the data, a stable code, a message in Japanese and in English."""

    file: str
    path: str
    line: int | None
    column: int | None
    code: str
    message_ja: str
    message_en: str

    def render(self, lang: str = "both") -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}:{self.column or 1}"
        msg = {"ja": self.message_ja, "en": self.message_en}.get(
            lang, f"{self.message_ja} / {self.message_en}"
        )
        return f"{where} {self.path}: {msg}" if self.path else f"{where}: {msg}"


class DirectoryInvalid(ValueError):
    """A directory file that cannot be imported; carries every error found."""

    def __init__(self, file: str, errors: list[DirectoryError]) -> None:
        self.file = file
        self.errors = errors
        super().__init__(f"{file}: {len(errors)} error(s)\n" + self.render())

    def render(self, lang: str = "both") -> str:
        """One line per error: ``file:line:col path: message`` (lang: ja, en or both)."""
        return "\n".join(e.render(lang) for e in self.errors)


class _Marks:
    """Where each value (and each mapping key) of the YAML data starts in the text."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.value: dict[Loc, tuple[int, int]] = {}
        self.key: dict[Loc, tuple[int, int]] = {}
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, loc: Loc) -> None:
        self.value[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            for knode, vnode in node.value:
                k = knode.value if isinstance(knode, yaml.ScalarNode) else str(knode)
                self.key[(*loc, k)] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
                self._walk(vnode, (*loc, k))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*loc, i))

    def find(self, loc: Loc, *, key: bool = False) -> tuple[int | None, int | None]:
        if key and loc in self.key:
            return self.key[loc]
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.value:
                return self.value[loc[:n]]
        return None, None


def _data_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """Pydantic's loc without its validator tags: only the keys and indexes of the data."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        if (isinstance(cur, dict) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        ):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and "[" not in part:
            out.append(part)  # a missing key: reported on the mapping that lacks it
            cur = None
    return tuple(out)


def loads_directory(text: str, filename: str = "<string>") -> Directory:
    """Parse and validate a directory file's text; raise :class:`DirectoryInvalid` with every
    error, located (file:line:column) and in Japanese and English."""

    def fail(line: int | None, column: int | None, code: str, ja: str, en: str) -> NoReturn:
        raise DirectoryInvalid(filename, [DirectoryError(filename, "", line, column, code, ja, en)])

    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "syntax error"
        fail(
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
            "yaml_syntax",
            f"YAML の構文エラーです: {problem}",
            f"YAML syntax error: {problem}",
        )
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        fail(
            1,
            1,
            "not_a_mapping",
            "名簿ファイルの最上位はマッピング（キーと値）でなければなりません",
            "the top level of a directory file must be a mapping",
        )
    marks = _Marks(root)
    problems: list[Problem] = []
    errors: list[DirectoryError] = []
    try:
        directory = Directory.model_validate(data, context={"problems": problems})
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = _data_loc(data, err["loc"])
            code = str(err.get("type", "value_error"))
            ja = _PYDANTIC_JA.get(code, "値が正しくありません")
            en = str(err.get("msg", "invalid value"))
            if code in ("literal_error", "enum") and (err.get("ctx") or {}).get("expected"):
                ja += f"（許可: {err['ctx']['expected']}）"
            if code == "value_error":  # a model's own check: its English reason, kept
                ja = f"{ja}: {en.removeprefix('Value error, ')}"
            line, column = marks.find(loc, key=code == "extra_forbidden")
            errors.append(DirectoryError(filename, format_loc(loc), line, column, code, ja, en))
    else:
        for p in problems:
            line, column = marks.find(p.loc)
            errors.append(
                DirectoryError(
                    filename, format_loc(p.loc), line, column, p.code, p.message_ja, p.message_en
                )
            )
    if errors:
        errors.sort(key=lambda e: (e.line or 0, e.column or 0))
        raise DirectoryInvalid(filename, errors)
    return directory


def load_directory(path: Path | str) -> Directory:
    """Read and validate a directory file; raise :class:`DirectoryInvalid` (located, ja/en)."""
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DirectoryInvalid(
            str(path),
            [
                DirectoryError(
                    str(path),
                    "",
                    None,
                    None,
                    "unreadable",
                    f"ファイルを読めません: {exc}",
                    f"cannot read file: {exc}",
                )
            ],
        ) from exc
    return loads_directory(text, str(path))


def webhook_secret(webhook: Webhook) -> str:
    """A webhook's signing secret: from its environment variable, else given inline."""
    if webhook.secret_env:
        value = os.environ.get(webhook.secret_env)
        if value:
            return value
        if not webhook.secret:
            raise ValueError(
                f"webhook {webhook.id}: environment variable {webhook.secret_env} unset"
            )
    if not webhook.secret:
        raise ValueError(f"webhook {webhook.id}: needs secret or secret_env")
    return webhook.secret


async def import_directory(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection, directory: Directory
) -> dict[str, int]:
    """Replace the tenant's directory with ``directory`` in one transaction.

    Rules and subscriptions that came from a directory file are replaced; those people created
    through the API are kept, and so are preferences a person changed themselves. Importing the
    same file twice changes nothing.
    """
    secrets = {w.id: webhook_secret(w) for w in directory.webhooks}
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn, conn.transaction():
            counts = await commands.import_directory(conn, directory, secrets)
    else:
        async with pool_or_conn.transaction():
            counts = await commands.import_directory(pool_or_conn, directory, secrets)
    log.info("directory imported", extra={"tenant": directory.tenant, **counts})
    return counts
