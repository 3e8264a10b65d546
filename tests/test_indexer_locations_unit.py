"""Mapping a node's bucket/key to a workspace (services/indexer/domain/locations.py), with a directory
double that counts its listings and clocks the test moves by hand: a miss is dropped for good only when
the list was asked for after the change reached the gateway, and listings stay at most one per window."""

from __future__ import annotations

from typing import Any

import pytest

from services.indexer.domain.locations import LocationMap
from services.indexer.domain.models import Location

NODE = "node-1"


def location(workspace_id: str, prefix: str, bucket: str = "lab") -> Location:
    return Location(workspace_id, "root-1", NODE, bucket, prefix, "u1", "ana", workspace_id, "node one")


class Directory:
    """The workspaces service's answer, as a list the test edits; counts the calls."""

    def __init__(self, clocks: Clocks) -> None:
        self.clocks = clocks
        self.listed: list[Location] = []
        self.calls = 0

    async def locations(self, node_id: str) -> list[Location]:
        self.calls += 1
        return list(self.listed)

    async def accessible(self, *args: Any) -> Any:
        raise AssertionError("not used here")

    async def listing_grant(self, *args: Any) -> Any:
        raise AssertionError("not used here")


class Clocks:
    """A monotonic and a wall clock moving together; sleeping moves both."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + 1_700_000_000

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def mapping(window: float = 1.0) -> tuple[LocationMap, Directory, Clocks]:
    clocks = Clocks()
    directory = Directory(clocks)
    locations = LocationMap(directory, window, clocks.monotonic, clocks.wall, clocks.sleep)
    return locations, directory, clocks


async def test_the_longest_prefix_wins_and_a_hit_asks_nothing_more() -> None:
    locations, directory, clocks = mapping()
    directory.listed = [location("outer", "projects/"), location("inner", "projects/deep/")]
    found = await locations.find(NODE, "lab", "projects/deep/x.bin", clocks.wall())
    assert found is not None and found.workspace_id == "inner"
    found = await locations.find(NODE, "lab", "projects/y.bin", clocks.wall())
    assert found is not None and found.workspace_id == "outer"
    assert await locations.find(NODE, "other-bucket", "projects/y.bin", clocks.wall() - 5) is None
    assert directory.calls == 1


async def test_a_workspace_made_just_after_a_listing_gets_its_first_upload() -> None:
    locations, directory, clocks = mapping(window=1.0)
    directory.listed = [location("old", "a/")]
    assert await locations.find(NODE, "lab", "a/x", clocks.wall()) is not None
    # A moment later (inside the window), a workspace is made and written to; its event comes first.
    clocks.now += 0.2
    directory.listed.append(location("new", "b/"))
    received = clocks.wall()
    found = await locations.find(NODE, "lab", "b/first.txt", received)
    assert found is not None and found.workspace_id == "new"
    # It waited for the rest of the window rather than listing again at once.
    assert directory.calls == 2 and clocks.slept == [pytest.approx(0.8)]


async def test_a_change_received_before_the_listing_is_dropped_without_asking() -> None:
    locations, directory, clocks = mapping()
    directory.listed = [location("ws", "a/")]
    received = clocks.wall()
    clocks.now += 0.5
    assert await locations.find(NODE, "lab", "a/x", clocks.wall()) is not None
    # A backlog of changes outside every workspace, all stored before that listing: none asks again.
    for i in range(50):
        assert await locations.find(NODE, "lab", f"outside/{i}", received) is None
    assert directory.calls == 1 and clocks.slept == []


async def test_changes_outside_every_workspace_list_at_most_once_per_window() -> None:
    locations, directory, clocks = mapping(window=1.0)
    directory.listed = [location("ws", "a/")]
    for _ in range(10):
        clocks.now += 0.1
        assert await locations.find(NODE, "lab", "outside/x", clocks.wall()) is None
    # The first loads; each later miss waits for the window after the one before.
    assert directory.calls == 11
    assert clocks.now - 1_000.0 >= 9.0


async def test_a_gateway_clock_ahead_of_this_one_costs_one_listing_not_a_loop() -> None:
    locations, directory, clocks = mapping()
    directory.listed = [location("ws", "a/")]
    assert await locations.find(NODE, "lab", "outside/x", clocks.wall() + 3_600) is None
    assert directory.calls == 2


async def test_forgetting_a_node_lists_it_again() -> None:
    locations, directory, clocks = mapping()
    directory.listed = [location("ws", "a/")]
    await locations.find(NODE, "lab", "a/x", clocks.wall())
    directory.listed = []
    locations.forget(NODE)
    assert await locations.find(NODE, "lab", "a/x", clocks.wall() - 10) is None
    assert directory.calls == 2
