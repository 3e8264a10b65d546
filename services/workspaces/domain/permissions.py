"""The permission decision: the one place that says what a user may do with a workspace, and why."""

from __future__ import annotations

from collections.abc import Iterable
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
