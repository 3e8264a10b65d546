"""What the REST side exposes, read from the generated descriptors at start: every RPC with a
`google.api.http` annotation on a public service (never a *InternalService), the service that owns it
(by its proto package, `wio.<domain>.v1` -> domain) and the comments written above it in the .proto
(from `descriptors.binpb`, a descriptor set with source info that scripts/gen_protos.py writes beside
the generated code). A new annotated RPC needs no change here."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor, MethodDescriptor, ServiceDescriptor

log = logging.getLogger(__name__)

DESCRIPTOR_SET = "descriptors.binpb"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
_VERSION = re.compile(r"v\d+([a-z]+\d*)?")


@dataclass(frozen=True)
class Binding:
    """One HTTP rule of an RPC: `GET /v1/workspaces/{workspace=**}`, its body and response field."""

    method: str  # upper case
    template: str
    body: str  # "", "*" or a field name
    response_body: str


@dataclass(frozen=True)
class Operation:
    service: ServiceDescriptor
    rpc: MethodDescriptor
    domain: str
    binding: Binding
    description: str = ""
    # 0 for the main rule, 1.. for additional_bindings.
    index: int = 0

    @property
    def path(self) -> str:
        """The gRPC method path, `/wio.auth.v1.AuthService/WhoAmI`."""
        return f"/{self.service.full_name}/{self.rpc.name}"

    @property
    def server_streaming(self) -> bool:
        return bool(self.rpc.server_streaming)

    @property
    def operation_id(self) -> str:
        suffix = f"_{self.index}" if self.index else ""
        return f"{self.service.name}_{self.rpc.name}{suffix}"


def domain_of(package: str) -> str:
    """`wio.workspaces.v1` -> `workspaces`: the last part of the package that is not its version."""
    parts = [p for p in package.split(".") if p and not _VERSION.fullmatch(p)]
    return parts[-1] if parts else package


def _http_rule(rpc: MethodDescriptor) -> http_pb2.HttpRule | None:
    options = rpc.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return None
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    return rule


def _binding(rule: http_pb2.HttpRule) -> Binding:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        return Binding(rule.custom.kind.upper(), rule.custom.path, rule.body, rule.response_body)
    if kind is None:
        return Binding("", "", rule.body, rule.response_body)
    return Binding(kind.upper(), str(getattr(rule, kind)), rule.body, rule.response_body)


def bindings(rpc: MethodDescriptor) -> list[Binding]:
    rule = _http_rule(rpc)
    if rule is None:
        return []
    found = [_binding(rule), *(_binding(extra) for extra in rule.additional_bindings)]
    return [b for b in found if b.method and b.template]


def is_internal(service: ServiceDescriptor) -> bool:
    return bool(service.name.endswith("InternalService"))


def proto_files(packages: Iterable[str]) -> Iterator[tuple[FileDescriptor, Path]]:
    """The file descriptor of every generated `*_pb2` module under the given Python packages, with the
    folder of its package root (where a descriptor set with comments may lie)."""
    for name in packages:
        package = importlib.import_module(name)
        roots = [Path(p) for p in getattr(package, "__path__", [])]
        for info in pkgutil.walk_packages(getattr(package, "__path__", []), prefix=f"{name}."):
            if info.name.endswith("_pb2"):
                module = importlib.import_module(info.name)
                yield module.DESCRIPTOR, roots[0] if roots else Path()


@dataclass
class Comments:
    """Leading comments of services, methods, messages, fields, enums and values by full name."""

    by_name: dict[str, str] = field(default_factory=dict)

    def get(self, full_name: str) -> str:
        return self.by_name.get(full_name, "")

    def load(self, path: Path) -> None:
        if not path.is_file():
            return
        fds = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
        for file in fds.file:
            self._add_file(file)

    def _add_file(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        located = {tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location}
        prefix = f"{file.package}." if file.package else ""

        def note(path: tuple[int, ...], name: str) -> None:
            text = located.get(path, "").strip()
            if text:
                self.by_name[name] = "\n".join(line.strip() for line in text.splitlines())

        def message(msg: Any, path: tuple[int, ...], scope: str) -> None:
            name = f"{scope}{msg.name}"
            note(path, name)
            for i, fld in enumerate(msg.field):
                note((*path, 2, i), f"{name}.{fld.name}")
            for i, nested in enumerate(msg.nested_type):
                message(nested, (*path, 3, i), f"{name}.")
            for i, enum in enumerate(msg.enum_type):
                enumeration(enum, (*path, 4, i), f"{name}.")

        def enumeration(enum: Any, path: tuple[int, ...], scope: str) -> None:
            name = f"{scope}{enum.name}"
            note(path, name)
            for i, value in enumerate(enum.value):
                note((*path, 2, i), f"{name}.{value.name}")

        for i, msg in enumerate(file.message_type):
            message(msg, (4, i), prefix)
        for i, enum in enumerate(file.enum_type):
            enumeration(enum, (5, i), prefix)
        for i, svc in enumerate(file.service):
            note((6, i), f"{prefix}{svc.name}")
            for j, rpc in enumerate(svc.method):
                note((6, i, 2, j), f"{prefix}{svc.name}.{rpc.name}")


@dataclass
class Catalog:
    operations: list[Operation]
    comments: Comments

    @classmethod
    def discover(cls, packages: Iterable[str], domains: Iterable[str] | None = None) -> Catalog:
        """Every exposed operation of the generated code under `packages`; with `domains`, only those of
        services the gateway has an address for."""
        wanted = None if domains is None else set(domains)
        comments = Comments()
        operations: list[Operation] = []
        seen_roots: set[Path] = set()
        seen_files: set[str] = set()
        for file, root in proto_files(packages):
            if root not in seen_roots:
                seen_roots.add(root)
                comments.load(root / DESCRIPTOR_SET)
            if file.name in seen_files:
                continue
            seen_files.add(file.name)
            domain = domain_of(file.package)
            for service in file.services_by_name.values():
                if is_internal(service):
                    continue
                for rpc in service.methods:
                    if rpc.client_streaming:
                        continue  # no HTTP mapping for a client stream
                    for index, binding in enumerate(bindings(rpc)):
                        if wanted is not None and domain not in wanted:
                            log.warning(
                                "%s has a REST route but no service address: not exposed", rpc.full_name
                            )
                            continue
                        operations.append(
                            Operation(service, rpc, domain, binding, comments.get(rpc.full_name), index)
                        )
        return cls(operations, comments)
