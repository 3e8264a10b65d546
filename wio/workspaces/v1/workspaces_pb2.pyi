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

class WorkspaceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKSPACE_TYPE_UNSPECIFIED: _ClassVar[WorkspaceType]
    WORKSPACE_TYPE_PRIVATE: _ClassVar[WorkspaceType]
    WORKSPACE_TYPE_PUBLIC: _ClassVar[WorkspaceType]
    WORKSPACE_TYPE_UNMANAGED: _ClassVar[WorkspaceType]

class Permission(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERMISSION_UNSPECIFIED: _ClassVar[Permission]
    PERMISSION_READ: _ClassVar[Permission]
    PERMISSION_READWRITE: _ClassVar[Permission]
    PERMISSION_OWN: _ClassVar[Permission]
WORKSPACE_TYPE_UNSPECIFIED: WorkspaceType
WORKSPACE_TYPE_PRIVATE: WorkspaceType
WORKSPACE_TYPE_PUBLIC: WorkspaceType
WORKSPACE_TYPE_UNMANAGED: WorkspaceType
PERMISSION_UNSPECIFIED: Permission
PERMISSION_READ: Permission
PERMISSION_READWRITE: Permission
PERMISSION_OWN: Permission

class Workspace(_message.Message):
    __slots__ = ("id", "name", "owner_id", "owner_username", "type", "node_id", "node_name", "root_id", "bucket", "prefix", "created_at", "permission")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_USERNAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    ROOT_ID_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    owner_id: str
    owner_username: str
    type: WorkspaceType
    node_id: str
    node_name: str
    root_id: str
    bucket: str
    prefix: str
    created_at: _timestamp_pb2.Timestamp
    permission: Permission
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., owner_id: _Optional[str] = ..., owner_username: _Optional[str] = ..., type: _Optional[_Union[WorkspaceType, str]] = ..., node_id: _Optional[str] = ..., node_name: _Optional[str] = ..., root_id: _Optional[str] = ..., bucket: _Optional[str] = ..., prefix: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., permission: _Optional[_Union[Permission, str]] = ...) -> None: ...

class Share(_message.Message):
    __slots__ = ("id", "workspace_id", "workspace", "sharee", "permission", "expires_at", "created_by", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    SHAREE_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace_id: str
    workspace: str
    sharee: str
    permission: Permission
    expires_at: _timestamp_pb2.Timestamp
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., workspace: _Optional[str] = ..., sharee: _Optional[str] = ..., permission: _Optional[_Union[Permission, str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateWorkspaceRequest(_message.Message):
    __slots__ = ("name", "type", "node", "root", "prefix")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: WorkspaceType
    node: str
    root: str
    prefix: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[WorkspaceType, str]] = ..., node: _Optional[str] = ..., root: _Optional[str] = ..., prefix: _Optional[str] = ...) -> None: ...

class CreateWorkspaceResponse(_message.Message):
    __slots__ = ("workspace",)
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    workspace: Workspace
    def __init__(self, workspace: _Optional[_Union[Workspace, _Mapping]] = ...) -> None: ...

class ListWorkspacesRequest(_message.Message):
    __slots__ = ("owner", "node", "type", "name_contains")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    owner: str
    node: str
    type: WorkspaceType
    name_contains: str
    def __init__(self, owner: _Optional[str] = ..., node: _Optional[str] = ..., type: _Optional[_Union[WorkspaceType, str]] = ..., name_contains: _Optional[str] = ...) -> None: ...

class ListWorkspacesResponse(_message.Message):
    __slots__ = ("workspaces",)
    WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    workspaces: _containers.RepeatedCompositeFieldContainer[Workspace]
    def __init__(self, workspaces: _Optional[_Iterable[_Union[Workspace, _Mapping]]] = ...) -> None: ...

class GetWorkspaceRequest(_message.Message):
    __slots__ = ("workspace",)
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    def __init__(self, workspace: _Optional[str] = ...) -> None: ...

class GetWorkspaceResponse(_message.Message):
    __slots__ = ("workspace", "path")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    workspace: Workspace
    path: str
    def __init__(self, workspace: _Optional[_Union[Workspace, _Mapping]] = ..., path: _Optional[str] = ...) -> None: ...

class DeleteWorkspaceRequest(_message.Message):
    __slots__ = ("workspace", "force")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    force: bool
    def __init__(self, workspace: _Optional[str] = ..., force: bool = ...) -> None: ...

class DeleteWorkspaceResponse(_message.Message):
    __slots__ = ("objects_deleted",)
    OBJECTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    objects_deleted: int
    def __init__(self, objects_deleted: _Optional[int] = ...) -> None: ...

class CreateShareRequest(_message.Message):
    __slots__ = ("workspace", "sharee", "permission", "expires_at")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    SHAREE_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    sharee: str
    permission: Permission
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, workspace: _Optional[str] = ..., sharee: _Optional[str] = ..., permission: _Optional[_Union[Permission, str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateShareResponse(_message.Message):
    __slots__ = ("share",)
    SHARE_FIELD_NUMBER: _ClassVar[int]
    share: Share
    def __init__(self, share: _Optional[_Union[Share, _Mapping]] = ...) -> None: ...

class ListSharesRequest(_message.Message):
    __slots__ = ("workspace",)
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    def __init__(self, workspace: _Optional[str] = ...) -> None: ...

class ListSharesResponse(_message.Message):
    __slots__ = ("made", "with_me")
    MADE_FIELD_NUMBER: _ClassVar[int]
    WITH_ME_FIELD_NUMBER: _ClassVar[int]
    made: _containers.RepeatedCompositeFieldContainer[Share]
    with_me: _containers.RepeatedCompositeFieldContainer[Share]
    def __init__(self, made: _Optional[_Iterable[_Union[Share, _Mapping]]] = ..., with_me: _Optional[_Iterable[_Union[Share, _Mapping]]] = ...) -> None: ...

class UpdateShareRequest(_message.Message):
    __slots__ = ("id", "permission", "expires_at", "update_mask")
    ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    id: str
    permission: Permission
    expires_at: _timestamp_pb2.Timestamp
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, id: _Optional[str] = ..., permission: _Optional[_Union[Permission, str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateShareResponse(_message.Message):
    __slots__ = ("share",)
    SHARE_FIELD_NUMBER: _ClassVar[int]
    share: Share
    def __init__(self, share: _Optional[_Union[Share, _Mapping]] = ...) -> None: ...

class RevokeShareRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RevokeShareResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CheckPermissionRequest(_message.Message):
    __slots__ = ("workspace", "username")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    username: str
    def __init__(self, workspace: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class CheckPermissionResponse(_message.Message):
    __slots__ = ("permission", "reason")
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    permission: Permission
    reason: str
    def __init__(self, permission: _Optional[_Union[Permission, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ExplainPermissionRequest(_message.Message):
    __slots__ = ("workspace", "username", "wanted")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    WANTED_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    username: str
    wanted: Permission
    def __init__(self, workspace: _Optional[str] = ..., username: _Optional[str] = ..., wanted: _Optional[_Union[Permission, str]] = ...) -> None: ...

class PermissionFactor(_message.Message):
    __slots__ = ("permission", "reason", "active")
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    permission: Permission
    reason: str
    active: bool
    def __init__(self, permission: _Optional[_Union[Permission, str]] = ..., reason: _Optional[str] = ..., active: bool = ...) -> None: ...

class ExplainPermissionResponse(_message.Message):
    __slots__ = ("workspace", "username", "permission", "allowed", "summary", "factors")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    FACTORS_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    username: str
    permission: Permission
    allowed: bool
    summary: str
    factors: _containers.RepeatedCompositeFieldContainer[PermissionFactor]
    def __init__(self, workspace: _Optional[str] = ..., username: _Optional[str] = ..., permission: _Optional[_Union[Permission, str]] = ..., allowed: bool = ..., summary: _Optional[str] = ..., factors: _Optional[_Iterable[_Union[PermissionFactor, _Mapping]]] = ...) -> None: ...

class ImportRootRequest(_message.Message):
    __slots__ = ("root",)
    ROOT_FIELD_NUMBER: _ClassVar[int]
    root: str
    def __init__(self, root: _Optional[str] = ...) -> None: ...

class SkippedFolder(_message.Message):
    __slots__ = ("prefix", "reason")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    reason: str
    def __init__(self, prefix: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ImportRootResponse(_message.Message):
    __slots__ = ("created", "skipped", "already_mapped")
    CREATED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_MAPPED_FIELD_NUMBER: _ClassVar[int]
    created: _containers.RepeatedCompositeFieldContainer[Workspace]
    skipped: _containers.RepeatedCompositeFieldContainer[SkippedFolder]
    already_mapped: int
    def __init__(self, created: _Optional[_Iterable[_Union[Workspace, _Mapping]]] = ..., skipped: _Optional[_Iterable[_Union[SkippedFolder, _Mapping]]] = ..., already_mapped: _Optional[int] = ...) -> None: ...

class CreateLinkRequest(_message.Message):
    __slots__ = ("object", "expires_in_seconds")
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    object: str
    expires_in_seconds: int
    def __init__(self, object: _Optional[str] = ..., expires_in_seconds: _Optional[int] = ...) -> None: ...

class CreateLinkResponse(_message.Message):
    __slots__ = ("url", "expires_at")
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    url: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, url: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IssueCredentialsRequest(_message.Message):
    __slots__ = ("workspaces", "node")
    WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    workspaces: _containers.RepeatedScalarFieldContainer[str]
    node: str
    def __init__(self, workspaces: _Optional[_Iterable[str]] = ..., node: _Optional[str] = ...) -> None: ...

class CredentialScope(_message.Message):
    __slots__ = ("workspace", "bucket", "prefix", "permission")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    bucket: str
    prefix: str
    permission: Permission
    def __init__(self, workspace: _Optional[str] = ..., bucket: _Optional[str] = ..., prefix: _Optional[str] = ..., permission: _Optional[_Union[Permission, str]] = ...) -> None: ...

class CredentialSet(_message.Message):
    __slots__ = ("node_id", "node_name", "endpoint", "region", "access_key", "secret_key", "session_token", "expires_at", "scopes")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_KEY_FIELD_NUMBER: _ClassVar[int]
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_name: str
    endpoint: str
    region: str
    access_key: str
    secret_key: str
    session_token: str
    expires_at: _timestamp_pb2.Timestamp
    scopes: _containers.RepeatedCompositeFieldContainer[CredentialScope]
    def __init__(self, node_id: _Optional[str] = ..., node_name: _Optional[str] = ..., endpoint: _Optional[str] = ..., region: _Optional[str] = ..., access_key: _Optional[str] = ..., secret_key: _Optional[str] = ..., session_token: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scopes: _Optional[_Iterable[_Union[CredentialScope, _Mapping]]] = ...) -> None: ...

class IssueCredentialsResponse(_message.Message):
    __slots__ = ("sets",)
    SETS_FIELD_NUMBER: _ClassVar[int]
    sets: _containers.RepeatedCompositeFieldContainer[CredentialSet]
    def __init__(self, sets: _Optional[_Iterable[_Union[CredentialSet, _Mapping]]] = ...) -> None: ...

class ListAccessibleWorkspacesRequest(_message.Message):
    __slots__ = ("user_id", "min_permission")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_PERMISSION_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    min_permission: Permission
    def __init__(self, user_id: _Optional[str] = ..., min_permission: _Optional[_Union[Permission, str]] = ...) -> None: ...

class AccessibleWorkspace(_message.Message):
    __slots__ = ("workspace_id", "node_id", "bucket", "prefix", "permission")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    node_id: str
    bucket: str
    prefix: str
    permission: Permission
    def __init__(self, workspace_id: _Optional[str] = ..., node_id: _Optional[str] = ..., bucket: _Optional[str] = ..., prefix: _Optional[str] = ..., permission: _Optional[_Union[Permission, str]] = ...) -> None: ...

class ListAccessibleWorkspacesResponse(_message.Message):
    __slots__ = ("workspaces",)
    WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    workspaces: _containers.RepeatedCompositeFieldContainer[AccessibleWorkspace]
    def __init__(self, workspaces: _Optional[_Iterable[_Union[AccessibleWorkspace, _Mapping]]] = ...) -> None: ...

class CountRootWorkspacesRequest(_message.Message):
    __slots__ = ("root_id",)
    ROOT_ID_FIELD_NUMBER: _ClassVar[int]
    root_id: str
    def __init__(self, root_id: _Optional[str] = ...) -> None: ...

class CountRootWorkspacesResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...
