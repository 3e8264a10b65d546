"""HTTP <-> protobuf, as grpc-gateway does it: path templates (`{field}`, `{field=**}`, `:verb`), query
parameters (dotted names for nested fields, repeated by repeating the name), bodies (`*` or one field)
through protobuf's JSON mapping, which accepts lowerCamelCase and proto names alike. Answers use
protobuf's JSON defaults: lowerCamelCase names, 64-bit integers as strings, enums as names."""

from __future__ import annotations

import base64
import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, unquote

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

# Messages that JSON writes as one string (or number): a query parameter may give them.
SCALAR_MESSAGES = frozenset(
    {
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
        *(
            f"google.protobuf.{kind}Value"
            for kind in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
        ),
    }
)
_BOOL = {"true": True, "false": False, "1": True, "0": False}


M = TypeVar("M", bound=Message)


class RequestError(ValueError):
    """The request does not make a valid message: 400, with this message (it names the field)."""


@dataclass(frozen=True)
class Template:
    """A compiled path template: a regular expression over the raw (still %-encoded) path."""

    pattern: re.Pattern[str]
    fields: tuple[str, ...]  # field paths, in order of the groups
    literal_weight: int  # more literal characters first, so `/a:verb` wins over `/{x=**}`
    openapi_path: str

    def match(self, raw_path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(raw_path)
        if found is None:
            return None
        values = {}
        for name, value in zip(self.fields, found.groups(), strict=True):
            decoded = unquote(value)
            if not decoded:
                return None
            values[name] = decoded
        return values


_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")


def compile_template(template: str) -> Template:
    """`/v1/workspaces/{workspace=**}:permission` -> a pattern; `*` is one segment, `**` any number."""
    path, verb = template, ""
    last = template.rsplit("/", 1)[-1]
    if ":" in last and "}" not in last.split(":")[-1]:
        path, verb = template.rsplit(":", 1)
    regex, fields, openapi, pos, literal = "", [], "", 0, len(verb)
    for found in _VARIABLE.finditer(path):
        text = path[pos : found.start()]
        regex += re.escape(text)
        openapi += text
        literal += len(text)
        name, sub = found.group(1), found.group(2) or "*"
        parts = []
        for segment in sub.split("/"):
            if segment == "**":
                parts.append(r".+?")
            elif segment == "*":
                parts.append(r"[^/]+")
            else:
                parts.append(re.escape(segment))
                literal += len(segment)
        regex += "(" + "/".join(parts) + ")"
        fields.append(name)
        openapi += "{" + name + "}"
        pos = found.end()
    regex += re.escape(path[pos:])
    openapi += path[pos:]
    literal += len(path[pos:])
    if verb:
        regex += ":" + re.escape(verb)
        openapi += ":" + verb
    return Template(re.compile(regex), tuple(fields), literal, openapi)


def _field(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    """A field by proto name or JSON (lowerCamelCase) name."""
    found: FieldDescriptor | None = descriptor.fields_by_name.get(name)
    if found is not None:
        return found
    for candidate in descriptor.fields:
        if json_name(candidate) == name:
            return cast(FieldDescriptor, candidate)
    return None


def json_name(field: FieldDescriptor) -> str:
    """The field's lowerCamelCase JSON name (protobuf's type stubs leave the attribute out)."""
    return str(field.json_name)  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=4096)
def _leaf(descriptor: Descriptor, dotted: str) -> tuple[tuple[str, ...], FieldDescriptor]:
    """The JSON names along `a.b.c` and the last field; RequestError when a part is unknown. Kept per
    message type and name (a refusal is not kept: it raises)."""
    names: list[str] = []
    current: Descriptor | None = descriptor
    field: FieldDescriptor | None = None
    for part in dotted.split("."):
        if current is None or (field is not None and field.is_repeated):
            raise RequestError(f"{dotted!r} is not a field of {descriptor.name}")
        field = _field(current, part)
        if field is None:
            raise RequestError(f"{dotted!r} is not a field of {descriptor.name}")
        names.append(json_name(field))
        current = field.message_type if field.type == FieldDescriptor.TYPE_MESSAGE else None
    assert field is not None
    return tuple(names), field


def _is_map(field: FieldDescriptor) -> bool:
    return bool(field.message_type is not None and field.message_type.GetOptions().map_entry)


_INTEGERS = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def _scalar(field: FieldDescriptor, raw: str, dotted: str) -> Any:
    """A query parameter's text as the JSON value protobuf's parser takes for that field."""
    if field.type == FieldDescriptor.TYPE_BOOL:
        value = _BOOL.get(raw.lower())
        if value is None:
            raise RequestError(f"{dotted}: expected true or false, got {raw!r}")
        return value
    if field.type in _INTEGERS:
        # protobuf's parser would take any Unicode digits (a fullwidth one): a query's numbers are ASCII.
        if not (raw.removeprefix("-").isascii() and raw.removeprefix("-").isdigit()):
            raise RequestError(f"{dotted}: expected an integer, got {raw[:40]!r}")
        return raw
    if field.type == FieldDescriptor.TYPE_ENUM:
        digits = raw.removeprefix("-")
        return int(raw) if digits.isascii() and digits.isdigit() and len(digits) <= 10 else raw
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name in SCALAR_MESSAGES:
            return raw
        raise RequestError(f"{dotted}: a message field cannot be given as a query parameter")
    return raw


def _put(target: dict[str, Any], names: tuple[str, ...], value: Any, repeated: bool) -> None:
    for name in names[:-1]:
        nested = target.setdefault(name, {})
        if not isinstance(nested, dict):
            raise RequestError(f"{'.'.join(names)} conflicts with another parameter")
        target = nested
    last = names[-1]
    if repeated:
        target.setdefault(last, []).append(value)
    elif last in target:
        raise RequestError(f"{'.'.join(names)} is given more than once")
    else:
        target[last] = value


def _merge(into: dict[str, Any], names: tuple[str, ...], value: Any) -> None:
    for name in names[:-1]:
        into = into.setdefault(name, {})
    into[names[-1]] = value


def parse_json(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise RequestError("the body is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except ValueError as exc:  # a number of more digits than Python converts
        raise RequestError("the body holds a number too long to read") from exc
    except RecursionError as exc:
        raise RequestError("the body nests too deeply") from exc


def build_request(
    message_class: type[M],
    body_rule: str,
    path_values: dict[str, str],
    query: str,
    body: bytes,
) -> M:
    """The request message from the path variables, the query string and the body."""
    descriptor: Any = message_class.DESCRIPTOR
    data: dict[str, Any] = {}
    bound: set[str] = set()
    if body_rule == "*":
        parsed = parse_json(body)
        if not isinstance(parsed, dict):
            raise RequestError("the body must be a JSON object")
        data = parsed
    elif body_rule:
        names, field = _leaf(descriptor, body_rule)
        parsed = parse_json(body) if body.strip() else None
        if parsed is not None:
            _merge(data, names, parsed)
        bound.add(field.full_name)
    if body_rule != "*" and query:
        for key, raw in parse_qsl(query, keep_blank_values=True):
            names, field = _leaf(descriptor, key)
            if _is_map(field):
                raise RequestError(f"{key}: a map cannot be given as a query parameter")
            repeated = field.is_repeated
            _put(data, names, _scalar(field, raw, key), repeated)
    for dotted, raw in path_values.items():
        names, field = _leaf(descriptor, dotted)
        _merge(data, names, _scalar(field, raw, dotted))
    message = message_class()
    if not data and not descriptor.full_name.startswith("google.protobuf."):
        return message  # nothing given: the empty message, without a trip through the JSON parser
    try:
        json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        raise RequestError(str(exc)) from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise RequestError(f"the request does not match {descriptor.full_name}: {exc}") from exc
    except RecursionError as exc:
        raise RequestError("the request nests too deeply") from exc
    except SystemError as exc:
        # protobuf's C parser meeting text Python cannot encode (a lone surrogate) where it wants an enum
        # name or a list.
        raise RequestError(f"the request does not match {descriptor.full_name}: text it cannot read") from exc
    return message


def to_json(message: Message) -> dict[str, Any]:
    """protobuf's JSON defaults: lowerCamelCase, int64 as strings, enums as names, defaults omitted.

    The same dict as json_format.MessageToDict, made with a plan per message type built once (the JSON
    name and converter of each field), since json_format works all of that out again for every field of
    every message; what the plans leave out (below) goes to json_format itself."""
    result: dict[str, Any] = _message_converter(message.DESCRIPTOR)(message)
    return result


Converter = Callable[[Any], Any]


def _by_json_format(message: Message) -> Any:
    return json_format.MessageToDict(message)


@functools.cache
def _message_converter(descriptor: Descriptor) -> Converter:
    """The converter of a message type: json_format's own for google.protobuf's types (timestamps,
    wrappers, Any, Struct...: their JSON is special) and for what the plans do not cover (float32 fields,
    closed enums, extensions), else the plan: a dict of the fields `ListFields` returns, as json_format
    builds it."""
    fields = descriptor.fields
    if (
        descriptor.file.name.startswith("google/protobuf/")
        or descriptor.extension_ranges
        or any(
            f.cpp_type == FieldDescriptor.CPPTYPE_FLOAT
            or (f.cpp_type == FieldDescriptor.CPPTYPE_ENUM and f.enum_type.is_closed)
            for f in fields
        )
    ):
        return _by_json_format
    plan: dict[FieldDescriptor, tuple[str, Converter]] = {}

    def convert(message: Message) -> dict[str, Any]:
        if not plan:  # filled on first use: a message type may contain itself
            plan.update((f, (json_name(f), _field_converter(f))) for f in fields)
        result: dict[str, Any] = {}
        for field, value in message.ListFields():
            name, convert_value = plan[field]
            result[name] = convert_value(value)
        return result

    return convert


def _field_converter(field: FieldDescriptor) -> Converter:
    """A field's value (a whole list or map when repeated) as json_format writes it."""
    if _is_map(field):
        value_converter = _value_converter(field.message_type.fields_by_name["value"])
        return lambda value: {_map_key(key): value_converter(value[key]) for key in value}
    one = _value_converter(field)
    if field.is_repeated:
        return lambda value: [one(item) for item in value]
    return one


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _same(value: Any) -> Any:
    return value


def _value_converter(field: FieldDescriptor) -> Converter:
    kind = field.cpp_type
    if kind == FieldDescriptor.CPPTYPE_MESSAGE:
        message_type = field.message_type
        return lambda value: _message_converter(message_type)(value)
    if kind == FieldDescriptor.CPPTYPE_ENUM:
        if field.enum_type.full_name == "google.protobuf.NullValue":
            return lambda value: None
        names = {number: value.name for number, value in field.enum_type.values_by_number.items()}
        # An open enum's unknown number stays a number.
        return lambda value: names.get(value, value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return lambda value: base64.b64encode(value).decode("utf-8")
    if kind in (
        FieldDescriptor.CPPTYPE_INT64,
        FieldDescriptor.CPPTYPE_UINT64,
    ):
        return str
    if kind == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    return _same  # strings, booleans, 32-bit integers


def _double(value: float) -> Any:
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    if math.isnan(value):
        return "NaN"
    return value
