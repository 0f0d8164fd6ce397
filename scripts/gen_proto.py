"""Generate the committed Python code for proto/ into auditstream/proto/.

    python scripts/gen_proto.py           # regenerate
    python scripts/gen_proto.py --check   # exit 1 if the committed code is stale

protoc writes modules at the .proto's own path (auditstream/v1/...), whose imports
would name `auditstream.v1`; they are moved under `auditstream.proto` and their
cross-file imports rewritten to match.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
TARGET = ROOT / "auditstream" / "proto"
IMPORT_RE = re.compile(r"^(from|import) auditstream\.", re.MULTILINE)
MODULE_RE = re.compile(r"'auditstream\.(v1|compat)\.")
INIT = '"""Generated protobuf modules. Do not edit; run `make proto`."""\n'


def generate(out: Path) -> None:
    from grpc_tools import protoc  # test/dev dependency only

    sources = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as raw:
        include = Path(protoc.__file__).parent / "_proto"
        args = [
            "protoc",
            f"-I{PROTO_DIR}",
            f"-I{include}",
            f"--python_out={raw}",
            f"--pyi_out={raw}",
            *sources,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        for path in sorted(Path(raw).rglob("*")):
            if path.suffix not in (".py", ".pyi"):
                continue
            rel = path.relative_to(Path(raw) / "auditstream")
            dest = out / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            text = IMPORT_RE.sub(r"\1 auditstream.proto.", path.read_text())
            text = MODULE_RE.sub(r"'auditstream.proto.\1.", text)
            dest.write_text(text)
    for directory in [out, *sorted(p for p in out.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").write_text(INIT)


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in (".py", ".pyi")
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "proto"
        generate(fresh)
        if check:
            if tree(fresh) != tree(TARGET):
                print("auditstream/proto is stale: run `make proto`", file=sys.stderr)
                return 1
            return 0
        if TARGET.exists():
            shutil.rmtree(TARGET)
        shutil.copytree(fresh, TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
