"""What a regular (non-editable) install gets: the wheel carries the package data that
`migrate`, the sinks and the processor read at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).parents[2]


def test_the_wheel_carries_the_migrations_the_policy_and_the_console_assets(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--disable-pip-version-check", "--wheel-dir", str(tmp_path), str(REPO)],
        check=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("auditstream-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    schemas = REPO / "auditstream" / "schemas"
    shipped = {p.relative_to(REPO).as_posix() for p in schemas.rglob("*") if p.is_file()}
    assert "auditstream/schemas/policy.toml" in shipped
    assert sorted(shipped - names) == []
    assert "auditstream/py.typed" in names
    web = REPO / "auditstream" / "web"
    assets = {
        p.relative_to(REPO).as_posix()
        for folder in ("templates", "static")
        for p in (web / folder).rglob("*")
        if p.is_file()
    }
    assert "auditstream/web/templates/event.html" in assets
    assert "auditstream/web/static/console.css" in assets
    assert sorted(assets - names) == []
