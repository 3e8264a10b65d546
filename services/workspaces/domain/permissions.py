"""The permission decision: the one place that says what a user may do with a workspace, and why."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from services.workspaces.domain.models import Decision, Level, Principal, Share, Workspace


def decide(principal: Principal, workspace: Workspace, shares: Iterable[Share], now: datetime) -> Decision:
    """Owner > best active share (direct or through a group) > public read > nothing."""
    if workspace.owner_id == principal.user_id:
        return Decision(Level.OWN, "owner")
    best = Decision(Level.NONE, "no share")
    for share in shares:
        if share.workspace_id != workspace.id or not share.active_at(now):
            continue
        if share.sharee_kind == "user" and share.sharee_id == principal.user_id:
            reason = f"shared with you ({share.level.name.lower()})"
        elif share.sharee_kind == "group" and share.sharee_id in principal.group_ids:
            reason = f"shared with group {share.sharee_name} ({share.level.name.lower()})"
        else:
            continue
        if share.level > best.level:
            best = Decision(share.level, reason)
    if best.level == Level.NONE and workspace.type == "public":
        return Decision(Level.READ, "public workspace")
    return best


def granting_share(
    principal: Principal, workspace: Workspace, shares: Iterable[Share], now: datetime
) -> Share | None:
    """The active `own` share through which a non-owner manages the workspace: the longest-lasting one
    when several reach them. None for the owner, or for someone without `own`."""
    if workspace.owner_id == principal.user_id:
        return None
    owning = owning_shares(principal, workspace, shares, now)
    return max(owning, key=lambda s: (s.expires_at is None, s.expires_at or now), default=None)


def owning_shares(
    principal: Principal, workspace: Workspace, shares: Iterable[Share], now: datetime
) -> list[Share]:
    """The active `own` shares that reach the principal (to them, or to one of their groups)."""
    return [
        s
        for s in shares
        if s.workspace_id == workspace.id
        and s.active_at(now)
        and s.level == Level.OWN
        and (
            (s.sharee_kind == "user" and s.sharee_id == principal.user_id)
            or (s.sharee_kind == "group" and s.sharee_id in principal.group_ids)
        )
    ]


def manages_share(
    principal: Principal, workspace: Workspace, shares: Collection[Share], share: Share, now: datetime
) -> bool:
    """Whether the principal may change or revoke `share`: the owner may change any share of the
    workspace; an `own` sharee only the shares made through their own (directly or further down), never
    the one that grants them access (they could lift its expiry) nor anyone else's."""
    if workspace.owner_id == principal.user_id:
        return True
    mine = {s.id for s in owning_shares(principal, workspace, shares, now)}
    by_id = {s.id: s for s in shares}
    parent = share.granted_through
    seen: set[str] = set()
    while parent is not None and parent not in seen:
        if parent in mine:
            return True
        seen.add(parent)
        above = by_id.get(parent)
        parent = above.granted_through if above is not None else None
    return False


def capped_by(share: Share, granting: Share) -> Share:
    """`share` as a share made through `granting` may be: no higher level, no later expiry."""
    expires_at = share.expires_at
    if granting.expires_at is not None and (expires_at is None or expires_at > granting.expires_at):
        expires_at = granting.expires_at
    return replace(share, level=min(share.level, granting.level), expires_at=expires_at)


@dataclass(frozen=True)
class Factor:
    level: Level
    reason: str
    active: bool


def factors(
    principal: Principal, workspace: Workspace, shares: Iterable[Share], now: datetime
) -> list[Factor]:
    """Everything that could give `principal` a permission on `workspace`, counting or not, for
    explaining a decision. `decide` is the best active one of these."""
    found: list[Factor] = []
    if workspace.owner_id == principal.user_id:
        found.append(Factor(Level.OWN, "owner", True))
    for share in shares:
        if share.workspace_id != workspace.id:
            continue
        if share.sharee_kind == "user" and share.sharee_id == principal.user_id:
            reason = "shared with them"
        elif share.sharee_kind == "group" and share.sharee_id in principal.group_ids:
            reason = f"shared with their group {share.sharee_name}"
        else:
            continue
        active = share.active_at(now)
        if share.expires_at is not None:
            verb = "expires" if active else "expired"
            reason += f" ({verb} {share.expires_at.isoformat(timespec='seconds')})"
        found.append(Factor(share.level, reason, active))
    if workspace.type == "public":
        found.append(Factor(Level.READ, "public workspace: every logged-in user reads it", True))
    return found
