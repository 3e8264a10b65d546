"""The OpenAPI 3.1 document of the REST side, made from the same catalog the routes come from (so the two
cannot drift), and a small self-contained HTML page listing it (/docs)."""

from __future__ import annotations

import html
from collections.abc import Collection
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from gateway.catalog import Catalog, Operation
from gateway.transcode import compile_template

FD = FieldDescriptor
INPUT_NOTE = (
    "Input takes field names in lowerCamelCase or as written in the protos (snake_case), as grpc-gateway "
    "does; 64-bit integers as strings or numbers, enums as names or numbers. Output uses protobuf's JSON "
    "mapping defaults: lowerCamelCase names, 64-bit integers as strings, enums as names, Timestamps as "
    "RFC 3339 strings, fields at their default value left out. Server-streaming operations answer "
    "newline-delimited JSON (application/x-ndjson), one message a line; an error after the first line "
    'comes as a last line `{"error": {code, message, details}}`.'
)
ERROR_SCHEMA = {
    "type": "object",
    "description": "grpc-gateway's error body: the gRPC status code number, a message, and the "
    "google.rpc.Status details (google.rpc.ErrorInfo carries the stable `reason`).",
    "properties": {
        "code": {"type": "integer", "description": "gRPC status code (google.rpc.Code)"},
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "@type": {"type": "string"},
                    "reason": {"type": "string"},
                    "domain": {"type": "string"},
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "additionalProperties": True,
            },
        },
    },
    "required": ["code", "message", "details"],
}
_INT32 = {FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32, FD.TYPE_UINT32, FD.TYPE_FIXED32}
_INT64 = {FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64, FD.TYPE_UINT64, FD.TYPE_FIXED64}
WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string", "description": "comma-separated field paths"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}}},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.BytesValue": {"type": "string", "contentEncoding": "base64"},
    "google.protobuf.Int32Value": {"type": "integer", "format": "int32"},
    "google.protobuf.UInt32Value": {"type": "integer", "format": "int32"},
    "google.protobuf.Int64Value": {"type": "string", "format": "int64"},
    "google.protobuf.UInt64Value": {"type": "string", "format": "uint64"},
    "google.protobuf.DoubleValue": {"type": "number"},
    "google.protobuf.FloatValue": {"type": "number"},
}


class SchemaBuilder:
    def __init__(self, catalog: Catalog) -> None:
        self.comments = catalog.comments
        self.schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def ref(self, descriptor: Descriptor) -> dict[str, Any]:
        known = WELL_KNOWN.get(descriptor.full_name)
        if known is not None:
            return dict(known)
        name = descriptor.full_name
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder: recursive messages refer to themselves
            self.schemas[name] = self._message(descriptor)
        return {"$ref": f"#/components/schemas/{name}"}

    def _enum(self, enum: EnumDescriptor) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "enum": [v.name for v in enum.values]}
        described = [f"{v.name}: {self.comments.get(f'{enum.full_name}.{v.name}')}" for v in enum.values]
        text = self.comments.get(enum.full_name)
        notes = [line for line in described if not line.endswith(": ")]
        if text or notes:
            schema["description"] = "\n".join([text, *notes]).strip()
        return schema

    def scalar(self, field: FieldDescriptor) -> dict[str, Any]:
        kind = field.type
        if kind == FD.TYPE_MESSAGE:
            return self.ref(field.message_type)
        if kind == FD.TYPE_ENUM:
            return self._enum(field.enum_type)
        if kind == FD.TYPE_BOOL:
            return {"type": "boolean"}
        if kind == FD.TYPE_STRING:
            return {"type": "string"}
        if kind == FD.TYPE_BYTES:
            return {"type": "string", "contentEncoding": "base64"}
        if kind in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
            return {"type": "number"}
        if kind in _INT32:
            return {"type": "integer", "format": "int32"}
        if kind in _INT64:
            return {"type": "string", "format": "int64", "pattern": r"^-?[0-9]+$"}
        return {}

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = self.scalar(field.message_type.fields_by_name["value"])
            schema: dict[str, Any] = {"type": "object", "additionalProperties": value}
        elif field.is_repeated:
            schema = {"type": "array", "items": self.scalar(field)}
        else:
            schema = self.scalar(field)
        text = self.comments.get(field.full_name)
        if text:
            schema = (
                {"allOf": [schema], "description": text}
                if "$ref" in schema
                else {**schema, "description": text}
            )
        return schema

    def _message(self, descriptor: Descriptor, skip: Collection[str] = ()) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {f.json_name: self.field(f) for f in descriptor.fields if f.name not in skip},
            "additionalProperties": False,
        }
        text = self.comments.get(descriptor.full_name)
        if text:
            schema["description"] = text
        return schema

    def body(self, descriptor: Descriptor, skip: Collection[str]) -> dict[str, Any]:
        """A request body: the message without the fields bound to the path (inline when some are)."""
        if not skip:
            return self.ref(descriptor)
        return self._message(descriptor, skip)


def _query_parameters(
    builder: SchemaBuilder, descriptor: Descriptor, skip: Collection[str], prefix: str = "", depth: int = 0
) -> list[dict[str, Any]]:
    """Every leaf field not bound to the path or the body, as grpc-gateway takes them: dotted names for
    nested messages, a repeated field by repeating the parameter."""
    params: list[dict[str, Any]] = []
    for field in descriptor.fields:
        name = f"{prefix}{field.json_name}"
        if f"{prefix}{field.name}" in skip or name in skip:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            continue
        is_message = field.type == FD.TYPE_MESSAGE and field.message_type.full_name not in WELL_KNOWN
        if is_message:
            if not field.is_repeated and depth < 3:
                params += _query_parameters(builder, field.message_type, skip, f"{name}.", depth + 1)
            continue
        schema = builder.field(field)
        param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
        if field.is_repeated:
            param.update(style="form", explode=True)
        text = builder.comments.get(field.full_name)
        if text:
            param["description"] = text
        params.append(param)
    return params


def _operation(builder: SchemaBuilder, op: Operation, public: Collection[str]) -> dict[str, Any]:
    template = compile_template(op.binding.template)
    request = op.rpc.input_type
    path_fields = set(template.fields)
    parameters: list[dict[str, Any]] = []
    for dotted in template.fields:
        first = request.fields_by_name.get(dotted.split(".")[0])
        schema: dict[str, Any] = {"type": "string"}
        if first is not None and "." not in dotted:
            schema = builder.scalar(first)
        param = {"name": dotted, "in": "path", "required": True, "schema": schema}
        if "**" in op.binding.template:
            param["description"] = "may contain `/`"
        parameters.append(param)
    body = op.binding.body
    if body not in ("", "*"):
        parameters += _query_parameters(builder, request, path_fields | {body})
    elif not body:
        parameters += _query_parameters(builder, request, path_fields)
    result: dict[str, Any] = {
        "operationId": op.operation_id,
        "tags": [op.service.name],
        "summary": op.rpc.name,
        "parameters": parameters,
    }
    description = op.description or builder.comments.get(op.rpc.full_name)
    if description:
        result["description"] = description
    if body:
        if body == "*":
            schema = builder.body(request, {f.split(".")[0] for f in path_fields})
        else:
            schema = builder.field(request.fields_by_name[body])
        result["requestBody"] = {"required": False, "content": {"application/json": {"schema": schema}}}
    reply = builder.ref(op.rpc.output_type)
    if op.binding.response_body:
        reply = builder.field(op.rpc.output_type.fields_by_name[op.binding.response_body])
    media = "application/x-ndjson" if op.server_streaming else "application/json"
    result["responses"] = {
        "200": {
            "description": "one JSON message a line" if op.server_streaming else "success",
            "content": {media: {"schema": reply}},
        },
        "default": {
            "description": "an error (HTTP status from the gRPC code with grpc-gateway's table)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    }
    if op.path in public:
        result["security"] = []
    return result


def document(catalog: Catalog, public: Collection[str] = (), title: str = "wio") -> dict[str, Any]:
    builder = SchemaBuilder(catalog)
    paths: dict[str, dict[str, Any]] = {}
    for op in catalog.operations:
        path = compile_template(op.binding.template).openapi_path
        paths.setdefault(path, {})[op.binding.method.lower()] = _operation(builder, op, public)
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{title} REST API", "version": "v1", "description": INPUT_NOTE},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(builder.schemas.items())),
            "securitySchemes": {
                "Bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an access token from POST /v1/auth/token",
                },
                "ApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Authorization: ApiKey <key>`: the gateway exchanges the key for an "
                    "access token (kept until shortly before it expires)",
                },
            },
        },
        "security": [{"Bearer": []}, {"ApiKey": []}],
    }


def docs_page(doc: dict[str, Any]) -> str:
    """A plain HTML listing of the operations: no script, no external resource."""
    rows = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            params = ", ".join(f"{p['name']} ({p['in']})" for p in op.get("parameters", []))
            body = "JSON body" if "requestBody" in op else ""
            rows.append(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                    html.escape(method.upper()),
                    html.escape(path),
                    html.escape(op.get("description", op["summary"])).replace("\n", "<br>"),
                    html.escape(params),
                    body,
                )
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>wio REST API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border-bottom:1px solid #ddd;padding:4px 8px;"
        "vertical-align:top;text-align:left}table{border-collapse:collapse}</style></head><body>"
        f"<h1>{html.escape(doc['info']['title'])}</h1><p>{html.escape(doc['info']['description'])}</p>"
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1). Authentication: "
        "<code>Authorization: Bearer &lt;token&gt;</code> or <code>Authorization: ApiKey &lt;key&gt;</code>. "
        "Errors: <code>{code, message, details}</code>.</p>"
        "<table><tr><th>Method</th><th>Path</th><th>Description</th><th>Parameters</th><th>Body</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )


DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
