"""The whole platform with the portal (as `suishin up` runs it) and one real headless Chromium
per module, driven by Playwright with the system's Chromium (installed from Debian's packages,
never downloaded by Playwright).

Under CI the browser tests must run: without /usr/bin/chromium they fail there, and are only
skipped on a developer machine that has no Chromium."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SUISHIN_CHROMIUM", "/usr/bin/chromium")
A11Y = ROOT / "tools" / "a11y"
SCREENSHOTS = ROOT / "test-output" / "screenshots"

# The end-to-end fixtures (a module-scoped platform and 板橋区 loaded into it) are reused as is:
# the platform's process list includes the portal.
_spec = importlib.util.spec_from_file_location(
    "suishin_e2e_conftest", ROOT / "tests/e2e/conftest.py"
)
assert _spec and _spec.loader
e2e = importlib.util.module_from_spec(_spec)
sys.modules["suishin_e2e_conftest"] = e2e
_spec.loader.exec_module(e2e)
platform = e2e.platform
ward = e2e.ward


def chromium_or_skip() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI installs it (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def chromium_path() -> str:
    return chromium_or_skip()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture(scope="session")
def axe_script() -> str:
    """axe-core from npm (tools/a11y, locked), installed on first use like tools/federation."""
    script = A11Y / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        if shutil.which("npm") is None:
            if os.environ.get("CI"):
                pytest.fail("npm is needed for axe-core")
            pytest.skip("npm is needed for axe-core")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=A11Y, check=True, capture_output=True
        )
    return script.read_text("utf-8")


@pytest.fixture(scope="session")
def screenshots() -> Iterator[Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield SCREENSHOTS


# --- the portal in-process against a fake gateway (the unit tests of web/) --------------------


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


@contextlib.asynccontextmanager
async def portal_signed_in(
    gateway: httpx.AsyncBaseTransport, subject: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the portal (built on ``gateway``), signed in as a demo user."""
    from suishin.web.app import build
    from suishin.web.settings import WebSettings

    app = build(WebSettings(session_secret="s" * 32), transport=gateway)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://portal"
    ) as c:
        page = await c.get("/signin")
        await c.post("/signin/dev", data={"csrf": csrf_of(page.text), "subject": subject})
        yield c
