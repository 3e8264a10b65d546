"""The permission decision: the one place that says what a user may do with a workspace, and why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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
