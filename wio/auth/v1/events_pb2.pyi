from wio.auth.v1 import auth_pb2 as _auth_pb2
from wio.events.v1 import meta_pb2 as _meta_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UserCreatedEvent(_message.Message):
    __slots__ = ("meta", "user_id", "username", "role")
    META_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    user_id: str
    username: str
    role: _auth_pb2.Role
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., user_id: _Optional[str] = ..., username: _Optional[str] = ..., role: _Optional[_Union[_auth_pb2.Role, str]] = ...) -> None: ...

class UserDisabledEvent(_message.Message):
    __slots__ = ("meta", "user_id", "username")
    META_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    user_id: str
    username: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., user_id: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class GroupMemberAddedEvent(_message.Message):
    __slots__ = ("meta", "group_id", "group_name", "user_id", "username")
    META_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    group_id: str
    group_name: str
    user_id: str
    username: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., group_id: _Optional[str] = ..., group_name: _Optional[str] = ..., user_id: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class GroupMemberRemovedEvent(_message.Message):
    __slots__ = ("meta", "group_id", "group_name", "user_id", "username")
    META_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    group_id: str
    group_name: str
    user_id: str
    username: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., group_id: _Optional[str] = ..., group_name: _Optional[str] = ..., user_id: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class GroupDeletedEvent(_message.Message):
    __slots__ = ("meta", "group_id", "group_name", "member_user_ids")
    META_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    group_id: str
    group_name: str
    member_user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., group_id: _Optional[str] = ..., group_name: _Optional[str] = ..., member_user_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ApiKeyRevokedEvent(_message.Message):
    __slots__ = ("meta", "api_key_id", "user_id")
    META_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    api_key_id: str
    user_id: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., api_key_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...
