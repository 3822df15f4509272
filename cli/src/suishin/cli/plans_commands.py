"""``suishin import``, ``suishin export`` and ``suishin export-xlsx``: plan files in and out;
``suishin report-deadline``: the due date of a period's progress reports.

``import`` validates the whole plan file first and prints every error with its location (file,
line, column, path) in Japanese and English; only a valid file is imported. The import runs as a
list of steps, each atomic in its own service schema: the plans step writes the tree; other
services append their step with :func:`register_import_step` (e.g. the indicator definitions).
``export`` works the same way in reverse: each export step fills its part of the plan-file data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from suishin.cli.config import cli_settings
from suishin.contracts.enums import Role
from suishin.contracts.planfile import PlanFile, PlanFileInvalid, dump_plan_file, load_plan_file
from suishin.kit.auth import Principal
from suishin.kit.clock import SystemClock
from suishin.kit.errors import DomainError
from suishin.kit.settings import PlatformSettings
from suishin.plans.commands import set_report_deadline
from suishin.plans.exporter import export_plan_data
from suishin.plans.importer import find_import_conflicts, import_plan_file
from suishin.plans.runtime import open_pool
from suishin.plans.xlsx import write_progress_xlsx

console = Console(stderr=True)
T = TypeVar("T")

StepProgress = Callable[[str, int, int], None]
"""``progress(what, done, total)``: advances the step's progress bar."""


@dataclass
class ImportContext:
    plan_file: PlanFile
    source: str
    settings: PlatformSettings
    progress: StepProgress
    overwrite: bool = False
    """The user confirmed that the file's values replace those changed in the system."""


@dataclass(frozen=True)
class ImportStep:
    """One service's part of an import; returns a one-line summary. Raise DomainError (or
    ImportRefused) to refuse; a step's writes are atomic in its own schema. ``conflicts``
    (reads only) lists, as bilingual ``IMPORT_CONFLICT`` errors, the values changed in the
    system since the last import that the file would overwrite: every step's conflicts are
    listed before any step writes, and without ``--overwrite`` nothing is imported."""

    name: str
    run: Callable[[ImportContext], Awaitable[str]]
    conflicts: Callable[[ImportContext], Awaitable[list[DomainError]]] | None = None


@dataclass
class ExportContext:
    tenant: str
    plan_key: str
    settings: PlatformSettings
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportStep:
    """One service's part of an export: fills ``ctx.data`` (plan-file field names)."""

    name: str
    run: Callable[[ExportContext], Awaitable[None]]


async def _import_plans(ctx: ImportContext) -> str:
    pool = await open_pool(ctx.settings)
    try:
        report = await import_plan_file(
            pool, ctx.plan_file, progress=ctx.progress, source=ctx.source, overwrite=ctx.overwrite
        )
    finally:
        await pool.close()
    return report.summary()


async def _plans_conflicts(ctx: ImportContext) -> list[DomainError]:
    pool = await open_pool(ctx.settings)
    try:
        return [c.error() for c in await find_import_conflicts(pool, ctx.plan_file)]
    finally:
        await pool.close()


async def _export_plans(ctx: ExportContext) -> None:
    pool = await open_pool(ctx.settings)
    try:
        ctx.data.update(await export_plan_data(pool, ctx.tenant, ctx.plan_key))
    finally:
        await pool.close()


IMPORT_STEPS: list[ImportStep] = [ImportStep("plans", _import_plans, _plans_conflicts)]
EXPORT_STEPS: list[ExportStep] = [ExportStep("plans", _export_plans)]


def register_import_step(step: ImportStep) -> None:
    """Append a step to ``suishin import`` (runs after the plans step)."""
    if all(s.name != step.name for s in IMPORT_STEPS):
        IMPORT_STEPS.append(step)


def register_export_step(step: ExportStep) -> None:
    """Append a step to ``suishin export`` (runs after the plans step)."""
    if all(s.name != step.name for s in EXPORT_STEPS):
        EXPORT_STEPS.append(step)


def load_or_exit(path: Path) -> PlanFile:
    """Load a plan file, or print every error with its location and exit 1."""
    try:
        return load_plan_file(path)
    except PlanFileInvalid as exc:
        for error in exc.errors:
            typer.echo(error.render("both"))
        console.print(
            f"[red]{len(exc.errors)} 件のエラーがあります。何も取り込んでいません。 / "
            f"{len(exc.errors)} error(s); nothing was imported.[/red]",
            highlight=False,
        )
        raise typer.Exit(1) from exc


def run_or_exit(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a refusal exits 1, an unreachable database exits 2."""
    try:
        return asyncio.run(work)
    except DomainError as exc:
        _fail_domain(exc)
        raise typer.Exit(1) from exc
    except OSError as exc:
        console.print(f"[red]データベースに接続できません / cannot reach the database: {exc}[/red]")
        raise typer.Exit(2) from exc


def _settings(database_url: str | None) -> PlatformSettings:
    return cli_settings(PlatformSettings, database_url=database_url or None)


def _fail_domain(exc: DomainError) -> None:
    errors: list[DomainError] = list(getattr(exc, "errors", None) or [exc])
    console.print(f"[red]{exc.message_ja} / {exc.message_en}[/red]", highlight=False)
    for e in errors:
        where = f"{e.field}: " if e.field else ""
        console.print(f"  {where}{e.message_ja} / {e.message_en} [{e.code}]", highlight=False)


async def _check_conflicts(plan_file: PlanFile, source: str, settings: PlatformSettings) -> None:
    """List the conflicts of every step before any step writes; refuse when there are any."""
    found: list[DomainError] = []
    for step in list(IMPORT_STEPS):
        if step.conflicts is not None:
            ctx = ImportContext(plan_file, source, settings, lambda *_: None)
            found += await step.conflicts(ctx)
    if found:
        raise ImportConflictsFound(found)


class ImportConflictsFound(DomainError):
    """Conflicts gathered over every import step (each a bilingual ``IMPORT_CONFLICT``)."""

    def __init__(self, errors: list[DomainError]) -> None:
        super().__init__(
            "IMPORT_CONFLICTS",
            f"システムで変更された{len(errors)}件の値を計画ファイルが上書きするため、"
            "何も取り込みませんでした（ファイルの値で上書きするには --overwrite を指定）",
            f"the plan file would overwrite {len(errors)} value(s) changed in the system; "
            "nothing was imported (to let the file's values win, add --overwrite)",
        )
        self.errors = errors


async def _run_import(
    plan_file: PlanFile, source: str, settings: PlatformSettings, overwrite: bool = False
) -> None:
    if not overwrite:
        await _check_conflicts(plan_file, source, settings)
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        for step in list(IMPORT_STEPS):
            task = progress.add_task(step.name, total=None, what="")

            def advance(what: str, done: int, total: int, task: Any = task) -> None:
                progress.update(task, completed=done, total=total or None, what=what)

            summary = await step.run(
                ImportContext(plan_file, source, settings, advance, overwrite=overwrite)
            )
            progress.update(task, what="done")
            progress.console.print(f"{step.name}: {summary}", highlight=False)


def import_command(
    plan_file: Path = typer.Argument(..., help="Plan file (YAML or JSON)."),
    database_url: str | None = typer.Option(
        None, help="PostgreSQL URL (default: SUISHIN_DATABASE_URL or the embedded one)."
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Let the file's values replace those changed in the system since the last import "
        "(statuses, edits, revised targets). Without it such conflicts are listed and nothing "
        "is imported.",
    ),
) -> None:
    """Validate a plan file completely, then import it (atomically per service)."""
    loaded = load_or_exit(plan_file)
    run_or_exit(_run_import(loaded, str(plan_file), _settings(database_url), overwrite))


async def _run_export(ctx: ExportContext) -> PlanFile:
    for step in list(EXPORT_STEPS):
        await step.run(ctx)
    return PlanFile.model_validate(ctx.data)


def export_command(
    plan_key: str = typer.Argument(..., help="Key of the plan, e.g. dx2025-late."),
    tenant: str = typer.Option(..., help="Municipality slug, e.g. itabashi."),
    output: Path = typer.Option(..., "-o", "--output", help="File to write ('-' for stdout)."),
    database_url: str | None = typer.Option(None, help="PostgreSQL URL."),
) -> None:
    """Write a stored plan back to the plan file format."""
    plan_file = run_or_exit(_run_export(ExportContext(tenant, plan_key, _settings(database_url))))
    text = dump_plan_file(plan_file)
    if str(output) == "-":
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}", highlight=False)


def export_xlsx_command(
    tenant: str = typer.Option(..., help="Municipality slug."),
    plan: str = typer.Option(..., help="Key of the plan."),
    output: Path = typer.Option(..., "-o", "--output", help="The .xlsx file to write."),
    database_url: str | None = typer.Option(None, help="PostgreSQL URL."),
) -> None:
    """Write the 進捗状況一覧 (measures, owners, yearly plan, actuals, grades) as Excel."""

    async def run() -> None:
        pool = await open_pool(_settings(database_url))
        try:
            await write_progress_xlsx(pool, tenant, plan, output)
        finally:
            await pool.close()

    run_or_exit(run())
    console.print(f"wrote {output}", highlight=False)


# --- progress-report deadlines (進捗報告の提出期限) ------------------------------------------


def report_deadline_command(
    tenant: str = typer.Option(..., help="Municipality slug."),
    period: str = typer.Option(..., help="FY2024 or FY2024-H1."),
    due: str = typer.Option(..., help="Due date, YYYY-MM-DD."),
    remind: list[int] = typer.Option(
        [], help="Reminder, days before the due date (repeat; default 14, 7 and 1)."
    ),
    by: str = typer.Option("cli", help="Who sets it (kept with the deadline)."),
    database_url: str | None = typer.Option(None, help="PostgreSQL URL."),
) -> None:
    """Set the due date of a period's progress reports for a ward (as the 事務局)."""
    try:
        due_on = date.fromisoformat(due)
    except ValueError as exc:
        console.print(f"[red]日付は YYYY-MM-DD で指定してください / use YYYY-MM-DD: {due}[/red]")
        raise typer.Exit(1) from exc
    actor = Principal(subject=by, tenant=tenant, roles=frozenset({Role.ADMIN}))

    async def run() -> Any:
        pool = await open_pool(_settings(database_url))
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await set_report_deadline(
                    conn, actor, period, due_on, remind or None, now=SystemClock().now()
                )
        finally:
            await pool.close()

    row = run_or_exit(run())
    days = "、".join(str(d) for d in row["reminder_days"])
    console.print(
        f"{tenant} {row['period']}: 提出期限 {row['due_on']}（{days}日前に通知） / "
        f"due {row['due_on']}, reminders {days} days before",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add the plan-file commands to the ``suishin`` CLI."""
    app.command("import")(import_command)
    app.command("export")(export_command)
    app.command("export-xlsx")(export_xlsx_command)
    app.command("report-deadline")(report_deadline_command)
