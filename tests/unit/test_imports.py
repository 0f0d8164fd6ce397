"""Importing any module of the package does no IO of its own: with the environment
emptied and HOME and the working folder read-only, every module imports, and none of
them reads an environment variable, reads a file of the working folder, HOME or the
package's data, or writes anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import auditstream

PACKAGE = Path(auditstream.__file__).resolve().parent

PROBE = r"""
import importlib, json, os, pkgutil, sys
from pathlib import Path

package, watched = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
report = {"failed": {}, "env": [], "reads": [], "writes": []}


def ours(frame):
    # Code of the package itself (generated protobuf modules aside).
    name = frame.f_code.co_filename
    return name.startswith(str(package)) and "/proto/" not in name


def caller_is_ours(depth):
    frame = sys._getframe(depth)
    # Skip the standard library helpers between the package and the access.
    while frame is not None and (frame.f_code.co_filename.startswith(sys.base_prefix)
                                 and "site-packages" not in frame.f_code.co_filename):
        frame = frame.f_back
    return frame is not None and ours(frame)


class Environ(dict):
    def _seen(self, key):
        if caller_is_ours(3):
            report["env"].append(str(key))

    def __getitem__(self, key):
        self._seen(key)
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        self._seen(key)
        return dict.get(self, key, default)

    def __contains__(self, key):
        self._seen(key)
        return dict.__contains__(self, key)


os.environ = Environ(os.environ)
WRITE_EVENTS = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.truncate", "shutil.rmtree",
                "os.symlink", "os.link", "os.chmod", "os.chown", "os.utime"}
DATA_SUFFIXES = (".py", ".pyc", ".so", ".pyi", ".typed")


def hook(event, args):
    if event == "open":
        path, mode, flags = args
        if not isinstance(path, (str, bytes, os.PathLike)):
            return
        path = os.fsdecode(path)
        if path.endswith(".__path_hook__"):
            # importlib.metadata, run at import by some dependencies (mcp), lists every
            # sys.path entry, the editable install's placeholder (no file) included.
            return
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if writing:
            report["writes"].append(path)
            return
        if path in sys.path:  # importlib.metadata (pydantic's plugin scan) probing an entry
            return
        resolved = Path(os.path.abspath(path))
        if any(resolved.is_relative_to(w) for w in watched):
            report["reads"].append(path)
        elif resolved.is_relative_to(package) and not path.endswith(DATA_SUFFIXES):
            report["reads"].append(path)
    elif event in WRITE_EVENTS:
        report["writes"].append(f"{event} {args[0]!r}")


sys.addaudithook(hook)
import auditstream

for module in pkgutil.walk_packages(auditstream.__path__, "auditstream."):
    if module.name == "auditstream.__main__":  # `python -m auditstream` runs the CLI
        continue
    try:
        importlib.import_module(module.name)
    except BaseException as exc:
        report["failed"][module.name] = f"{type(exc).__name__}: {exc}"
report["modules"] = sorted(sys.modules)
print(json.dumps(report))
"""


def test_every_module_imports_without_reading_or_writing_anything(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    for folder in (home, work):
        folder.mkdir()
        folder.chmod(0o555)
    try:
        result = subprocess.run(
            [sys.executable, "-B", "-c", PROBE, str(PACKAGE), str(home), str(work)],
            env={"HOME": str(home)},
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        for folder in (home, work):
            folder.chmod(0o755)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["failed"] == {}
    assert report["env"] == []
    assert report["reads"] == []
    assert report["writes"] == []
    expected = {
        f"auditstream.{path.relative_to(PACKAGE).with_suffix('').as_posix().replace('/', '.')}"
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    assert expected <= set(report["modules"])
    assert os.environ.get("HOME") != str(home)  # the probe's environment stayed its own
