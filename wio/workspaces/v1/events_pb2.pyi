import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from wio.events.v1 import meta_pb2 as _meta_pb2
from wio.workspaces.v1 import workspaces_pb2 as _workspaces_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkspaceCreatedEvent(_message.Message):
    __slots__ = ("meta", "workspace_id", "name", "owner_id", "node_id", "bucket", "prefix", "type")
    META_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    workspace_id: str
    name: str
    owner_id: str
    node_id: str
    bucket: str
    prefix: str
    type: _workspaces_pb2.WorkspaceType
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., owner_id: _Optional[str] = ..., node_id: _Optional[str] = ..., bucket: _Optional[str] = ..., prefix: _Optional[str] = ..., type: _Optional[_Union[_workspaces_pb2.WorkspaceType, str]] = ...) -> None: ...

class WorkspaceDeletedEvent(_message.Message):
    __slots__ = ("meta", "workspace_id", "name", "owner_id")
    META_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    workspace_id: str
    name: str
    owner_id: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., owner_id: _Optional[str] = ...) -> None: ...

class ShareChangedEvent(_message.Message):
    __slots__ = ("meta", "share_id", "workspace_id", "sharee_kind", "sharee_id", "permission", "expires_at")
    META_FIELD_NUMBER: _ClassVar[int]
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SHAREE_KIND_FIELD_NUMBER: _ClassVar[int]
    SHAREE_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    share_id: str
    workspace_id: str
    sharee_kind: str
    sharee_id: str
    permission: _workspaces_pb2.Permission
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., share_id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., sharee_kind: _Optional[str] = ..., sharee_id: _Optional[str] = ..., permission: _Optional[_Union[_workspaces_pb2.Permission, str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CredentialsIssuedEvent(_message.Message):
    __slots__ = ("meta", "user_id", "node_id", "workspace_ids", "expires_at", "access_key")
    META_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_IDS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ACCESS_KEY_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    user_id: str
    node_id: str
    workspace_ids: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    access_key: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., user_id: _Optional[str] = ..., node_id: _Optional[str] = ..., workspace_ids: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., access_key: _Optional[str] = ...) -> None: ...
