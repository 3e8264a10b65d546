// A wio client in another language: Node.js with @grpc/grpc-js and @grpc/proto-loader, loading protos/
// as any outside client would (no generated code). tests/test_node_client.py runs it against the running
// services and checks what it prints (one JSON object on stdout); any failure exits non-zero with the
// reason on stderr.
//
// Environment:
//   WIO_NODE_AUTH, WIO_NODE_WORKSPACES  the identity and workspaces services (host:port)
//   WIO_NODE_API_KEY                    the user's API key
//   WIO_NODE_NODE                       the storage node to create the workspace on
//   WIO_NODE_WORKSPACE                  the new workspace's name
//   WIO_TLS_CA, WIO_TLS_CERT, WIO_TLS_KEY  TLS (as the wio CLI takes them); plaintext without a CA

"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const ROOT = path.resolve(__dirname, "..", "..");
const INCLUDES = [path.join(ROOT, "protos"), path.join(ROOT, "third_party", "proto")];
const DEADLINE_MS = 15000;

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function credentials() {
  const ca = process.env.WIO_TLS_CA;
  if (!ca) return grpc.credentials.createInsecure();
  const read = (name) => (process.env[name] ? fs.readFileSync(process.env[name]) : null);
  return grpc.credentials.createSsl(fs.readFileSync(ca), read("WIO_TLS_KEY"), read("WIO_TLS_CERT"));
}

// Fields in lowerCamelCase (proto-loader's default, as in protobuf's JSON mapping), enums by name,
// 64-bit integers as strings, every field present.
const definition = protoLoader.loadSync(["wio/auth/v1/auth.proto", "wio/workspaces/v1/workspaces.proto"], {
  includeDirs: INCLUDES,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const wio = grpc.loadPackageDefinition(definition).wio;

// google.rpc.Status and ErrorInfo decode the error details the services put in the
// grpc-status-details-bin trailer.
const rpcTypes = new protobuf.Root();
rpcTypes.resolvePath = (_origin, target) =>
  INCLUDES.map((dir) => path.join(dir, target)).find((file) => fs.existsSync(file)) || target;
// keepCase: protobufjs keeps its built-in google.protobuf.Any as `type_url` in any case.
rpcTypes.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
const Status = rpcTypes.lookupType("google.rpc.Status");
const ErrorInfo = rpcTypes.lookupType("google.rpc.ErrorInfo");

function call(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    const options = { deadline: Date.now() + DEADLINE_MS };
    client[method](request, metadata || new grpc.Metadata(), options, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

function errorInfo(error) {
  const raw = error.metadata && error.metadata.get("grpc-status-details-bin")[0];
  if (!raw) return null;
  const status = Status.decode(raw);
  const packed = status.details.find((any) => any.type_url === "type.googleapis.com/google.rpc.ErrorInfo");
  if (!packed) return null;
  const info = ErrorInfo.decode(packed.value);
  return { code: status.code, message: status.message, reason: info.reason, domain: info.domain };
}

async function main() {
  const auth = new wio.auth.v1.AuthService(env("WIO_NODE_AUTH"), credentials());
  const workspaces = new wio.workspaces.v1.WorkspacesService(env("WIO_NODE_WORKSPACES"), credentials());

  // Exchange the API key for a short-lived access token, then call as its bearer.
  const exchanged = await call(auth, "ExchangeApiKey", { apiKey: env("WIO_NODE_API_KEY") });
  assert.ok(exchanged.accessToken, "no access token");
  const bearer = new grpc.Metadata();
  bearer.set("authorization", `Bearer ${exchanged.accessToken}`);

  const me = (await call(auth, "WhoAmI", {}, bearer)).user;

  const name = env("WIO_NODE_WORKSPACE");
  const created = (
    await call(
      workspaces,
      "CreateWorkspace",
      { name, type: "WORKSPACE_TYPE_PRIVATE", node: env("WIO_NODE_NODE") },
      bearer,
    )
  ).workspace;

  // Every page of ListWorkspaces, following nextPageToken (small pages, so that there are several).
  const listed = [];
  let pageToken = "";
  for (let pages = 0; ; pages += 1) {
    assert.ok(pages < 10000, "ListWorkspaces never ends");
    const page = await call(workspaces, "ListWorkspaces", { pageSize: 2, pageToken }, bearer);
    assert.ok(page.workspaces.length <= 2, "a page larger than asked");
    listed.push(...page.workspaces);
    pageToken = page.nextPageToken;
    if (!pageToken) break;
  }
  assert.equal(new Set(listed.map((w) => w.id)).size, listed.length, "a workspace listed twice");
  assert.ok(listed.some((w) => w.id === created.id), "the new workspace is not listed");

  const issued = await call(
    workspaces,
    "IssueCredentials",
    { workspaces: [`${me.username}/${name}`] },
    bearer,
  );
  assert.equal(issued.sets.length, 1, "one credential set expected");
  const set = issued.sets[0];

  // One error, read as a client in any language would: the status code and the ErrorInfo reason.
  let failure = null;
  try {
    await call(workspaces, "GetWorkspace", { workspace: `${me.username}/no-such-${name}` }, bearer);
  } catch (error) {
    failure = { grpcCode: error.code, info: errorInfo(error) };
  }
  assert.ok(failure, "GetWorkspace of a missing workspace succeeded");

  // A token that is not one: refused before anything is looked up.
  const forged = new grpc.Metadata();
  forged.set("authorization", "Bearer not-a-token");
  let refused = null;
  try {
    await call(auth, "WhoAmI", {}, forged);
  } catch (error) {
    refused = { grpcCode: error.code, info: errorInfo(error) };
  }

  process.stdout.write(
    JSON.stringify({
      tokenExpiresAt: exchanged.expiresAt,
      me: { id: me.id, username: me.username, role: me.role },
      created: { id: created.id, name: created.name, bucket: created.bucket, prefix: created.prefix },
      listed: listed.map((w) => ({ id: w.id, name: w.name, ownerUsername: w.ownerUsername })),
      credentials: {
        endpoint: set.endpoint,
        region: set.region,
        accessKey: set.accessKey,
        secretKey: set.secretKey,
        sessionToken: set.sessionToken,
        scopes: set.scopes.map((s) => ({ bucket: s.bucket, prefix: s.prefix, permission: s.permission })),
      },
      notFound: failure,
      forgedToken: refused,
    }) + "\n",
  );
  auth.close();
  workspaces.close();
}

main().catch((error) => {
  process.stderr.write(`wio_client.js: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
