"""The indicators service's part of ``suishin import`` / ``suishin export``, and
``suishin import-indicators``.

``suishin import PLAN_FILE`` runs a list of steps (see :mod:`suishin.cli.plans_commands`); this
module appends the step that creates or updates the plan's indicator definitions (targets,
target revisions, sub-series, owners, links to measures), and the export step that writes them
back (with targets revised and actuals reported since). ``suishin import-indicators`` runs the
import step alone, e.g. to refresh targets without touching the plan tree.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from suishin.cli.config import cli_settings
from suishin.cli.plans_commands import (
    ExportContext,
    ExportStep,
    ImportContext,
    ImportStep,
    load_or_exit,
    register_export_step,
    register_import_step,
    run_or_exit,
)
from suishin.contracts.planfile import PlanFile
from suishin.indicators.exporter import export_indicator_data
from suishin.indicators.importer import (
    ImportReport,
    find_import_conflicts,
    import_indicator_definitions,
)
from suishin.indicators.importer import Progress as ImportProgress
from suishin.indicators.runtime import open_pool
from suishin.kit.errors import DomainError
from suishin.kit.settings import PlatformSettings

console = Console(stderr=True)


async def import_indicators(
    plan_file: PlanFile,
    settings: PlatformSettings,
    progress: ImportProgress | None = None,
    overwrite: bool = False,
) -> ImportReport:
    pool = await open_pool(settings)
    try:
        return await import_indicator_definitions(
            pool, plan_file, progress=progress, overwrite=overwrite
        )
    finally:
        await pool.close()


async def _import_step(ctx: ImportContext) -> str:
    report = await import_indicators(
        ctx.plan_file,
        ctx.settings,
        progress=lambda done, total: ctx.progress("indicators", done, total),
        overwrite=ctx.overwrite,
    )
    return report.summary()


async def _conflicts_step(ctx: ImportContext) -> list[DomainError]:
    pool = await open_pool(ctx.settings)
    try:
        return [c.error() for c in await find_import_conflicts(pool, ctx.plan_file)]
    finally:
        await pool.close()


IMPORT_STEP = ImportStep("indicators", _import_step, _conflicts_step)


async def _export_step(ctx: ExportContext) -> None:
    pool = await open_pool(ctx.settings)
    try:
        ctx.data["indicators"] = await export_indicator_data(pool, ctx.tenant, ctx.plan_key)
    finally:
        await pool.close()


EXPORT_STEP = ExportStep("indicators", _export_step)


def import_indicators_command(
    plan_file: Path = typer.Argument(..., help="Plan file (YAML or JSON)."),
    database_url: str | None = typer.Option(
        None, help="PostgreSQL URL (default: SUISHIN_DATABASE_URL or the embedded one)."
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Let the file's targets replace those revised in the system since the last "
        "import. Without it such conflicts are listed and nothing is imported.",
    ),
) -> None:
    """Import only the indicator definitions of a plan file (atomic, idempotent)."""
    loaded = load_or_exit(plan_file)
    settings = cli_settings(PlatformSettings, database_url=database_url or None)

    async def run() -> ImportReport:
        with Progress(
            TextColumn("indicators"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("indicators", total=None)
            return await import_indicators(
                loaded,
                settings,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                overwrite=overwrite,
            )

    report = run_or_exit(run())
    console.print(f"indicators: {report.summary()}", highlight=False)
    if report.not_in_file:
        console.print(
            f"  {len(report.not_in_file)} indicator(s) of this plan are not in the file (kept): "
            + ", ".join(report.not_in_file),
            highlight=False,
        )


# Importing this module adds the indicators steps to ``suishin import`` / ``export``, so every
# caller of the step lists (the CLI, the demo loader, tests) runs the same steps.
register_import_step(IMPORT_STEP)
register_export_step(EXPORT_STEP)


def register(app: typer.Typer) -> None:
    """Add ``import-indicators`` to the CLI."""
    app.command("import-indicators")(import_indicators_command)
