"""Regenerate the Python code for every proto under protos/ into the `wio` package.

Run with `python scripts/gen_protos.py`; `--check` fails when the committed code differs.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
VENDOR_DIR = ROOT / "third_party" / "proto"
OUT_PACKAGE = ROOT / "wio"


def _grpc_tools_include() -> str:
    import grpc_tools

    return str(Path(grpc_tools.__file__).parent / "_proto")


def _plugin(name: str) -> str:
    """A protoc plugin installed beside this Python (mypy-protobuf's, from the dev extra)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit(f"{name} not found beside {sys.executable}: install the dev extra (make install)")
    return f"--plugin={name}={found}"


def generate(out_root: Path) -> None:
    (out_root / "wio").mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{VENDOR_DIR}",
        f"-I{_grpc_tools_include()}",
        _plugin("protoc-gen-mypy"),
        _plugin("protoc-gen-mypy_grpc"),
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        # mypy-protobuf: typed messages, and typed stubs and servicers. Both the synchronous stubs (the
        # CLI) and grpc.aio's (the services) are typed, so neither `sync_only` nor `async_only`.
        f"--mypy_out=quiet:{out_root}",
        f"--mypy_grpc_out=quiet:{out_root}",
        # The same files as one descriptor set with their comments (the generated modules carry none):
        # the gateway's OpenAPI document takes its descriptions from it.
        "--include_source_info",
        f"--descriptor_set_out={out_root / 'wio' / 'descriptors.binpb'}",
        *protos,
    ]
    subprocess.run(cmd, check=True, cwd=PROTO_DIR)
    # Every folder of generated code is a regular package.
    for folder in [out_root / "wio", *(p for p in (out_root / "wio").rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    (out_root / "wio" / "py.typed").touch()


def _differences(a: Path, b: Path) -> list[str]:
    found: list[str] = []
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    for rel in sorted(files_a ^ files_b):
        found.append(f"only in one tree: {rel}")
    for rel in sorted(files_a & files_b):
        if not filecmp.cmp(a / rel, b / rel, shallow=False):
            found.append(f"differs: {rel}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed code is stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / "wio"
        if args.check:
            diffs = _differences(fresh, OUT_PACKAGE)
            for line in diffs:
                print(line, file=sys.stderr)
            if diffs:
                print("generated code is stale: run `python scripts/gen_protos.py`", file=sys.stderr)
                return 1
            print("generated code is up to date")
            return 0
        shutil.rmtree(OUT_PACKAGE, ignore_errors=True)
        shutil.copytree(fresh, OUT_PACKAGE)
    print(f"generated {OUT_PACKAGE.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
