import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_KIND_UNSPECIFIED: _ClassVar[NodeKind]
    NODE_KIND_MINIO: _ClassVar[NodeKind]
    NODE_KIND_AWS: _ClassVar[NodeKind]
    NODE_KIND_SEAWEEDFS: _ClassVar[NodeKind]
    NODE_KIND_CEPH: _ClassVar[NodeKind]
    NODE_KIND_GENERIC: _ClassVar[NodeKind]

class NodeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_STATUS_UNSPECIFIED: _ClassVar[NodeStatus]
    NODE_STATUS_ONLINE: _ClassVar[NodeStatus]
    NODE_STATUS_DEGRADED: _ClassVar[NodeStatus]
    NODE_STATUS_OFFLINE: _ClassVar[NodeStatus]

class RootType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROOT_TYPE_UNSPECIFIED: _ClassVar[RootType]
    ROOT_TYPE_PRIVATE: _ClassVar[RootType]
    ROOT_TYPE_PUBLIC: _ClassVar[RootType]
    ROOT_TYPE_UNMANAGED: _ClassVar[RootType]
NODE_KIND_UNSPECIFIED: NodeKind
NODE_KIND_MINIO: NodeKind
NODE_KIND_AWS: NodeKind
NODE_KIND_SEAWEEDFS: NodeKind
NODE_KIND_CEPH: NodeKind
NODE_KIND_GENERIC: NodeKind
NODE_STATUS_UNSPECIFIED: NodeStatus
NODE_STATUS_ONLINE: NodeStatus
NODE_STATUS_DEGRADED: NodeStatus
NODE_STATUS_OFFLINE: NodeStatus
ROOT_TYPE_UNSPECIFIED: RootType
ROOT_TYPE_PRIVATE: RootType
ROOT_TYPE_PUBLIC: RootType
ROOT_TYPE_UNMANAGED: RootType

class Node(_message.Message):
    __slots__ = ("id", "name", "endpoint", "region", "kind", "operator_id", "operator_username", "sts_endpoint", "role_arn", "max_credential_seconds", "policy_size_limit", "status", "last_seen_at", "latency_ms", "status_detail", "created_at", "access_key")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_USERNAME_FIELD_NUMBER: _ClassVar[int]
    STS_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    ROLE_ARN_FIELD_NUMBER: _ClassVar[int]
    MAX_CREDENTIAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    POLICY_SIZE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACCESS_KEY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    endpoint: str
    region: str
    kind: NodeKind
    operator_id: str
    operator_username: str
    sts_endpoint: str
    role_arn: str
    max_credential_seconds: int
    policy_size_limit: int
    status: NodeStatus
    last_seen_at: _timestamp_pb2.Timestamp
    latency_ms: float
    status_detail: str
    created_at: _timestamp_pb2.Timestamp
    access_key: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., endpoint: _Optional[str] = ..., region: _Optional[str] = ..., kind: _Optional[_Union[NodeKind, str]] = ..., operator_id: _Optional[str] = ..., operator_username: _Optional[str] = ..., sts_endpoint: _Optional[str] = ..., role_arn: _Optional[str] = ..., max_credential_seconds: _Optional[int] = ..., policy_size_limit: _Optional[int] = ..., status: _Optional[_Union[NodeStatus, str]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latency_ms: _Optional[float] = ..., status_detail: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., access_key: _Optional[str] = ...) -> None: ...

class Root(_message.Message):
    __slots__ = ("id", "node_id", "node_name", "bucket", "base_prefix", "type", "allowed_creators", "created_by", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    BASE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_CREATORS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    node_id: str
    node_name: str
    bucket: str
    base_prefix: str
    type: RootType
    allowed_creators: _containers.RepeatedScalarFieldContainer[str]
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., node_id: _Optional[str] = ..., node_name: _Optional[str] = ..., bucket: _Optional[str] = ..., base_prefix: _Optional[str] = ..., type: _Optional[_Union[RootType, str]] = ..., allowed_creators: _Optional[_Iterable[str]] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class NodeCheck(_message.Message):
    __slots__ = ("reachable", "credentials_ok", "sts_ok", "latency_ms", "detail")
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_OK_FIELD_NUMBER: _ClassVar[int]
    STS_OK_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    reachable: bool
    credentials_ok: bool
    sts_ok: bool
    latency_ms: float
    detail: str
    def __init__(self, reachable: bool = ..., credentials_ok: bool = ..., sts_ok: bool = ..., latency_ms: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class NodeAccess(_message.Message):
    __slots__ = ("node_id", "endpoint", "region", "access_key", "secret_key", "sts_endpoint", "role_arn", "max_credential_seconds", "policy_size_limit", "kind", "status", "operator_id")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_KEY_FIELD_NUMBER: _ClassVar[int]
    STS_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    ROLE_ARN_FIELD_NUMBER: _ClassVar[int]
    MAX_CREDENTIAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    POLICY_SIZE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    endpoint: str
    region: str
    access_key: str
    secret_key: str
    sts_endpoint: str
    role_arn: str
    max_credential_seconds: int
    policy_size_limit: int
    kind: NodeKind
    status: NodeStatus
    operator_id: str
    def __init__(self, node_id: _Optional[str] = ..., endpoint: _Optional[str] = ..., region: _Optional[str] = ..., access_key: _Optional[str] = ..., secret_key: _Optional[str] = ..., sts_endpoint: _Optional[str] = ..., role_arn: _Optional[str] = ..., max_credential_seconds: _Optional[int] = ..., policy_size_limit: _Optional[int] = ..., kind: _Optional[_Union[NodeKind, str]] = ..., status: _Optional[_Union[NodeStatus, str]] = ..., operator_id: _Optional[str] = ...) -> None: ...

class RegisterNodeRequest(_message.Message):
    __slots__ = ("name", "endpoint", "region", "kind", "access_key", "secret_key", "sts_endpoint", "role_arn", "max_credential_seconds", "policy_size_limit")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACCESS_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_KEY_FIELD_NUMBER: _ClassVar[int]
    STS_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    ROLE_ARN_FIELD_NUMBER: _ClassVar[int]
    MAX_CREDENTIAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    POLICY_SIZE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    endpoint: str
    region: str
    kind: NodeKind
    access_key: str
    secret_key: str
    sts_endpoint: str
    role_arn: str
    max_credential_seconds: int
    policy_size_limit: int
    def __init__(self, name: _Optional[str] = ..., endpoint: _Optional[str] = ..., region: _Optional[str] = ..., kind: _Optional[_Union[NodeKind, str]] = ..., access_key: _Optional[str] = ..., secret_key: _Optional[str] = ..., sts_endpoint: _Optional[str] = ..., role_arn: _Optional[str] = ..., max_credential_seconds: _Optional[int] = ..., policy_size_limit: _Optional[int] = ...) -> None: ...

class RegisterNodeResponse(_message.Message):
    __slots__ = ("node", "check")
    NODE_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    node: Node
    check: NodeCheck
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., check: _Optional[_Union[NodeCheck, _Mapping]] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    def __init__(self, nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ...) -> None: ...

class GetNodeRequest(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: str
    def __init__(self, node: _Optional[str] = ...) -> None: ...

class GetNodeResponse(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: Node
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...

class CheckNodeRequest(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: str
    def __init__(self, node: _Optional[str] = ...) -> None: ...

class CheckNodeResponse(_message.Message):
    __slots__ = ("node", "check")
    NODE_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    node: Node
    check: NodeCheck
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., check: _Optional[_Union[NodeCheck, _Mapping]] = ...) -> None: ...

class UpdateNodeRequest(_message.Message):
    __slots__ = ("node", "changes", "update_mask")
    NODE_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    node: str
    changes: RegisterNodeRequest
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, node: _Optional[str] = ..., changes: _Optional[_Union[RegisterNodeRequest, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateNodeResponse(_message.Message):
    __slots__ = ("node", "check")
    NODE_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    node: Node
    check: NodeCheck
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., check: _Optional[_Union[NodeCheck, _Mapping]] = ...) -> None: ...

class DeleteNodeRequest(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: str
    def __init__(self, node: _Optional[str] = ...) -> None: ...

class DeleteNodeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateRootRequest(_message.Message):
    __slots__ = ("node", "bucket", "base_prefix", "type", "allowed_creators")
    NODE_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    BASE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_CREATORS_FIELD_NUMBER: _ClassVar[int]
    node: str
    bucket: str
    base_prefix: str
    type: RootType
    allowed_creators: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, node: _Optional[str] = ..., bucket: _Optional[str] = ..., base_prefix: _Optional[str] = ..., type: _Optional[_Union[RootType, str]] = ..., allowed_creators: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateRootResponse(_message.Message):
    __slots__ = ("root", "bucket_created")
    ROOT_FIELD_NUMBER: _ClassVar[int]
    BUCKET_CREATED_FIELD_NUMBER: _ClassVar[int]
    root: Root
    bucket_created: bool
    def __init__(self, root: _Optional[_Union[Root, _Mapping]] = ..., bucket_created: bool = ...) -> None: ...

class ListRootsRequest(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: str
    def __init__(self, node: _Optional[str] = ...) -> None: ...

class ListRootsResponse(_message.Message):
    __slots__ = ("roots",)
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    roots: _containers.RepeatedCompositeFieldContainer[Root]
    def __init__(self, roots: _Optional[_Iterable[_Union[Root, _Mapping]]] = ...) -> None: ...

class GetRootRequest(_message.Message):
    __slots__ = ("root",)
    ROOT_FIELD_NUMBER: _ClassVar[int]
    root: str
    def __init__(self, root: _Optional[str] = ...) -> None: ...

class GetRootResponse(_message.Message):
    __slots__ = ("root",)
    ROOT_FIELD_NUMBER: _ClassVar[int]
    root: Root
    def __init__(self, root: _Optional[_Union[Root, _Mapping]] = ...) -> None: ...

class DeleteRootRequest(_message.Message):
    __slots__ = ("root",)
    ROOT_FIELD_NUMBER: _ClassVar[int]
    root: str
    def __init__(self, root: _Optional[str] = ...) -> None: ...

class DeleteRootResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetNodeAccessRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class GetNodeAccessResponse(_message.Message):
    __slots__ = ("access",)
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    access: NodeAccess
    def __init__(self, access: _Optional[_Union[NodeAccess, _Mapping]] = ...) -> None: ...

class GetRootAccessRequest(_message.Message):
    __slots__ = ("root_id",)
    ROOT_ID_FIELD_NUMBER: _ClassVar[int]
    root_id: str
    def __init__(self, root_id: _Optional[str] = ...) -> None: ...

class GetRootAccessResponse(_message.Message):
    __slots__ = ("root", "access")
    ROOT_FIELD_NUMBER: _ClassVar[int]
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    root: Root
    access: NodeAccess
    def __init__(self, root: _Optional[_Union[Root, _Mapping]] = ..., access: _Optional[_Union[NodeAccess, _Mapping]] = ...) -> None: ...
