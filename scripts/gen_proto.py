"""Generate Python (protobuf + grpclib) from proto/ into synctv/api/grpc/_gen/ (`make proto`).

protoc names modules after the proto package (``synctv.admin.v1``), which would collide with our
own ``synctv`` package, so the generated references are rewritten under ``synctv.api.grpc._gen``.
The output is committed and never edited by hand; tests/api/test_grpc_gen.py checks it is current.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
GEN = ROOT / "synctv" / "api" / "grpc" / "_gen"
PREFIX = "synctv.api.grpc._gen."
_REFERENCE = re.compile(r"(?<![/\w.])synctv\.(?!api\.grpc\._gen)(?=(?:\w+\.)?v\d+\b)")


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO}",
             f"--plugin=protoc-gen-grpclib_python={Path(sys.executable).parent / 'protoc-gen-grpclib_python'}",
             f"--python_out={tmp}", f"--pyi_out={tmp}", f"--grpclib_python_out={tmp}", *protos],
            check=True,
        )  # fmt: skip
        if out.exists():
            shutil.rmtree(out)
        for path in sorted(Path(tmp).rglob("*.py*")):
            target = out / path.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_REFERENCE.sub(PREFIX + "synctv.", path.read_text()))
    for directory in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else GEN)
