"""The REST API attacked: every route that takes an id, listed from /openapi.json (so a new route is
probed too), called by bob with alice's ids; and schemathesis generating requests from the document
against the running stack."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import Config

from tests.gateway_fixture import GatewayUnderTest
from tests.rest_support import RestLab, Who, unique

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(rest_lab: RestLab) -> RestLab:
    return rest_lab


# Routes whose answer any logged-in user may read by design (the README says so): roots (bucket, prefix,
# type, allowed creators) and groups (name, id, description, creator; never the members to outsiders).
VISIBLE_BY_DESIGN = {("GET", "/v1/roots/{root}"), ("GET", "/v1/groups/{name}")}
# The indexer does not run in this session (its address is a closed port): its routes answer 503.
NOT_RUNNING = ("IndexerService",)
# Bodies that try something for operations where an empty body would prove little.
ATTACK_BODIES = {
    "WorkspacesService_UpdateShare": {"permission": "PERMISSION_OWN", "updateMask": "permission"},
    "NodesService_UpdateNode": {
        "changes": {"maxCredentialSeconds": 900},
        "updateMask": "maxCredentialSeconds",
    },
    "AuthService_AddGroupMember": {},  # filled with bob's name below
    "WorkspacesService_DeleteWorkspace": None,
}


async def alice_world(lab: RestLab, s3: Any) -> tuple[Who, Who, dict[str, str]]:
    """alice with a workspace shared to carol, a group and a second key; bob, who has nothing of hers;
    an unmanaged root (the admin's) to import."""
    alice, bob, carol = await lab.user("alice"), await lab.user("bob"), await lab.user("carol")
    bucket = unique("um")
    await asyncio.to_thread(admin_s3(s3).create_bucket, Bucket=bucket)
    root = await lab.call(
        "POST", "/v1/roots", {"node": lab.node, "bucket": bucket, "type": "ROOT_TYPE_UNMANAGED"}, lab.admin
    )
    assert root.status == 200, root.body
    name = unique("ws")
    ws = await lab.call(
        "POST", "/v1/workspaces", {"name": name, "type": "WORKSPACE_TYPE_PRIVATE", "node": lab.node}, alice
    )
    assert ws.status == 200, ws.body
    ref = f"{alice.name}/{name}"
    share = await lab.call(
        "POST", "/v1/shares", {"workspace": ref, "sharee": carol.name, "permission": "PERMISSION_READ"}, alice
    )
    assert share.status == 200, share.body
    group = unique("g")
    made = await lab.call("POST", "/v1/groups", {"name": group}, alice)
    assert made.status == 200, made.body
    key = await lab.call("POST", "/v1/apikeys", {"name": "second"}, alice)
    assert key.status == 200, key.body
    made_ws = ws.json["workspace"]
    await asyncio.to_thread(
        admin_s3(s3).put_object, Bucket=made_ws["bucket"], Key=f"{made_ws['prefix']}f.txt", Body=b"f"
    )
    link = await lab.call("POST", "/v1/links", {"object": f"{ref}/f.txt"}, alice)
    assert link.status == 200, link.body
    ids = {
        "workspace": ref,
        "workspace_id": ws.json["workspace"]["id"],
        "share": share.json["share"]["id"],
        "group": group,
        "group_id": made.json["group"]["id"],
        "key": key.json["apiKey"]["id"],
        "link": link.json["link"]["id"],
        "user": alice.name,
        "node": lab.node,
        "root": lab.root_id,
        "unmanaged_root": root.json["root"]["id"],
    }
    return alice, bob, ids


def value_for(path: str, param: str, ids: dict[str, str]) -> str:
    """alice's id for a path parameter; an unknown one fails, so a new route gets a mapping here."""
    if param == "workspace":
        return ids["workspace"]
    if param == "id":
        if path.startswith("/v1/shares/"):
            return ids["share"]
        if path.startswith("/v1/apikeys/"):
            return ids["key"]
        if path.startswith("/v1/links/"):
            return ids["link"]
    if param in ("name", "group") and path.startswith("/v1/groups/"):
        return ids["group"]
    if param == "username":
        return ids["user"]
    if param == "root":
        return ids["unmanaged_root"] if path.endswith(":import") else ids["root"]
    if param == "node":
        return ids[param]
    raise AssertionError(f"no probe value for {{{param}}} in {path}: add one to value_for")


def admin_s3(s3: Any) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name=s3.region,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        config=Config(s3={"addressing_style": "path"}),
    )


async def test_bob_with_alices_ids_gets_nothing(lab: RestLab, infra: Any) -> None:
    alice, bob, ids = await alice_world(lab, infra.s3)
    doc = (await lab.call("GET", "/openapi.json")).json
    probed = 0
    secrets = {ids["workspace_id"], ids["share"], ids["group_id"], ids["key"], ids["link"]}
    for path, methods in doc["paths"].items():
        params = re.findall(r"\{([^}]+)\}", path)
        if not params:
            continue
        for method, op in methods.items():
            if op["tags"][0] in NOT_RUNNING:
                continue
            url = path
            for param in params:
                url = url.replace("{" + param + "}", value_for(path, param, ids))
            body: Any = ATTACK_BODIES.get(op["operationId"], {})
            if op["operationId"] == "AuthService_AddGroupMember":
                body = {"username": bob.name}
            if "requestBody" not in op:
                body = None
            answer = await lab.call(method.upper(), url, body, bob)
            probed += 1
            if (method.upper(), path) in VISIBLE_BY_DESIGN:
                assert answer.status == 200, (method, url, answer.body)
                assert alice.name not in json.dumps(answer.json.get("group", {}).get("members", []))
                continue
            sent = set(url.split("/")) | {url}
            leaked = {s for s in secrets if s.encode() in answer.body and s not in sent}
            assert not leaked, (method, url, answer.body)
            assert answer.status in (403, 404), (method, url, answer.status, answer.body)
    assert probed >= 20, probed
    # Nothing of alice's changed.
    assert (await lab.call("GET", f"/v1/workspaces/{ids['workspace']}", who=alice)).status == 200
    shares = await lab.call("GET", f"/v1/shares?workspace={ids['workspace']}", who=alice)
    made = shares.json.get("made", [])
    assert [(s["id"], s["permission"]) for s in made] == [(ids["share"], "PERMISSION_READ")]
    group = await lab.call("GET", f"/v1/groups/{ids['group']}", who=alice)
    assert group.status == 200 and bob.name not in group.body.decode()
    keys = await lab.call("GET", "/v1/apikeys", who=alice)
    assert ids["key"] in {k["id"] for k in keys.json["apiKeys"]}
    links = await lab.call("GET", "/v1/links", who=alice)
    assert [(k["id"], "revokedAt" in k) for k in links.json["links"]] == [(ids["link"], False)]


# --- schemathesis ------------------------------------------------------------------------------------

# Node registration, checks and updates make the nodes service connect to the addresses they are
# given; the indexer is not running in this session.
EXCLUDED_OPERATIONS = (
    "NodesService_RegisterNode",
    "NodesService_CheckNode",
    "NodesService_UpdateNode",
)


async def test_schemathesis_finds_no_server_error_and_no_schema_drift(
    rest_gateway: GatewayUnderTest, lab: RestLab, tmp_path: Path
) -> None:
    user = await lab.user("fuzz")
    cli = Path(sys.executable).parent / "schemathesis"
    args = [
        str(cli),
        "run",
        f"{rest_gateway.url}/openapi.json",
        "--url",
        rest_gateway.url,
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--max-examples",
        os.environ.get("WIO_TEST_SCHEMATHESIS_EXAMPLES", "5"),
        "--phases",
        "examples,fuzzing",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-shrink",
        "--exclude-tag",
        "IndexerService",
        "-H",
        f"Authorization: ApiKey {user.key}",
        "--report",
        "json",
        "--report-dir",
        str(tmp_path),
    ]
    for operation in EXCLUDED_OPERATIONS:
        args += ["--exclude-operation-id", operation]
    # Run from the test's folder: schemathesis keeps a cache (.schemathesis/) where it runs.
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=tmp_path
    )
    output, _ = await asyncio.wait_for(process.communicate(), 300)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    counted = re.search(r"(\d+) generated, (\d+) passed", text)
    assert counted is not None and int(counted.group(1)) > 0, text[-3000:]
    assert counted.group(1) == counted.group(2), text[-3000:]
