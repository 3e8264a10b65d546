from wio.events.v1 import meta_pb2 as _meta_pb2
from wio.nodes.v1 import nodes_pb2 as _nodes_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeRegisteredEvent(_message.Message):
    __slots__ = ("meta", "node_id", "name", "endpoint", "operator_id")
    META_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    node_id: str
    name: str
    endpoint: str
    operator_id: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., node_id: _Optional[str] = ..., name: _Optional[str] = ..., endpoint: _Optional[str] = ..., operator_id: _Optional[str] = ...) -> None: ...

class NodeUpdatedEvent(_message.Message):
    __slots__ = ("meta", "node_id", "name", "changed_fields")
    META_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    node_id: str
    name: str
    changed_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., node_id: _Optional[str] = ..., name: _Optional[str] = ..., changed_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class NodeRemovedEvent(_message.Message):
    __slots__ = ("meta", "node_id", "name")
    META_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    node_id: str
    name: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., node_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class NodeStatusChangedEvent(_message.Message):
    __slots__ = ("meta", "node_id", "name", "previous", "current", "detail")
    META_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    node_id: str
    name: str
    previous: _nodes_pb2.NodeStatus
    current: _nodes_pb2.NodeStatus
    detail: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., node_id: _Optional[str] = ..., name: _Optional[str] = ..., previous: _Optional[_Union[_nodes_pb2.NodeStatus, str]] = ..., current: _Optional[_Union[_nodes_pb2.NodeStatus, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class RootCreatedEvent(_message.Message):
    __slots__ = ("meta", "root_id", "node_id", "bucket", "base_prefix", "type")
    META_FIELD_NUMBER: _ClassVar[int]
    ROOT_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    BASE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    root_id: str
    node_id: str
    bucket: str
    base_prefix: str
    type: _nodes_pb2.RootType
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., root_id: _Optional[str] = ..., node_id: _Optional[str] = ..., bucket: _Optional[str] = ..., base_prefix: _Optional[str] = ..., type: _Optional[_Union[_nodes_pb2.RootType, str]] = ...) -> None: ...

class RootRemovedEvent(_message.Message):
    __slots__ = ("meta", "root_id", "node_id")
    META_FIELD_NUMBER: _ClassVar[int]
    ROOT_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    root_id: str
    node_id: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., root_id: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...
