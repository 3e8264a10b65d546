"""The gRPC boundary is type-checked: mypy, run with the project's own configuration, refuses a servicer
that answers with another RPC's response message and accepts one that answers with its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent

HEADER = """
from __future__ import annotations

from grpc.aio import ServicerContext

from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc


class Nodes(nodes_pb2_grpc.NodesServiceServicer):
"""

# The same method three ways: right; returning another RPC's response; declaring another RPC's response.
SERVICERS = {
    "right_servicer": """
    async def GetNode(
        self,
        request: nodes_pb2.GetNodeRequest,
        context: ServicerContext[nodes_pb2.GetNodeRequest, nodes_pb2.GetNodeResponse],
    ) -> nodes_pb2.GetNodeResponse:
        return nodes_pb2.GetNodeResponse(node=nodes_pb2.Node(name=request.node))
""",
    "wrong_value_servicer": """
    async def GetNode(
        self,
        request: nodes_pb2.GetNodeRequest,
        context: ServicerContext[nodes_pb2.GetNodeRequest, nodes_pb2.GetNodeResponse],
    ) -> nodes_pb2.GetNodeResponse:
        return nodes_pb2.ListNodesResponse(nodes=[nodes_pb2.Node(name=request.node)])
""",
    "wrong_signature_servicer": """
    async def GetNode(
        self,
        request: nodes_pb2.GetNodeRequest,
        context: ServicerContext[nodes_pb2.GetNodeRequest, nodes_pb2.ListNodesResponse],
    ) -> nodes_pb2.ListNodesResponse:
        return nodes_pb2.ListNodesResponse(nodes=[nodes_pb2.Node(name=request.node)])
""",
}
ERROR = re.compile(r"^(?P<file>[^:]+)\.py:\d+: error: (?P<message>.*)$")


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """mypy's errors for each servicer, from one run (the project's cache keeps it to seconds)."""
    folder = tmp_path_factory.mktemp("servicers")
    for name, body in SERVICERS.items():
        (folder / f"{name}.py").write_text(HEADER + body, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-error-summary",
            "--no-pretty",
            *(str(folder / f"{name}.py") for name in SERVICERS),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr  # 2 would be a crash or a usage error
    errors: dict[str, list[str]] = {name: [] for name in SERVICERS}
    for line in result.stdout.splitlines():
        found = ERROR.match(line)
        if found:
            errors[Path(found["file"]).name].append(found["message"])
    return errors


def test_servicer_answering_with_its_own_response_passes(mypy_errors: dict[str, list[str]]) -> None:
    assert mypy_errors["right_servicer"] == []


def test_servicer_returning_another_response_fails(mypy_errors: dict[str, list[str]]) -> None:
    assert mypy_errors["wrong_value_servicer"] == [
        'Incompatible return value type (got "ListNodesResponse", expected "GetNodeResponse")  [return-value]'
    ]


def test_servicer_declaring_another_response_fails(mypy_errors: dict[str, list[str]]) -> None:
    [error] = mypy_errors["wrong_signature_servicer"]
    assert error.startswith('Return type "Coroutine[Any, Any, ListNodesResponse]" of "GetNode" incompatible')
    assert error.endswith("[override]")
