"""`wio search` and `wio du`: find objects by name across every workspace you can read, and total them up."""

from enum import StrEnum
from typing import Annotated, Any

import typer

from cli import stubs

QUERY_HELP = (
    "Terms, all of which must match the path inside the workspace: WORD a whole word (paths split at "
    "/ . _ - spaces, camelCase and digits: 'report' finds myReport_2024.csv), WORD* a prefix, "
    '"TEXT" (quoted, so quote it for the shell too) a substring anywhere. Empty: everything.'
)


class SortBy(StrEnum):
    path = "path"
    size = "size"
    modified = "modified"


class GroupBy(StrEnum):
    workspace = "workspace"
    owner = "owner"
    node = "node"
    extension = "extension"


MAX_PAGE = 1000


def human_size(size: int) -> str:
    """1023B, 1.5K, 12M, 3.1G: units of 1024, like `du -h`."""
    value = float(size)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{int(value)}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{size}B"


def search(
    query: Annotated[str, typer.Argument(metavar="QUERY", help=QUERY_HELP, show_default=False)] = "",
    workspace: Annotated[
        list[str] | None,
        typer.Option(
            "--workspace",
            "-w",
            metavar="WS",
            help="Only this workspace (NAME, OWNER/NAME or id); repeat for more.",
        ),
    ] = None,
    owner: Annotated[
        list[str] | None, typer.Option("--owner", metavar="USER", help="Only workspaces of this owner.")
    ] = None,
    node: Annotated[
        list[str] | None, typer.Option("--node", metavar="NODE", help="Only this node (name or id).")
    ] = None,
    ext: Annotated[
        list[str] | None, typer.Option("--ext", metavar="EXT", help="Only this extension (csv, .csv).")
    ] = None,
    min_size: Annotated[
        str, typer.Option("--min-size", metavar="SIZE", help="At least SIZE (1500, 10K, 2G).")
    ] = "",
    max_size: Annotated[str, typer.Option("--max-size", metavar="SIZE", help="At most SIZE.")] = "",
    after: Annotated[
        str,
        typer.Option(
            "--after", metavar="WHEN", help="Modified at or after WHEN (2026-01-31, ISO datetime, or 7d ago)."
        ),
    ] = "",
    before: Annotated[str, typer.Option("--before", metavar="WHEN", help="Modified before WHEN.")] = "",
    sort: Annotated[SortBy, typer.Option("--sort", help="Order of the results.")] = SortBy.path,
    desc: Annotated[bool, typer.Option("--desc", help="Largest, newest or last first.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Print at most this many objects.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Search the objects of every workspace you can read; prints OWNER/WORKSPACE/PATH  SIZE  MODIFIED."""
    from cli.client import connect
    from cli.output import print_json, print_lines, timestamp_to_datetime
    from cli.parsing import parse_moment, parse_size
    from wio.indexer.v1 import indexer_pb2

    request = indexer_pb2.SearchObjectsRequest(
        query=query,
        workspaces=workspace or [],
        owners=owner or [],
        nodes=node or [],
        extensions=ext or [],
        min_size=parse_size(min_size) if min_size else 0,
        max_size=parse_size(max_size) if max_size else 0,
        sort=indexer_pb2.SortField.Value(f"SORT_FIELD_{sort.value.upper()}"),
        descending=desc,
    )
    if after:
        request.modified_after.FromDatetime(parse_moment(after))
    if before:
        request.modified_before.FromDatetime(parse_moment(before))
    found: list[Any] = []
    more = False
    with connect() as client:
        stub = stubs.indexer(client)
        while len(found) < limit:
            request.page_size = min(MAX_PAGE, limit - len(found))
            reply = stub.SearchObjects(request)
            found.extend(reply.objects)
            more = bool(reply.next_page_token)
            if not more:
                break
            request.page_token = reply.next_page_token
    if as_json:
        print_json(found)
        return

    def line(found_object: Any) -> str:
        modified = timestamp_to_datetime(found_object.modified_at)
        when = modified.strftime("%Y-%m-%d %H:%M:%S") if modified else "-"
        return f"{found_object.workspace}/{found_object.path}  {human_size(found_object.size)}  {when}"

    print_lines(line(o) for o in found)
    if more:
        typer.echo(f"(more than {limit}: raise --limit or narrow the search)", err=True)


def du(
    workspaces: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[WS]...",
            help="Workspaces (NAME, OWNER/NAME or id); none: all you can read.",
            show_default=False,
        ),
    ] = None,
    by: Annotated[
        GroupBy, typer.Option("--by", help="One row per workspace, owner, node or extension.")
    ] = GroupBy.workspace,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Objects and bytes in the workspaces you can read, from the index's counters."""
    from cli.client import connect
    from cli.output import print_json
    from wio.indexer.v1 import indexer_pb2

    request = indexer_pb2.GetTotalsRequest(
        group_by=indexer_pb2.TotalsGroup.Value(f"TOTALS_GROUP_{by.value.upper()}"),
        workspaces=workspaces or [],
    )
    with connect() as client:
        reply = stubs.indexer(client).GetTotals(request)
    if as_json:
        print_json(reply)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, show_footer=True, header_style="bold", footer_style="bold")
    table.add_column(by.value.upper(), footer="total")
    table.add_column("OBJECTS", justify="right", footer=f"{reply.objects:,}")
    table.add_column("SIZE", justify="right", footer=human_size(reply.bytes))
    table.add_column("BYTES", justify="right", footer=f"{reply.bytes:,}")
    for row in reply.rows:
        key = row.key or ("(none)" if by is GroupBy.extension else "-")
        table.add_row(key, f"{row.objects:,}", human_size(row.bytes), f"{row.bytes:,}")
    Console(highlight=False, soft_wrap=True).print(table)
