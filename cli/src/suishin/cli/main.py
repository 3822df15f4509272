"""``suishin``: run the platform, check on it, mint dev tokens."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from types import FrameType

import typer

from suishin.cli import indicators_commands, plans_commands
from suishin.cli.config import cli_settings
from suishin.cli.notifications_commands import directory_app
from suishin.cli.stack import Stack, StackError, request_restart, status
from suishin.cli.tokens import ROLE_PRESETS
from suishin.devstack.embedded import EmbeddedError
from suishin.kit.auth import issue_token
from suishin.kit.settings import PlatformSettings

app = typer.Typer(
    help="Suishin (推進): the platform for municipal ICT/DX plans.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(directory_app, name="directory")


def _data_dir() -> Path:
    return Path(os.environ.get("SUISHIN_DATA_DIR", ".suishin"))


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
        typer.echo(message)


@app.command()
def up(
    demo: bool = typer.Option(True, help="Load the four reference plans and demo users."),
    base_port: int = typer.Option(
        4000, help="Gateway port; services use the next three (SUISHIN_*_PORT win)."
    ),
) -> None:
    """Start PostgreSQL and the broker (embedded unless configured), every service and the
    gateway; load the demo data; supervise them (a process that dies is restarted); stop
    everything on Ctrl-C, SIGTERM or SIGHUP."""
    started = time.monotonic()
    stack = Stack(_data_dir(), base_port=base_port, say=_say)
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        try:
            stack.start_infrastructure()
            _say("starting services ...")
            stack.start_services()
            if demo:
                from suishin.cli.demo import load_demo

                load_demo(stack, say=_say)
            gateway = next(s for s in stack.specs if s.name == "gateway")
            web = next(s for s in stack.specs if s.name == "web")
            _say(
                f"\nSuishin is up in {time.monotonic() - started:.1f}s.\n"
                f"  Ward portal: {web.base_url}/\n"
                f"  GraphQL gateway (GraphiQL): {gateway.base_url}/graphql\n"
                "  `suishin status` shows what runs, `suishin restart SERVICE` restarts one;\n"
                "  a process that dies is restarted; Ctrl-C stops everything."
            )
            while stack.supervisor_alive():
                time.sleep(1)
            raise StackError("the supervisor stopped unexpectedly")
        except KeyboardInterrupt:
            _say("\nstopping ...")
        except (StackError, EmbeddedError) as exc:
            with contextlib.suppress(OSError):
                typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from exc
        finally:
            stopping = True
            stack.stop()
    except KeyboardInterrupt:  # a signal during the stop: it goes on regardless
        stack.stop()
    _say("stopped.")


@app.command("status")
def status_command() -> None:
    """Show what runs: each process, its pid, restarts and readiness."""
    ok, rows = status(_data_dir())
    good = ("ready", "running", "external")
    for name, state, detail in rows:
        colour = typer.colors.GREEN if state in good else typer.colors.RED
        typer.echo(f"{name:<14} " + typer.style(f"{state:<14}", fg=colour) + f" {detail}")
    raise typer.Exit(0 if ok else 1)


@app.command()
def restart(
    service: str = typer.Argument(
        ..., help="plans, indicators, notifications, gateway or smtp-sink."
    ),
    timeout: float = typer.Option(120, help="Seconds to wait until it is ready again."),
) -> None:
    """Restart one service of the running `suishin up` and wait until it is ready again."""
    try:
        pid = request_restart(_data_dir(), service, timeout)
    except StackError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{service} restarted (pid {pid}) and ready")


@app.command()
def token(
    tenant: str = typer.Option(..., help="Municipality slug, e.g. itabashi."),
    role: str = typer.Option("viewer", help=f"One of: {', '.join(ROLE_PRESETS)}."),
    department: list[str] = typer.Option([], help="Department code(s) for a reporter."),
    subject: str | None = typer.Option(None, help="User id (defaults to role@tenant)."),
    name: str | None = typer.Option(None, help="Display name."),
    hours: int = typer.Option(12, help="Validity in hours."),
) -> None:
    """Print a dev bearer token (embedded default; production uses your OIDC provider)."""
    preset = ROLE_PRESETS.get(role)
    if preset is None:
        typer.secho(
            f"unknown role {role!r}; choose one of {', '.join(ROLE_PRESETS)}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    if "reporter" in preset.roles and not department:
        typer.secho("a reporter needs --department", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    settings = PlatformSettings()
    typer.echo(
        issue_token(
            settings,
            subject=subject or f"{role}@{tenant}",
            tenant=tenant,
            roles=list(preset.roles),
            departments=department,
            posts=list(preset.posts),
            name=name,
            ttl_seconds=hours * 3600,
        )
    )


SERVICE_SCHEMAS = ("plans", "indicators", "notifications")


@app.command()
def replay(
    minutes: int = typer.Option(60, help="Republish events published in the last N minutes."),
) -> None:
    """Republish recent events from every service's outbox, by hand.

    Not needed after a broker loss: each service notices a broker that restarted empty and
    publishes its outbox again by itself (docs/reliability.md). Consumers are idempotent, so
    replaying more than was lost only fills the gaps.
    """
    import asyncio
    from datetime import UTC, datetime, timedelta

    from suishin.kit.broker import ensure_topics, platform_topics
    from suishin.kit.db import create_pool
    from suishin.kit.outbox import replay as replay_outbox

    settings = cli_settings(PlatformSettings)
    since = datetime.now(UTC) - timedelta(minutes=minutes)

    async def run() -> None:
        # A broker that restarted empty has no topics yet; create them with their partitions.
        await ensure_topics(settings.kafka_bootstrap, platform_topics(settings))
        for name in SERVICE_SCHEMAS:
            pool = await create_pool(settings.database_url, settings.schema_name(name))
            try:
                count = await replay_outbox(pool, since)
            finally:
                await pool.close()
            typer.echo(f"{name:<14} {count} event(s) queued for republishing")

    asyncio.run(run())


plans_commands.register(app)
indicators_commands.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
