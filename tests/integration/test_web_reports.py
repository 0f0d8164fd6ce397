"""Evidence packs from the web application on real ClickHouse over HTTPS: the zip
`GET /v1/reports/{framework}` answers unpacks to a pack that `auditstream report verify`
accepts with the public keys only; a token never gets another tenant's pack; bad input
gets a JSON 400 naming the field; without a report key the route says it is not
configured; the console's form downloads the same pack."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditstream.web.packs import PackSettings
from tests.integration.test_web_api import Client
from tests.support import console_kit as kit

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]
NOW = dt.datetime.now(dt.UTC)
PERIOD = {"from": (NOW - dt.timedelta(days=15)).isoformat(), "to": NOW.isoformat()}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PackSettings]:
    folder = tmp_path_factory.mktemp("report-keys")
    return folder, kit.pack_settings(folder)


@pytest.fixture(scope="module")
def served(
    clickhouse: Any, tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, PackSettings]
) -> Iterator[kit.Served]:
    with (
        kit.loaded(clickhouse, "web_reports") as database,
        kit.serving(clickhouse, database, tmp_path_factory.mktemp("web"), packs=keys[1]) as running,
    ):
        yield running


def path_of(framework: str, **params: str) -> str:
    return f"/v1/reports/{framework}?{urllib.parse.urlencode(params)}"


def unpack(data: bytes, folder: Path) -> Path:
    """The zip's one top folder, extracted under `folder`."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
        assert len(tops) == 1, tops
        archive.extractall(folder)
    return folder / tops.pop()


def report_verify(
    pack: Path, report_pub: Path, checkpoint_pub: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditstream", "report", "verify", str(pack),
         "--pubkey", str(report_pub), "--checkpoint-pubkey", str(checkpoint_pub)],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
    )  # fmt: skip


def test_a_downloaded_pack_verifies_offline_with_the_public_keys(
    served: kit.Served, keys: tuple[Path, PackSettings], tmp_path: Path
) -> None:
    client = Client(served, served.tokens.a)
    status, headers, data = client.request(
        "GET", path_of("pci-dss", tenant=kit.TENANT_A, format="md,pdf", **PERIOD)
    )
    assert status == 200, data[:500]
    assert headers["content-type"] == "application/zip"
    assert headers["content-disposition"].startswith('attachment; filename="evidence-pci-dss-')
    pack = unpack(data, tmp_path)
    doc = json.loads((pack / "report.json").read_text())
    assert doc["tenant"] == kit.TENANT_A and doc["framework"]["id"] == "pci-dss"
    assert doc["verification"]["ok"] and doc["verification"]["entries"] > 0
    assert (pack / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert (pack / "report.md").is_file() and not (pack / "report.html").exists()
    assert kit.B_SECRET not in "".join(
        p.read_text(errors="replace") for p in pack.rglob("*") if p.suffix in (".json", ".md")
    )
    checked = report_verify(pack, keys[0] / "report.pub", served.pubkey)
    assert checked.returncode == 0 and checked.stdout.rstrip().endswith(f"VALID: {pack}"), checked

    (pack / "report.md").write_text("edited\n")
    edited = report_verify(pack, keys[0] / "report.pub", served.pubkey)
    assert edited.returncode == 1 and "report.md" in edited.stdout, edited


def test_a_token_gets_only_its_own_tenants_packs(served: kit.Served) -> None:
    a, b = Client(served, served.tokens.a), Client(served, served.tokens.b)
    for client, other in ((a, kit.TENANT_B), (b, kit.TENANT_A)):
        status, answer = client.json("GET", path_of("soc2", tenant=other, **PERIOD))
        assert status == 403, answer
        assert other in answer["error"]
    status, _, data = a.request("GET", path_of("soc2", format="json", **PERIOD))
    assert status == 200, data[:500]  # a token of one tenant need not name it
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        top = archive.namelist()[0].split("/", 1)[0]
        doc = json.loads(archive.read(f"{top}/report.json"))
        assert doc["tenant"] == kit.TENANT_A
        assert not any(n.endswith((".md", ".html", ".pdf")) for n in archive.namelist())
    status, answer = Client(served, served.tokens.everyone).json("GET", path_of("soc2", **PERIOD))
    assert status == 400 and answer["field"] == "tenant"
    status, answer = Client(served, None).json("GET", path_of("soc2", **PERIOD))
    assert status == 401


BAD = [
    (path_of("nope", **PERIOD), "framework"),
    (path_of("..passwd.toml", **PERIOD), "framework"),
    ("/v1/reports/" + "x" * 300 + "?" + urllib.parse.urlencode(PERIOD), "framework"),
    (path_of("soc2", format="docx", **PERIOD), "format"),
    (path_of("soc2", format=",,", **PERIOD), "format"),
    (path_of("soc2", format="pdf,exe", **PERIOD), "format"),
    (path_of("soc2", to=PERIOD["to"]), "from"),
    (path_of("soc2", **{"from": "yesterday", "to": PERIOD["to"]}), "from"),
    (path_of("soc2", **{"from": PERIOD["from"], "to": "2026-02-30"}), "to"),
    (path_of("soc2", **{"from": PERIOD["to"], "to": PERIOD["from"]}), "from"),
    (path_of("soc2", tenant="../x\x00", **PERIOD), "tenant"),
    (path_of("soc2", tenant="%ff" * 50, **PERIOD), "tenant"),
    (path_of("soc2", bogus="1", **PERIOD), None),
]


@pytest.mark.parametrize(("path", "field"), BAD, ids=[p[:60] for p, _ in BAD])
def test_bad_input_gets_json_400_naming_the_field(
    served: kit.Served, path: str, field: str | None
) -> None:
    status, answer = Client(served, served.tokens.a).json("GET", path)
    assert status == 400, answer
    assert answer["error"]
    assert answer.get("field") == field, answer


def test_the_frameworks_are_listed(served: kit.Served) -> None:
    status, listed = Client(served, served.tokens.a).json("GET", "/v1/reports")
    assert status == 200 and listed["configured"] is True
    ids = {f["id"]: f for f in listed["frameworks"]}
    assert {"pci-dss", "soc2", "hipaa", "gdpr"} <= set(ids)
    assert "10.2.1.1" in ids["pci-dss"]["controls"]
    assert Client(served, served.tokens.a).json("GET", "/v1/reports?x=1")[0] == 400


def test_without_a_report_key_packs_answer_503_saying_so(
    clickhouse: Any, served: kit.Served, tmp_path: Path
) -> None:
    with kit.serving(clickhouse, served.database, tmp_path) as bare:
        client = Client(bare, bare.tokens.a)
        status, answer = client.json("GET", path_of("soc2", tenant=kit.TENANT_A, **PERIOD))
        assert status == 503 and "--report-key" in answer["error"], answer
        status, listed = client.json("GET", "/v1/reports")
        assert status == 200 and listed["configured"] is False
        cookie = sign_in(bare, bare.tokens.a)
        status, _, page = client.request("GET", "/reports", headers={"Cookie": cookie})
        assert status == 200 and b"not configured" in page


def sign_in(served: kit.Served, token: str) -> str:
    status, headers, _ = Client(served, None).request(
        "POST", "/signin", urllib.parse.urlencode({"token": token, "next": "/reports"}).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert status == 303
    return headers["set-cookie"].split(";", 1)[0]


def test_the_console_form_downloads_a_pack_and_reshows_bad_input(
    served: kit.Served, keys: tuple[Path, PackSettings], tmp_path: Path
) -> None:
    cookie = sign_in(served, served.tokens.a)
    client = Client(served, None)
    status, _, page = client.request("GET", "/reports", headers={"Cookie": cookie})
    assert status == 200 and b'name="framework"' in page and b"pci-dss" in page
    query = urllib.parse.urlencode(
        {"framework": "hipaa", "tenant": kit.TENANT_A, "format": "html", **PERIOD}
    )
    status, headers, data = client.request(
        "GET", f"/reports/download?{query}", headers={"Cookie": cookie}
    )
    assert status == 200 and headers["content-type"] == "application/zip", data[:500]
    pack = unpack(data, tmp_path)
    assert (pack / "report.html").is_file()
    checked = report_verify(pack, keys[0] / "report.pub", served.pubkey)
    assert checked.returncode == 0, checked

    bad = urllib.parse.urlencode({"framework": "hipaa", "format": "html", "from": "soon"})
    status, headers, page = client.request(
        "GET", f"/reports/download?{bad}", headers={"Cookie": cookie}
    )
    assert status == 400 and headers["content-type"].startswith("text/html")
    assert b"from: not an ISO 8601 time" in page and b'value="soon"' in page
    other = urllib.parse.urlencode({"framework": "hipaa", "tenant": kit.TENANT_B, **PERIOD})
    status, _, page = client.request(
        "GET", f"/reports/download?{other}", headers={"Cookie": cookie}
    )
    assert status == 403 and kit.TENANT_B.encode() in page
    status, headers, _ = client.request("GET", f"/reports/download?{query}")
    assert status == 303 and headers["location"].startswith("/signin")
