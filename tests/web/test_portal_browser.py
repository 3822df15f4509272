"""The ward portal in a real headless Chromium, on the whole platform (板橋区 loaded, another
ward and an unpublished plan beside it).

Each demo role signs in; the CIO reads the plan; the 所管課 reporter reports actuals far below
target through the form and the 事務局 sees the alert arrive live in their inbox and
acknowledges it with a comment; the CIO opens the measure from the link of the e-mail they
received; the xlsx and the PDF download and open; the public page shows published data only
and passes axe-core (no serious or critical violation). A 練馬区 progress report goes through
its whole cycle in the browser: the reporter writes it (an empty 実績 and a stale version are
refused next to the field, nothing typed lost) and submits, the 事務局 returns it with a comment,
the reporter resubmits, the 事務局 accepts, the 本部 approves and publishes, and the public page
shows it without a token (a draft beside it stays hidden) and passes axe-core. The 事務局 sets a
deadline on its page (the API's refusal next to the field first); the reporter corrects the
published report by a new version, which goes through review and replaces the published one on
the public page while the measure page keeps the old one as superseded; axe-core passes on the
report form and the review queue too. A screenshot of every page is kept in
test-output/screenshots/."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from openpyxl import load_workbook
from pypdf import PdfReader

from suishin.cli.demo import import_plans
from suishin.cli.plans_commands import IMPORT_STEPS
from suishin.contracts.planfile import load_plan_file
from suishin.devstack.testing import wait_until
from suishin.kit.auth import issue_token

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
PLAN_TITLE = "板橋区DX推進計画2025 後期実施計画"
MEASURE_KEYS = ("dx2025-late.l13", "dx2025-late.l14")  # マイナンバーカード, 戸籍住民課 reports
DRAFT_TITLE = "未公表の下書き計画（ポータル試験）"
ROLES = {
    "cio@itabashi": "板橋 太郎",
    "jimukyoku@itabashi": "事務 花子",
    "reporter@itabashi": "戸籍 次郎",
    "honbu@itabashi": "本部 一郎",
}


class Portal:
    """One browser context per signed-in person (separate cookies), on the portal's URL."""

    def __init__(self, browser: Any, url: str, screenshots: Path) -> None:
        self.browser = browser
        self.url = url
        self.screenshots = screenshots
        self.pages: dict[str, Any] = {}

    async def page_of(self, subject: str) -> Any:
        if subject not in self.pages:
            context = await self.browser.new_context(locale="ja-JP", accept_downloads=True)
            page = await context.new_page()
            page.set_default_timeout(20_000)
            await page.goto(f"{self.url}/signin")
            await page.click(f"button[data-subject='{subject}']")
            await page.wait_for_selector("header .who")
            self.pages[subject] = page
        return self.pages[subject]

    async def shot(self, page: Any, name: str) -> None:
        await page.screenshot(path=str(self.screenshots / f"{name}.png"), full_page=True)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def portal(ward: Any, browser: Any, screenshots: Path, tmp_path_factory: Any) -> Any:
    # Beside 板橋区's published plan: another ward's plan and an unpublished 板橋区 draft.
    other = DATASETS / "nerima-ict2020.yaml"
    draft_text = (
        (DATASETS / "itabashi-dx2025-early.yaml")
        .read_text("utf-8")
        .replace("  key: dx2025-early\n", "  key: portal-draft\n", 1)
        .replace(
            "  title: 板橋区ICT推進・活用計画2025 前期実施計画\n", f"  title: {DRAFT_TITLE}\n", 1
        )
        .replace("  state: superseded\n", "  state: draft\n", 1)
    )
    draft = tmp_path_factory.mktemp("draft") / "itabashi-portal-draft.yaml"
    draft.write_text(draft_text, "utf-8")
    await import_plans([(other, load_plan_file(other))], ward.settings, lambda _m: None)
    plans_only = [s for s in IMPORT_STEPS if s.name == "plans"]
    from suishin.cli.plans_commands import ImportContext

    draft_file = load_plan_file(draft)
    for step in plans_only:
        await step.run(ImportContext(draft_file, str(draft), ward.settings, lambda *_: None))
    web = next(s for s in ward.stack.specs if s.name == "web")
    portal = Portal(browser, web.base_url, screenshots)
    yield portal
    for page in portal.pages.values():
        await page.context.close()


async def test_each_demo_role_signs_in_and_sees_its_menu(portal: Portal) -> None:
    for subject, name in ROLES.items():
        page = await portal.page_of(subject)
        assert name in await page.inner_text("header .who")
        menu = await page.inner_text("header nav")
        assert ("実績の報告" in menu) == (subject.startswith(("reporter", "jimukyoku")))
        assert ("本部 年度まとめ" in menu) == (not subject.startswith("reporter"))
        await portal.shot(page, f"home-{subject.split('@')[0]}")
    # The sign-in page itself, and English on request.
    page = await portal.page_of("cio@itabashi")
    await page.click("text=English")
    assert "Plans" in await page.inner_text("header nav")
    await page.click("text=日本語")
    assert "計画" in await page.inner_text("header nav")


async def test_the_cio_reads_the_plan_with_its_own_level_names_and_filters(portal: Portal) -> None:
    page = await portal.page_of("cio@itabashi")
    await page.goto(portal.url + "/")
    await page.click(f"text={PLAN_TITLE}")
    await page.wait_for_selector("h1")
    assert PLAN_TITLE in await page.inner_text("h1")
    assert "ビジョン ＞ 基本方針・推進体制強化 ＞ 施策 ＞ 事業量" in await page.inner_text(
        "#tree-h"
    )
    assert "評価集計" in await page.inner_text("table.counts caption")
    everything = await page.locator(".tree .node.measure").count()
    assert everything == 17
    await portal.shot(page, "plan-dashboard")
    await page.select_option("select[name=department]", "戸籍住民課")
    await page.click("form.filters button")
    await page.wait_for_url(re.compile(r"department="))
    filtered = await page.locator(".tree .node.measure").count()
    assert 0 < filtered < everything
    await portal.shot(page, "plan-dashboard-filtered")


async def test_settings_show_the_typed_error_next_to_the_field_and_keep_the_input(
    portal: Portal,
) -> None:
    page = await portal.page_of("cio@itabashi")
    await page.goto(portal.url + "/settings")
    # The CIO wants e-mail at once, even at night and on holidays (the test may run then).
    await page.uncheck("input[name=respectQuietHours]")
    await page.check("input[name=cadence][value=DAILY]")
    # A language the API does not know (the select is altered, as a hand-made request would).
    await page.evaluate(
        "document.getElementById('language').add(new Option('français', 'fr', true, true))"
    )
    await page.click("form.stack button[type=submit]")
    error = await page.inner_text("#err-language")
    assert "ja" in error and "en" in error, error
    assert await page.get_attribute("#language", "aria-invalid") == "true"
    assert not await page.is_checked("input[name=respectQuietHours]")  # kept as typed
    assert await page.is_checked("input[name=cadence][value=DAILY]")
    await portal.shot(page, "settings-error")
    await page.select_option("#language", "ja")
    await page.check("input[name=cadence][value=IMMEDIATE]")
    await page.click("form.stack button[type=submit]")
    assert "保存しました" in await page.inner_text("main")
    assert not await page.is_checked("input[name=respectQuietHours]")
    await portal.shot(page, "settings")


async def test_a_report_below_target_reaches_the_jimukyoku_live_and_is_acknowledged(
    portal: Portal, ward: Any
) -> None:
    office = await portal.page_of("jimukyoku@itabashi")
    await office.goto(portal.url + "/inbox")
    await office.wait_for_selector("#live-state[data-connected='1']")
    await portal.shot(office, "inbox-before")

    reporter = await portal.page_of("reporter@itabashi")
    await reporter.goto(portal.url + "/report")
    rows = await reporter.inner_text("main table")
    assert "マイナンバーカード交付数" in rows
    await portal.shot(reporter, "report")
    # A period the API refuses: its typed error next to the field, everything typed kept.
    await reporter.select_option("#f-indicatorKey", MEASURE_KEYS[0])
    await reporter.fill("#f-period", "FY2099")
    await reporter.fill("#f-value", "300")
    await reporter.fill("#f-comment", "窓口集計")
    await reporter.click("main form.stack button[type=submit]")
    error = await reporter.inner_text("#err-period")
    assert "期間" in error and "FY2099" in error, error
    assert await reporter.get_attribute("#f-period", "aria-invalid") == "true"
    assert await reporter.input_value("#f-period") == "FY2099"
    assert await reporter.input_value("#f-value") == "300"
    assert await reporter.input_value("#f-comment") == "窓口集計"
    assert await reporter.input_value("#f-indicatorKey") == MEASURE_KEYS[0]
    await portal.shot(reporter, "report-error")
    # Far below the targets of both workloads of the measure.
    for key, value in zip(MEASURE_KEYS, ("300", "1000"), strict=True):
        await reporter.select_option("#f-indicatorKey", key)
        await reporter.fill("#f-period", "FY2024")
        await reporter.fill("#f-value", value)
        await reporter.fill("#f-comment", "")
        await reporter.click("main form.stack button[type=submit]")
        result = await reporter.inner_text("main .ok")
        assert "未達" in result, result
    await portal.shot(reporter, "report-sent")

    live = office.locator("li.notice[data-live='1']", has_text="マイナンバーカード")
    await live.first.wait_for(timeout=90_000)
    await portal.shot(office, "inbox-live")
    notice_id = (await live.first.get_attribute("id") or "").removeprefix("n-")
    await live.first.locator("input[name=comment]").fill("所管課に確認済み。下期に回復見込み")
    await live.first.locator("button[type=submit]").click()
    await office.wait_for_selector(f"#n-{notice_id} .acked, #n-{notice_id} .error")
    acked = office.locator(f"#n-{notice_id} .acked")
    assert await acked.count() == 1, await office.inner_text(f"#n-{notice_id}")
    assert "所管課に確認済み" in await acked.inner_text()
    await portal.shot(office, "inbox-acknowledged")

    async def acknowledged() -> bool:
        data = await ward.query(
            ward.jimukyoku,
            "query($id: ID!) { notification(id: $id) { acknowledgedAt } }",
            id=notice_id,
        )
        return bool(data["notification"]["acknowledgedAt"])

    await wait_until(acknowledged, timeout=10, message="acknowledged through the API")


async def test_the_cio_opens_the_measure_from_the_link_in_the_e_mail(
    portal: Portal, ward: Any
) -> None:
    async def failing_mail() -> list[EmailMessage]:
        return [
            m for m in ward.mails_to("cio@itabashi.example.jp") if "未達成" in str(m["Subject"])
        ]

    mail = (await wait_until(failing_mail, timeout=120, message="the CIO's e-mail"))[0]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(re.escape(portal.url) + r"/measures/[0-9a-f-]+", text)
    assert link, text
    assert f"{portal.url}/settings" in text  # ポータルの通知設定
    page = await portal.page_of("cio@itabashi")
    await page.goto(link.group(0))
    assert "マイナンバーカード" in await page.inner_text("main")
    card = page.locator("section.indicator", has_text="マイナンバーカード交付数（年度）")
    why = await card.locator("p.why").inner_text()
    assert "なぜこの状態か（令和6年度）" in why and "300" in why, why
    assert await page.locator("svg.chart title").count() >= 2
    assert "未達成" in await page.inner_text("main")  # the 2024 grade
    await portal.shot(page, "measure")
    await card.locator("h3 a").click()
    await page.wait_for_selector("table.reports")
    assert "300" in await page.inner_text("table.reports")
    await portal.shot(page, "indicator")


async def test_the_xlsx_and_the_pdf_download_and_open(portal: Portal) -> None:
    page = await portal.page_of("honbu@itabashi")
    await page.goto(portal.url + "/summary")
    assert "評価集計" in await page.inner_text("main")
    await portal.shot(page, "summary")
    async with page.expect_download() as xlsx_download:
        await page.click("main a[href$='progress.xlsx']")
    xlsx_path = Path(await (await xlsx_download.value).path())
    workbook = load_workbook(io.BytesIO(await asyncio.to_thread(xlsx_path.read_bytes)))
    assert workbook.sheetnames == ["進捗状況一覧", "評価集計"]
    sheet = workbook["進捗状況一覧"]
    assert PLAN_TITLE in str(sheet["A1"].value)
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    assert len(rows) == 17
    header = [c.value for c in sheet[2]]
    assert header[1] == "施策名" and header[4] == "令和6年度 計画"  # the plan's words, 和暦
    assert "国の計画との対応" in header and header[-1] == "令和7年度 スケジュール進捗"
    assert any("未達成" in str(cell) for row in rows for cell in row)

    async with page.expect_download() as pdf_download:
        await page.click("main a[href$='honbu.pdf']")
    pdf_path = await (await pdf_download.value).path()
    reader = PdfReader(io.BytesIO(await asyncio.to_thread(Path(pdf_path).read_bytes)))
    assert len(reader.pages) == 3
    # pypdf reads fpdf2's CID text as UTF-16 code units (NULs between the characters).
    text = "".join(p.extract_text() for p in reader.pages).replace("\x00", "").replace(" ", "")
    for expected in (
        "評価集計",
        "未達・注意の指標と理由",
        "マイナンバーカード",
        "報告期限を過ぎた実績",
    ):
        assert expected in text, expected
    if shutil.which("pdftotext"):  # poppler reads the embedded Japanese font too
        out = await asyncio.create_subprocess_exec(
            "pdftotext", str(pdf_path), "-", stdout=asyncio.subprocess.PIPE
        )
        assert "評価集計" in (await out.communicate())[0].decode()
    fonts = {
        str(f.get_object()["/BaseFont"])
        for p in reader.pages
        for f in (p["/Resources"]["/Font"] or {}).values()
    }
    assert any("Noto" in f for f in fonts), fonts


async def test_graphiql_opens_with_the_token_in_its_headers_and_none_in_the_url(
    portal: Portal,
) -> None:
    page = await portal.page_of("jimukyoku@itabashi")
    await page.goto(portal.url + "/graphiql")
    await page.click("main form button")
    await page.wait_for_selector(".graphiql-editors, .graphiql-container .graphiql-sessions")
    assert "token" not in page.url.lower() and "ey" not in page.url
    await portal.shot(page, "graphiql")
    config = await page.inner_text("#graphiql-config")
    assert "Bearer " in config


async def test_the_public_page_shows_published_data_only_and_passes_axe(
    portal: Portal, browser: Any, axe_script: str
) -> None:
    # The page's CSP forbids inline scripts; the test injects axe-core all the same.
    context = await browser.new_context(locale="ja-JP", bypass_csp=True)
    try:
        page = await context.new_page()
        response = await page.goto(f"{portal.url}/public/itabashi")
        assert response.status == 200
        main = await page.inner_text("main")
        assert PLAN_TITLE in main
        assert DRAFT_TITLE not in main  # unpublished
        assert "練馬区" not in main  # another ward
        assert "ICT推進・活用計画2025 前期" not in main  # superseded
        # The grade the machine computed from this year's reports is not published data.
        assert "令和6年度 未達成" not in main and "2024年度 未達成" not in main
        assert "令和" in main  # years in the ward's style (和暦 by default)
        assert await page.get_attribute("html", "lang") == "ja"
        assert await page.locator("a.skip[href='#main']").count() == 1
        await portal.shot(page, "public")
        await page.add_script_tag(content=axe_script)
        result = await page.evaluate(
            "axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
        )
        bad = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, bad
        # Nobody signed in: no internal page is reachable from here.
        await page.goto(f"{portal.url}/inbox")
        assert "/signin" in page.url
    finally:
        await context.close()


# --- progress reports (進捗報告), on 練馬区's plan (loaded beside 板橋区) ------------------------

NERIMA_PLAN = DATASETS / "nerima-ict2020.yaml"
REPORTED = "目標2/2-1/①"  # 母子健康情報の電子化…: two schedule tracks in FY2024, no indicator
UNPUBLISHED = "目標1/1-1/③"  # 健診(検診)のインターネット申込み…: left as a draft
DELAYED_TRACK = "母子健康電子システムの構築"
ON_TIME_TRACK = "マイナポータル、電子母子手帳アプリによる情報提供"
RESULTS = "電子母子手帳アプリによる情報提供を継続した（ポータル試験）。"
DRAFT_RESULTS = "未公表の下書き本文（ポータル試験）"
RETURN_COMMENT = "遅延の理由と今後の見込みを記載してください。"


def track(name: str) -> str:
    return f"form.report-form div.track[data-track='{name}']"


async def state_of(page: Any) -> str:
    return str(await page.inner_text("#report-state"))


async def test_a_progress_report_goes_from_the_reporter_through_review_to_the_public_page(
    portal: Portal, ward: Any, browser: Any, axe_script: str
) -> None:
    plan_file = load_plan_file(NERIMA_PLAN)
    measure_id = str(plan_file.node_id(REPORTED))
    draft_id = str(plan_file.node_id(UNPUBLISHED))
    # The 事務局 set FY2024's due date (already past: the reports are overdue until submitted).
    office_token = issue_token(
        ward.settings, subject="jimukyoku@nerima", tenant="nerima", roles=["admin", "viewer"]
    )
    data = await ward.query(
        office_token,
        """mutation { setReportDeadline(period: "FY2024", dueOn: "2025-06-30") {
             deadline { dueOn } errors { code message } } }""",
    )
    assert data["setReportDeadline"]["errors"] == [], data

    # The 所管課 sees what it must report and by when.
    reporter = await portal.page_of("reporter@nerima")
    await reporter.goto(portal.url + "/progress")
    row = reporter.locator(f"tr[data-measure='{measure_id}'][data-period='FY2024']")
    assert "2025-06-30" in await row.inner_text() and "期限超過" in await row.inner_text()
    assert "未作成" in await row.locator("td.state").inner_text()
    await portal.shot(reporter, "progress-mine")
    await row.locator("a").click()
    await reporter.wait_for_selector("form.report-form")
    form_url = reporter.url
    assert form_url.endswith(f"/progress/{measure_id}/FY2024")

    # Submitting without 実績: the API's error next to the field, everything typed kept.
    await reporter.fill("#f-issues", "母子健康電子システムの改修が国の標準化対応で遅れた。")
    await reporter.fill("#f-direction", "標準化対応後に運用を再開する。")
    await reporter.select_option(f"{track(DELAYED_TRACK)} select", "DELAYED")
    await reporter.fill(f"{track(DELAYED_TRACK)} input[name$='-note']", "標準化対応待ち")
    await reporter.select_option(f"{track(ON_TIME_TRACK)} select", "ON_SCHEDULE")
    await reporter.select_option("#f-selfAssessedGrade", "B")
    await reporter.fill("#f-evidence", "https://www.city.nerima.tokyo.jp/ 練馬区の公表資料")
    await reporter.click("button[value=submit]")
    error = await reporter.inner_text("#err-results")
    assert "実績を入力してから提出してください" in error, error
    assert await reporter.get_attribute("#f-results", "aria-invalid") == "true"
    assert "国の標準化対応" in await reporter.input_value("#f-issues")
    assert await reporter.input_value(f"{track(DELAYED_TRACK)} select") == "DELAYED"
    assert await reporter.input_value(f"{track(DELAYED_TRACK)} input[name$='-note']") == (
        "標準化対応待ち"
    )
    assert await reporter.input_value("#f-selfAssessedGrade") == "B"
    await portal.shot(reporter, "progress-form-error")

    # A second editor saves in between: the first one's save is refused as stale, nothing lost.
    other = await reporter.context.new_page()
    await other.goto(form_url)
    await other.fill("#f-results", "二人目の編集")
    await other.click("button[value=save]")
    assert "下書きを保存しました" in await other.inner_text("main .ok")
    await other.close()
    await reporter.fill("#f-results", RESULTS)
    await reporter.click("button[value=save]")
    stale = await reporter.inner_text("#err-expectedRevision")
    assert "他の人が更新しました" in stale, stale
    assert await reporter.input_value("#f-results") == RESULTS
    assert "国の標準化対応" in await reporter.input_value("#f-issues")
    await portal.shot(reporter, "progress-stale")
    await reporter.click("button[value=submit]")  # now written over the newer version
    assert await state_of(reporter) == "提出済"
    assert "提出しました" in await reporter.inner_text("main .ok")

    # The 事務局's queue; returning needs a comment.
    office = await portal.page_of("jimukyoku@nerima")
    await office.goto(portal.url + "/progress/queue")
    queued = office.locator(f"table.queue tr[data-measure='{measure_id}']")
    assert "提出済" in await queued.inner_text()
    await portal.shot(office, "progress-queue")
    await queued.locator("a").click()
    await office.wait_for_selector("form.review-form")
    assert RESULTS in await office.inner_text("section.report-view")
    await office.click("button[value=return]")
    assert "差戻しの理由" in await office.inner_text("#err-comment")
    await office.fill("#f-comment", RETURN_COMMENT)
    await office.click("button[value=return]")
    assert await state_of(office) == "差戻し"

    # The reporter sees the comment, edits and resubmits.
    await reporter.goto(form_url)
    assert RETURN_COMMENT in await reporter.inner_text("section.returned")
    assert await reporter.input_value("#f-results") == RESULTS
    await portal.shot(reporter, "progress-returned")
    await reporter.fill(
        "#f-issues", "母子健康電子システムの改修が国の標準化対応で遅れた（令和7年度見込み）。"
    )
    await reporter.click("button[value=submit]")
    assert await state_of(reporter) == "提出済"

    # The 事務局 accepts; the 本部 approves (another grade needs a reason) and publishes.
    await office.goto(form_url)
    await office.click("button[value=accept]")
    assert await state_of(office) == "受理"
    honbu = await portal.page_of("honbu@nerima")
    await honbu.goto(portal.url + "/progress/queue")
    await honbu.locator(f"table.queue tr[data-measure='{measure_id}'] a").click()
    await honbu.wait_for_selector("form.approve-form")
    other_grade = await honbu.evaluate(
        "Array.from(document.querySelectorAll('#f-grade option'))"
        ".map(o => o.value).filter(v => v && v !== 'B')[0]"
    )
    await honbu.select_option("#f-grade", other_grade)
    await honbu.click("button[value=approve]")
    assert "理由" in await honbu.inner_text("#err-reason")
    assert await honbu.input_value("#f-grade") == other_grade
    await portal.shot(honbu, "progress-approve-error")
    await honbu.select_option("#f-grade", "")
    await honbu.click("button[value=approve]")
    assert await state_of(honbu) == "承認"
    await office.goto(portal.url + "/progress/queue")  # the 事務局 may publish it too
    waiting = office.locator(f"table.to-publish tr[data-measure='{measure_id}']")
    assert "FY2024" in await waiting.inner_text()
    assert await office.locator(f"table.queue tr[data-measure='{measure_id}']").count() == 0
    await portal.shot(office, "progress-queue-to-publish")
    await honbu.click("button[value=publish]")
    assert await state_of(honbu) == "公表"
    history = await honbu.inner_text("table.transitions")
    for expected in ("差戻し", RETURN_COMMENT, "jimukyoku@nerima", "reporter@nerima", "公表"):
        assert expected in history, expected
    await portal.shot(honbu, "progress-published")

    # Another measure's report stays a draft (unpublished data beside the published one).
    await reporter.goto(f"{portal.url}/progress/{draft_id}/FY2024")
    await reporter.fill("#f-results", DRAFT_RESULTS)
    await reporter.click("button[value=save]")
    assert await state_of(reporter) == "作成中"

    # The measure page shows the report and every transition; English on request.
    cio = await portal.page_of("cio@nerima")
    await cio.goto(f"{portal.url}/measures/{measure_id}")
    section = cio.locator("section.progress-report", has_text="FY2024")
    assert RESULTS in await section.inner_text()
    assert RETURN_COMMENT in await section.locator("table.transitions").inner_text()
    await portal.shot(cio, "measure-progress-reports")
    await cio.click("text=English")
    assert "Progress reports" in await cio.inner_text("main")
    assert "Published" in await section.inner_text()
    await cio.click("text=日本語")

    # The yearly summary counts reports per state and lists the overdue ones.
    await cio.goto(portal.url + "/summary")
    counts = cio.locator("table.report-counts tr[data-period='FY2024']")
    assert await counts.locator("td[data-state='PUBLISHED']").inner_text() == "1"
    assert await counts.locator("td[data-state='DRAFT']").inner_text() == "1"
    overdue = await cio.inner_text("ul.overdue-reports")
    assert "健診(検診)のインターネット申込み" in overdue
    assert "母子健康情報の電子化" not in overdue
    await portal.shot(cio, "summary-progress-reports")

    # The 進捗状況一覧 carries the reports; the 本部会議 PDF lists the overdue ones.
    async with cio.expect_download() as xlsx_download:
        await cio.click("main a[href$='progress.xlsx']")
    xlsx_path = Path(await (await xlsx_download.value).path())
    sheet = load_workbook(io.BytesIO(await asyncio.to_thread(xlsx_path.read_bytes)))["進捗状況一覧"]
    header = [c.value for c in sheet[2]]
    column = header.index("令和6年度 進捗報告 実績")
    cells = {str(row[column].value or "") for row in sheet.iter_rows(min_row=3)}
    assert RESULTS in cells and f"（作成中）{DRAFT_RESULTS}" in cells
    adherence = {str(row[column + 3].value or "") for row in sheet.iter_rows(min_row=3)}
    assert f"［{DELAYED_TRACK}］遅延：標準化対応待ち" in "\n".join(adherence)
    async with cio.expect_download() as pdf_download:
        await cio.click("main a[href$='honbu.pdf']")
    pdf_path = Path(await (await pdf_download.value).path())
    reader = PdfReader(io.BytesIO(await asyncio.to_thread(pdf_path.read_bytes)))
    text = "".join(p.extract_text() for p in reader.pages).replace("\x00", "").replace(" ", "")
    late = text[text.index("期限を過ぎた進捗報告") :]
    assert "健診(検診)のインターネット申込み" in late and "作成中" in late
    assert "母子健康情報の電子化" not in late

    # The public page: no token, only what 練馬区 published, and axe-core passes.
    context = await browser.new_context(locale="ja-JP", bypass_csp=True)
    try:
        page = await context.new_page()
        response = await page.goto(f"{portal.url}/public/nerima")
        assert response.status == 200
        main = await page.inner_text("main")
        assert RESULTS in main and "令和7年度見込み" in main
        assert "遅延" in main and "標準化対応待ち" in main
        assert DRAFT_RESULTS not in main  # not published
        assert RETURN_COMMENT not in main and "reporter@nerima" not in main  # internal
        assert PLAN_TITLE not in main  # another ward
        await portal.shot(page, "public-nerima")
        await page.add_script_tag(content=axe_script)
        result = await page.evaluate(
            "axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
        )
        bad = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, bad
        other_ward = await page.goto(f"{portal.url}/public/itabashi")
        assert other_ward.status == 200
        assert RESULTS not in await page.inner_text("main")
    finally:
        await context.close()


# --- the 事務局's deadlines, a correction of the published report, axe on the staff pages ------

CORRECTED_RESULTS = "電子母子手帳アプリによる情報提供を継続した（訂正版・ポータル試験）。"
CORRECTION_REASON = "公表後に実績の記載漏れが見つかったため"


async def staff_axe(portal: Portal, browser: Any, axe_script: str, subject: str, url: str) -> None:
    """axe-core on a signed-in page (its own context: the CSP is bypassed to inject axe)."""
    context = await browser.new_context(locale="ja-JP", bypass_csp=True)
    try:
        page = await context.new_page()
        page.set_default_timeout(20_000)
        await page.goto(f"{portal.url}/signin")
        await page.click(f"button[data-subject='{subject}']")
        await page.wait_for_selector("header .who")
        await page.goto(url)
        await page.add_script_tag(content=axe_script)
        result = await page.evaluate(
            "axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
        )
        bad = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, (url, bad)
    finally:
        await context.close()


async def test_the_office_sets_a_deadline_on_its_page(portal: Portal, ward: Any) -> None:
    office = await portal.page_of("jimukyoku@nerima")
    await office.goto(portal.url + "/progress/queue")
    await office.click("main a[href='/progress/deadlines']")
    await office.wait_for_selector("form.deadline-form")
    assert "報告期限" in await office.inner_text("header nav")
    listed = office.locator("table.deadlines tr[data-period='FY2024']")
    assert "2025-06-30" in await listed.inner_text()  # set through the API by the cycle above
    # Reminders the API refuses: its typed error next to the field, everything typed kept.
    await office.fill("#f-period", "FY2026")
    await office.fill("#f-dueOn", "2027-06-30")
    await office.fill("#f-reminderDays", "0, 400")
    await office.click("form.deadline-form button[type=submit]")
    error = await office.inner_text("#err-reminderDays")
    assert "1〜365日前" in error, error
    assert await office.get_attribute("#f-reminderDays", "aria-invalid") == "true"
    assert await office.input_value("#f-period") == "FY2026"
    assert await office.input_value("#f-dueOn") == "2027-06-30"
    assert await office.input_value("#f-reminderDays") == "0, 400"
    await portal.shot(office, "progress-deadlines-error")
    await office.fill("#f-reminderDays", "21, 7")
    await office.click("form.deadline-form button[type=submit]")
    assert "報告期限を保存しました" in await office.inner_text("main .ok")
    row = await office.inner_text("table.deadlines tr[data-period='FY2026']")
    assert "2027-06-30" in row and "21, 7" in row and "jimukyoku@nerima" in row
    await portal.shot(office, "progress-deadlines")
    # A reporter has neither the link nor the page.
    reporter = await portal.page_of("reporter@nerima")
    await reporter.goto(portal.url + "/progress")
    assert "報告期限" not in await reporter.inner_text("header nav")
    refused = await reporter.goto(portal.url + "/progress/deadlines")
    assert refused is not None and refused.status == 403
    office_token = issue_token(
        ward.settings, subject="jimukyoku@nerima", tenant="nerima", roles=["admin", "viewer"]
    )
    data = await ward.query(office_token, "{ reportDeadlines { period dueOn reminderDays } }")
    assert {"period": "FY2026", "dueOn": "2027-06-30", "reminderDays": [21, 7]} in data[
        "reportDeadlines"
    ]


async def test_a_published_report_is_corrected_by_a_new_version_and_the_staff_pages_pass_axe(
    portal: Portal, browser: Any, axe_script: str
) -> None:
    measure_id = str(load_plan_file(NERIMA_PLAN).node_id(REPORTED))
    form_url = f"{portal.url}/progress/{measure_id}/FY2024"
    reporter = await portal.page_of("reporter@nerima")
    await reporter.goto(form_url)
    assert await state_of(reporter) == "公表"
    assert await reporter.locator("form.report-form").count() == 0  # not edited in place
    # A correction needs a reason: the API's error next to the field.
    await reporter.click("button[value=correct]")
    assert "理由" in await reporter.inner_text("#err-reason")
    await portal.shot(reporter, "progress-correct-error")
    await reporter.fill("#f-correct-reason", CORRECTION_REASON)
    await reporter.click("button[value=correct]")
    assert await state_of(reporter) == "作成中"
    assert "訂正版を作成しました" in await reporter.inner_text("main .ok")
    assert "版 2" in await reporter.inner_text("p.meta")
    assert await reporter.input_value("#f-results") == RESULTS  # a copy of the published one
    assert CORRECTION_REASON in await reporter.inner_text("table.transitions")
    await reporter.fill("#f-results", CORRECTED_RESULTS)
    await reporter.click("button[value=save]")
    await portal.shot(reporter, "progress-correction-draft")
    # axe-core on the staff report form (the draft with its form) ...
    await staff_axe(portal, browser, axe_script, "reporter@nerima", form_url)

    # Until the correction is published, the public page keeps the published version.
    public = await browser.new_context(locale="ja-JP")
    try:
        page = await public.new_page()
        await page.goto(f"{portal.url}/public/nerima")
        main = await page.inner_text("main")
        assert RESULTS in main and CORRECTED_RESULTS not in main
    finally:
        await public.close()

    await reporter.click("button[value=submit]")
    assert await state_of(reporter) == "提出済"
    # ... and on the review queue with the corrected version waiting in it.
    await staff_axe(portal, browser, axe_script, "jimukyoku@nerima", portal.url + "/progress/queue")
    office = await portal.page_of("jimukyoku@nerima")
    await office.goto(portal.url + "/progress/queue")
    queued = office.locator(f"table.queue tr[data-measure='{measure_id}']")
    assert "版 2" in await queued.inner_text()
    await queued.locator("a").click()
    await office.wait_for_selector("form.review-form")
    await office.click("button[value=accept]")
    assert await state_of(office) == "受理"
    honbu = await portal.page_of("honbu@nerima")
    await honbu.goto(form_url)
    await honbu.click("button[value=approve]")
    assert await state_of(honbu) == "承認"
    await honbu.click("button[value=publish]")
    assert await state_of(honbu) == "公表"

    # The measure page shows the newest published version; the history keeps the old one.
    cio = await portal.page_of("cio@nerima")
    await cio.goto(f"{portal.url}/measures/{measure_id}")
    sections = cio.locator("section.progress-report", has_text="FY2024")
    assert await sections.count() == 2
    newest = sections.nth(0)
    assert CORRECTED_RESULTS in await newest.inner_text()
    assert "公表中の版" in await newest.inner_text()
    oldest = await sections.nth(1).inner_text()
    assert RESULTS in oldest and "訂正により置換" in oldest and "公表中の版" not in oldest
    await portal.shot(cio, "measure-corrected-report")
    public = await browser.new_context(locale="ja-JP")
    try:
        page = await public.new_page()
        await page.goto(f"{portal.url}/public/nerima")
        main = await page.inner_text("main")
        assert CORRECTED_RESULTS in main and RESULTS not in main
        await portal.shot(page, "public-nerima-corrected")
    finally:
        await public.close()
