"""The auditor's console in a real headless Chromium over HTTPS, on real ClickHouse:
sign in, search, open an event, download its proof and check it with
`auditstream verify-proof`; verify a range and watch it; the compliance queries and
their charts; retention; download an evidence pack and check it with
`auditstream report verify`; a tenant-A token never sees tenant B; hostile stored strings
render inert; a row changed in the store shows as not verified with the finding.
Every page is photographed (into $AUDITSTREAM_SCREENSHOTS when set: docs/console)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from auditstream.query.named import QUERIES
from tests.support import console_kit as kit

pytestmark = [pytest.mark.integration, pytest.mark.browser]
REPO = Path(__file__).parents[2]
WIDTH, HEIGHT = 1400, 900


@pytest.fixture(scope="module")
def served(clickhouse: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[kit.Served]:
    folder = tmp_path_factory.mktemp("console")
    with (
        kit.loaded(clickhouse, "web_console") as database,
        kit.serving(clickhouse, database, folder, packs=kit.pack_settings(folder)) as running,
    ):
        yield running


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(
        ignore_https_errors=True, viewport={"width": WIDTH, "height": HEIGHT}, accept_downloads=True
    )
    yield opened
    opened.close()


@pytest.fixture
def dialogs() -> list[str]:
    return []


@pytest.fixture
def page(context: BrowserContext, dialogs: list[str]) -> Page:
    opened = context.new_page()
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    return opened


def sign_in(page: Page, served: kit.Served, token: str) -> None:
    page.goto(served.url + "/signin")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/search$"))


def shot(page: Page, folder: Path, name: str, *, full_page: bool = True) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditstream", *args],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
    )  # fmt: skip


def test_sign_in_search_open_an_event_and_check_its_proof_offline(
    page: Page, context: BrowserContext, served: kit.Served, screenshots: Path, tmp_path: Path
) -> None:
    page.goto(served.url + "/search")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    shot(page, screenshots, "01-signin")
    page.fill("input[name=token]", "not-a-token")
    page.click("button[type=submit]")
    expect(page.locator("p.error")).to_contain_text("unknown bearer token")
    page.fill("input[name=token]", served.tokens.a)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/search$"))
    (cookie,) = [c for c in context.cookies() if c["name"].startswith("__Host-")]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert served.tokens.a not in cookie["value"]
    shot(page, screenshots, "02-search", full_page=False)

    page.select_option("select[name=event_types]", ["EVENT_LOGIN", "EVENT_LOGOUT"])
    page.select_option("select[name=preset]", "30d")
    page.select_option("select[name=limit]", "50")
    page.click("form.filters button[type=submit]")
    types = page.locator("table.events tbody td:nth-child(4)").all_inner_texts()
    assert types and set(types) <= {"LOGIN", "LOGOUT"}
    page.click("a[rel=next]")
    assert "cursor=" in page.url
    expect(page.locator("table.events tbody tr").first).to_be_visible()
    page.click("text=First page")

    page.goto(served.url + "/search?limit=500")
    links = page.locator("table.events tbody td:first-child a")
    hrefs = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
    covered = next(h for h in hrefs if "hostile" not in h)  # the late hostile ones are not
    page.goto(served.url + covered)
    expect(page.locator("#verdict")).to_contain_text("Verified")
    expect(page.locator("table.checks")).not_to_contain_text("FAIL")
    shot(page, screenshots, "03-event")
    with page.expect_download() as download:
        page.click("#proof")
    proof = tmp_path / "proof.json"
    download.value.save_as(proof)
    event_id = urllib.parse.parse_qs(urllib.parse.urlsplit(covered).query)["id"][0]
    assert json.loads(proof.read_text())["event_id"] == event_id
    checked = run_cli("verify-proof", str(proof), "--public-keys", str(served.pubkey))
    assert checked.returncode == 0 and checked.stdout.startswith("VALID"), checked

    page.goto(served.url + "/search?text=late")
    uncovered = page.locator("table.events tbody td:first-child a").first
    uncovered.click()
    expect(page.locator("#verdict")).to_contain_text("not yet covered")
    assert page.locator("#proof").count() == 0
    shot(page, screenshots, "04-event-not-yet-covered")

    page.click("header form button")  # sign out
    expect(page).to_have_url(re.compile(r"/signin$"))
    page.goto(served.url + "/search")
    expect(page).to_have_url(re.compile(r"/signin\?next="))


def test_a_range_verification_runs_and_shows_its_result_on_the_chains_page(
    page: Page, served: kit.Served, screenshots: Path
) -> None:
    sign_in(page, served, served.tokens.a)
    page.goto(served.url + "/chains")
    rows = page.locator("table.chains tbody tr")
    assert rows.count() == 1
    expect(rows.first).to_contain_text(kit.TENANT_A)
    page.select_option("select[name=chain]", kit.TENANT_A)
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"/verifications/"))
    expect(page.locator("#state")).to_contain_text("Intact", timeout=60_000)
    shot(page, screenshots, "06-verification")
    page.goto(served.url + "/chains")
    expect(page.locator("table.chains")).to_contain_text("intact")
    shot(page, screenshots, "05-chains")


def test_compliance_queries_with_charts_and_the_retention_page(
    page: Page, served: kit.Served, screenshots: Path
) -> None:
    sign_in(page, served, served.tokens.a)
    page.goto(served.url + "/queries")
    expect(page.locator("table")).to_contain_text("guardrail_denials_per_day")
    shot(page, screenshots, "07-queries")
    for name, number in (
        ("events_per_day", "08"), ("model_tokens_per_day", "09"),
        ("guardrail_denials_per_day", "10"),
    ):  # fmt: skip
        page.goto(f"{served.url}/queries/{name}?preset=30d")
        bars = page.locator("figure.chart > svg rect")
        assert bars.count() >= 1, name
        expect(bars.first.locator("title")).to_contain_text(":")  # "day series: value"
        shot(page, screenshots, f"{number}-query-{name.replace('_', '-')}", full_page=False)
    page.goto(f"{served.url}/queries/failed_logins")
    expect(page.locator("main table")).to_be_visible()
    page.goto(f"{served.url}/queries/actor_timeline?actor=nobody&start=noon")
    expect(page.locator("p.error")).to_contain_text("noon")
    page.goto(served.url + "/retention")
    expect(page.locator("main")).to_contain_text("standard")
    shot(page, screenshots, "11-retention")


def test_hostile_strings_are_shown_as_text_and_never_run(
    page: Page, served: kit.Served, dialogs: list[str], screenshots: Path
) -> None:
    sign_in(page, served, served.tokens.a)
    page.goto(served.url + "/search?" + urllib.parse.urlencode({"text": "onerror"}))
    expect(page.locator("table.events")).to_contain_text(kit.SCRIPT)
    expect(page.locator("table.events")).to_contain_text(kit.IMG)
    shot(page, screenshots, "12-search-hostile", full_page=False)
    for event_id in ("hostile-tenant-000-0", "hostile-tenant-000-1"):
        page.goto(served.url + "/event?" + urllib.parse.urlencode({"id": event_id}))
        expect(page.locator("main")).to_contain_text(kit.SCRIPT)
    for url in (page.url, served.url + "/search?text=script", served.url + "/retention"):
        page.goto(url)
        assert page.locator("img").count() == 0
        assert page.locator("script").count() == 0
        assert page.locator("[onerror]").count() == 0
    assert dialogs == []


def test_a_tenant_a_token_never_sees_tenant_b(
    page: Page, context: BrowserContext, served: kit.Served
) -> None:
    sign_in(page, served, served.tokens.a)
    b_event = "hostile-tenant-001-2"
    urls = [
        "/search?limit=1000", "/chains", "/queries",
        "/retention", *(f"/queries/{name}?preset=all" for name in QUERIES),
    ]  # fmt: skip
    for url in urls:
        page.goto(served.url + url)
        text = page.content()
        assert kit.TENANT_B not in text and kit.B_SECRET not in text, url
    page.goto(served.url + "/search?text=" + kit.B_SECRET)
    expect(page.locator("p.empty")).to_have_text("No events match.")
    for url in (f"/event?id={b_event}", f"/event?id={b_event}&chain={kit.TENANT_B}"):
        page.goto(served.url + url)
        expect(page.locator("h1")).to_have_text("404")
        assert kit.B_SECRET not in page.content()
    for url in (
        f"/search?tenant={kit.TENANT_B}", f"/queries/events_per_day?tenant={kit.TENANT_B}",
    ):  # fmt: skip
        page.goto(served.url + url)
        assert "outside this caller's scope" in page.content(), url
    answer = context.request.get(f"{served.url}/event/proof.json?id={b_event}")
    assert answer.status == 404 and kit.B_SECRET not in answer.text()
    exported = context.request.get(f"{served.url}/search/export.csv")
    table = list(csv.DictReader(io.StringIO(exported.text())))
    assert table and {row["tenant_id"] for row in table} == {kit.TENANT_A}
    exported_json = context.request.get(f"{served.url}/search/export.json").json()
    assert len(exported_json) == len(table)
    assert {row["tenant_id"] for row in exported_json} == {kit.TENANT_A}
    refused = context.request.get(f"{served.url}/search/export.json?tenant={kit.TENANT_B}")
    assert refused.status == 403


def test_a_row_changed_in_the_store_shows_as_not_verified_with_the_finding(
    page: Page, served: kit.Served, clickhouse: Any, screenshots: Path
) -> None:
    sign_in(page, served, served.tokens.a)
    page.goto(served.url + "/search?limit=500&event_types=EVENT_LOGIN")
    href = page.locator("table.events tbody td:first-child a").nth(3).get_attribute("href")
    assert href is not None
    event_id = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)["id"][0]
    page.goto(served.url + href)
    expect(page.locator("#verdict")).to_contain_text("Verified")
    clickhouse.command(
        f"ALTER TABLE {served.database}.audit_events UPDATE message = 'nothing to see here' "
        "WHERE event_id = {e:String} SETTINGS mutations_sync = 2",
        parameters={"e": event_id},
    )
    page.reload()
    expect(page.locator("#verdict")).to_contain_text("Not verified")
    expect(page.locator("#findings")).to_contain_text("column_mismatch")
    expect(page.locator("#findings")).to_contain_text("message")
    assert page.locator("#proof").count() == 0
    shot(page, screenshots, "13-event-tampered")


def test_an_evidence_pack_downloaded_from_the_console_verifies_offline(
    page: Page, served: kit.Served, screenshots: Path, tmp_path: Path
) -> None:
    sign_in(page, served, served.tokens.a)
    page.click("nav >> text=Evidence packs")
    expect(page).to_have_url(re.compile(r"/reports$"))
    page.select_option("select[name=framework]", "pci-dss")
    page.select_option("select[name=format]", "pdf")
    shot(page, screenshots, "14-evidence-packs")
    with page.expect_download(timeout=180_000) as download:
        page.click("form.filters button[type=submit]")
    assert download.value.suggested_filename.startswith(f"evidence-pci-dss-{kit.TENANT_A}-")
    saved = tmp_path / "pack.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        (top,) = {name.split("/", 1)[0] for name in archive.namelist()}
        archive.extractall(tmp_path)
    pack = tmp_path / top
    assert (pack / "report.pdf").read_bytes()[:5] == b"%PDF-"
    report_pub = served.pubkey.parent / "report.pub"
    checked = run_cli(
        "report", "verify", str(pack), "--pubkey", str(report_pub),
        "--checkpoint-pubkey", str(served.pubkey),
    )  # fmt: skip
    assert checked.returncode == 0 and checked.stdout.rstrip().endswith("VALID: " + str(pack))

    page.fill("input[name=from]", "2026-12-01T00:00:00")
    page.fill("input[name=to]", "2026-11-01T00:00:00")
    page.click("form.filters button[type=submit]")
    expect(page.locator("p.error")).to_contain_text("is not before to")
