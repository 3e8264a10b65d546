"""Revocable links to one object of a workspace: `<gateway>/l/<id>.<secret>`.

A link is a record (only a hash of its secret is kept). Each use asks again whether it still stands: the
secret, not revoked, not expired, its creator still enabled and still able to read the object now. Only
then is a read-only session brokered for that one object (the node's STS, like any user's credentials)
and a pre-signed GET of at most LINK_URL_SECONDS signed with it: never with the node's own key."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common.errors import DomainError, Reason
from services.common.identity import ROLE_USER, Caller
from services.common.pages import Page, PageRequest, PageTokens, page_limit
from services.workspaces.domain.cache import PlannedSet
from services.workspaces.domain.credentials import Credentials
from services.workspaces.domain.models import Level, Link, Principal, Share, Workspace
from services.workspaces.domain.permissions import decide
from services.workspaces.domain.policy import object_policy
from services.workspaces.domain.ports import (
    Identity,
    Memberships,
    Nodes,
    ObjectStore,
    Transactions,
    WorkspacesRepository,
)
from services.workspaces.domain.references import References, now

log = logging.getLogger(__name__)

DEFAULT_LINK_SECONDS = 3600
MAX_LINK_SECONDS = 7 * 24 * 3600
# The longest a redirect's pre-signed URL works: a copied URL dies soon, the link is asked again.
LINK_URL_SECONDS = 60
# The brokered session behind those URLs (STS's minimum); it is reused (the credential cache) while a
# third of it is left, so most uses cost no STS call.
LINK_SESSION_SECONDS = 900
SECRET_BYTES = 32
# What may name an object inside the workspace: characters a session policy reads literally.
_POLICY_SYNTAX = {"*": "'*'", "?": "'?'", "$": "'$'"}


def hash_secret(secret: str) -> str:
    """The secret is random (256 bits), so a plain hash is as good as a slow one here."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_object_path(path: str, field: str = "object") -> None:
    """A path inside a workspace naming one object literally: no traversal, no ambiguity."""

    def refuse(problem: str) -> DomainError:
        return DomainError(Reason.INVALID_ARGUMENT, f"the object path {problem}", field=field)

    if not path or path.endswith("/"):
        raise refuse("must name one object inside the workspace, e.g. ws/path/file")
    if "\\" in path:
        raise refuse("holds a backslash")
    if path.startswith("/") or "//" in path:
        raise refuse("holds an empty segment ('//')")
    # '..' anywhere, not only as a segment: simpler to state, and no proxy or client may read it as a step up.
    if ".." in path or "." in path.split("/"):
        raise refuse("holds '..' or a '.' segment")
    for char in path:
        category = unicodedata.category(char)
        if category == "Cc":
            raise refuse("holds a control character")
        if category == "Cs":
            raise refuse("holds an unpaired surrogate")
    for char, name in _POLICY_SYNTAX.items():
        if char in path:
            raise refuse(f"holds {name}, which a session policy cannot name literally")
    if len(path.encode()) > 1024:
        raise refuse("is longer than 1024 bytes")


@dataclass(frozen=True)
class CreatedLink:
    link: Link
    url: str


@dataclass(frozen=True)
class ResolvedLink:
    url: str
    expires_at: datetime


class LinkRefused(DomainError):
    """Any link that does not stand, one answer for all (guessing learns nothing); `why` is for the log."""

    def __init__(self, why: str) -> None:
        super().__init__(Reason.LINK_NOT_FOUND, "no such link, or it no longer works")
        self.why = why


class Links:
    def __init__(
        self,
        transactions: Transactions,
        references: References,
        nodes: Nodes,
        identity: Identity,
        memberships: Memberships,
        store: ObjectStore,
        credentials: Credentials,
        public_url: str,
        pages: PageTokens,
    ) -> None:
        self._tx = transactions
        self._pages = pages
        self.references = references
        self.nodes = nodes
        self.identity = identity
        self.memberships = memberships
        self.store = store
        self.credentials = credentials
        self.public_url = public_url.rstrip("/")

    async def create(self, caller: Caller, reference: str, seconds: int) -> CreatedLink:
        seconds = seconds or DEFAULT_LINK_SECONDS
        if not 1 <= seconds <= MAX_LINK_SECONDS:
            raise DomainError(
                Reason.INVALID_EXPIRY,
                "a link lasts from one second to seven days",
                field="expires_in_seconds",
            )
        if any(unicodedata.category(c) == "Cc" for c in reference) or "\\" in reference:
            check_object_path(reference)  # refused before anything is looked up
        resolved = await self.references.resolve(await self.references.principal(caller), reference)
        check_object_path(resolved.path)
        workspace = resolved.workspace
        key = workspace.prefix + resolved.path
        access = await self.nodes.node(workspace.node_id)
        policy = object_policy(workspace.bucket, key)
        if len(policy.text) > access.policy_size_limit:
            raise DomainError(
                Reason.INVALID_ARGUMENT,
                f"the object's name is too long for node {workspace.node_name}'s session policies",
                field="object",
            )
        if not await self.store.exists(access, workspace.bucket, key):
            raise DomainError(Reason.OBJECT_NOT_FOUND, f"no object {workspace.ref}/{resolved.path}")
        secret = secrets.token_urlsafe(SECRET_BYTES)
        created = now()
        link = Link(
            id=str(uuid.uuid4()),
            secret_hash=hash_secret(secret),
            creator_id=caller.user_id,
            creator_username=caller.username,
            workspace_id=workspace.id,
            workspace_ref=workspace.ref,
            path=resolved.path,
            created_at=created,
            expires_at=created + timedelta(seconds=seconds),
        )
        async with self._tx() as tx:
            await tx.repo.add_link(link)
            await tx.events.link_changed("created", link)
        return CreatedLink(link, f"{self.public_url}/l/{link.id}.{secret}")

    async def listing(self, caller: Caller, request: PageRequest) -> Page[Link]:
        """The caller's own links, newest first."""
        limit = page_limit(request.size)
        after = self._pages.after(caller.user_id, [], request)
        rows = await self._tx.read(lambda repo: repo.links_of(caller.user_id, after, limit))
        return self._pages.page(caller.user_id, [], rows, limit, lambda link: (link.created_at, link.id))

    async def revoke(self, caller: Caller, link_id: str) -> Link:
        """By its creator, the workspace's owner or an admin; to anyone else it does not exist."""
        missing = DomainError(Reason.LINK_NOT_FOUND, f"no link {link_id[:40]!r} that you manage")

        async def query(repo: WorkspacesRepository) -> tuple[Link | None, Workspace | None]:
            link = await repo.link(link_id)
            return link, await repo.workspace(link.workspace_id) if link else None

        link, workspace = await self._tx.read(query)
        if link is None:
            raise missing
        owner = workspace is not None and workspace.owner_id == caller.user_id
        if not (link.creator_id == caller.user_id or owner or caller.is_admin):
            raise missing
        moment = now()
        async with self._tx() as tx:
            revoked = await tx.repo.revoke_link(link.id, moment)
            if revoked is not None and revoked.revoked_at == moment:  # not revoked before: announce it
                await tx.events.link_changed("revoked", revoked)
        if revoked is None:
            raise missing
        return revoked

    async def resolve(self, link_id: str, secret: str) -> ResolvedLink:
        try:
            return await self._resolve(link_id, secret)
        except LinkRefused as refused:
            # The link's id only: never the secret.
            log.info("link %.40s refused: %s", link_id, refused.why)
            raise

    async def _resolve(self, link_id: str, secret: str) -> ResolvedLink:
        link = await self._tx.read(lambda repo: repo.link(link_id))
        # Compared even when there is no link, so the time taken tells nothing.
        stored = link.secret_hash if link is not None else hash_secret("")
        if not hmac.compare_digest(stored.encode(), hash_secret(secret).encode()) or link is None:
            raise LinkRefused("unknown link or wrong secret")
        if link.revoked_at is not None:
            raise LinkRefused("revoked")
        moment = now()
        if link.expires_at <= moment:
            raise LinkRefused("expired")
        check_object_path(link.path)  # as at creation: the rules may have grown since
        # Two independent questions (auth, and the permission decision here), asked at once.
        enabled, workspace = await asyncio.gather(
            self.identity.enabled(link.creator_id), self._readable_by_creator(link)
        )
        if not enabled:
            raise LinkRefused("its creator is disabled or gone")
        key = workspace.prefix + link.path
        access = await self.nodes.node(workspace.node_id)
        policy = object_policy(workspace.bucket, key)
        planned = PlannedSet(
            node_id=access.node_id,
            node_name=workspace.node_name,
            policy_text=policy.text,
            policy_digest=hashlib.sha256(policy.text.encode()).hexdigest(),
            policy_size_limit=access.policy_size_limit,
            scopes=((workspace, Level.READ),),
        )
        creator = Caller(link.creator_id, link.creator_username, ROLE_USER)
        credentials, _sts = await self.credentials.broker(creator, access, planned, LINK_SESSION_SECONDS)
        # Never past the link's own end nor the session's.
        left = min(credentials.expires_at - time.time(), (link.expires_at - moment).total_seconds())
        seconds = max(1, min(LINK_URL_SECONDS, int(left)))
        url = await self.store.presign_get_as(access, credentials, workspace.bucket, key, seconds)
        return ResolvedLink(url, moment + timedelta(seconds=seconds))

    async def _readable_by_creator(self, link: Link) -> Workspace:
        """The link's workspace if its creator can read it now (the one permission decision)."""

        async def query(repo: WorkspacesRepository) -> tuple[Workspace | None, list[Share]]:
            found = await repo.workspace(link.workspace_id)
            return found, await repo.shares_of([link.workspace_id]) if found else []

        workspace, shares = await self._tx.read(query)
        if workspace is None:
            raise LinkRefused("its workspace is gone")
        groups: frozenset[str] = frozenset()
        if any(s.sharee_kind == "group" for s in shares):
            groups = frozenset(await self.memberships.groups(link.creator_id))
        principal = Principal(link.creator_id, link.creator_username, groups)
        if decide(principal, workspace, shares, now()).level < Level.READ:
            raise LinkRefused("its creator can no longer read the object")
        return workspace
