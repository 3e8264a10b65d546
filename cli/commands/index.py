"""`wio index ...`: crawl a workspace or a root into the search index, verify a root, show the status."""

from collections.abc import Iterable
from typing import Annotated, Any

import typer

from cli import stubs
from cli.lazy import NativeGroup


class IndexGroup(NativeGroup):
    """`wio index WS` and `wio index --root ROOT` run the `run` command: anything that is not one of
    the group's commands (or help) goes to it."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    help="The search index: crawl a workspace (wio index WS) or a root (wio index --root ROOT), verify a"
    " root, show when each workspace was indexed.",
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=IndexGroup,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


def _size(n: int) -> str:
    from rich.filesize import decimal

    return str(decimal(n))


def _follow(stream: Iterable[Any], what: str) -> Any:
    """Shows a progress bar on stderr (a terminal only) while the crawl streams; answers the last report."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cli.errors import CliError
    from wio.indexer.v1 import indexer_pb2

    last: Any = None
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[objects]:,} objects"),
        TextColumn("{task.fields[size]}"),
        TextColumn("{task.fields[rate]:,.0f} objects/s"),
        TimeElapsedColumn(),
    )
    console = Console(stderr=True)
    if not console.is_terminal:
        # No terminal (a script, a pipe): no bar, only the summary at the end.
        for reply in stream:
            last = reply.progress
    else:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(what, total=None, objects=0, size="0 B", rate=0.0)
            for reply in stream:
                last = reply.progress
                phase = indexer_pb2.CrawlPhase.Name(last.phase).removeprefix("CRAWL_PHASE_").lower()
                bar.update(
                    task,
                    description=f"{what}: {phase}",
                    objects=last.objects,
                    size=_size(last.bytes),
                    rate=last.objects_per_second,
                )
    if last is None:
        raise CliError(f"{what}: the indexer sent no progress")
    if last.phase == indexer_pb2.CRAWL_PHASE_FAILED:
        raise CliError(f"{what} failed: {last.error} (it resumes from its checkpoint on the next run)")
    return last


def _summary(progress: Any, what: str, verify: bool = False) -> str:
    resumed = f", resumed after {progress.resumed_after!r}" if progress.resumed_after else ""
    counts = f"{progress.added} added, {progress.changed} changed, {progress.removed} removed"
    if verify:
        drift = f"drift: {counts}" if progress.added or progress.changed or progress.removed else "no drift"
        return f"verified {what}: {progress.objects:,} objects ({_size(progress.bytes)}), {drift}{resumed}"
    return f"indexed {what}: {progress.objects:,} objects ({_size(progress.bytes)}), {counts}{resumed}"


@app.command("run")
def index_run(
    workspace: Annotated[
        str | None,
        typer.Argument(metavar="WS", help="The workspace (owner/name, name or id).", show_default=False),
    ] = None,
    root: Annotated[
        str | None,
        typer.Option(
            "--root", metavar="ROOT", help="Crawl every workspace of this root (its id).", show_default=False
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Crawl a workspace you can read, or a whole root (the node's operator or an admin)."""
    from cli.client import connect
    from cli.errors import EXIT_USAGE, CliError
    from cli.output import print_json
    from wio.indexer.v1 import indexer_pb2

    if bool(workspace) == bool(root):
        raise CliError("name a workspace (wio index WS) or a root (wio index --root ROOT)", EXIT_USAGE)
    with connect() as client:
        stub = stubs.indexer(client)
        if root:
            what = f"root {root}"
            stream: Iterable[Any] = stub.IndexRoot(indexer_pb2.IndexRootRequest(root=root), timeout=None)
        else:
            what = str(workspace)
            stream = stub.IndexWorkspace(
                indexer_pb2.IndexWorkspaceRequest(workspace=str(workspace)), timeout=None
            )
        last = _follow(stream, what)
    if as_json:
        print_json(last)
    else:
        typer.echo(_summary(last, what))


@app.command("verify")
def index_verify(
    root: Annotated[str, typer.Argument(metavar="ROOT", help="The root's id.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Compare a root's index with a listing of the node, repair the drift and show it."""
    from cli.client import connect
    from cli.output import print_json
    from wio.indexer.v1 import indexer_pb2

    with connect() as client:
        stream = stubs.indexer(client).VerifyRoot(indexer_pb2.VerifyRootRequest(root=root), timeout=None)
        last = _follow(stream, f"root {root}")
    if as_json:
        print_json(last)
    else:
        typer.echo(_summary(last, f"root {root}", verify=True))


@app.command("status")
def index_status(
    workspace: Annotated[
        str | None,
        typer.Argument(
            metavar="WS", help="One workspace; every one you can read when not given.", show_default=False
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """When each workspace you can read was last crawled and verified, the drift found, and its state."""
    from rich.console import Console
    from rich.table import Table

    from cli.client import connect
    from cli.output import format_time, print_json
    from wio.indexer.v1 import indexer_pb2

    with connect() as client:
        reply = stubs.indexer(client).GetIndexStatus(
            indexer_pb2.GetIndexStatusRequest(workspace=workspace or "")
        )
    if as_json:
        print_json(list(reply.workspaces))
        return
    table = Table("workspace", "node", "objects", "bytes", "crawled", "verified", "drift", "state", box=None)
    for ws in reply.workspaces:
        drift = ws.drift_added + ws.drift_changed + ws.drift_removed
        table.add_row(
            ws.workspace,
            ws.node_name,
            f"{ws.objects:,}",
            _size(ws.bytes),
            format_time(ws.crawled_at),
            format_time(ws.verified_at),
            f"+{ws.drift_added} ~{ws.drift_changed} -{ws.drift_removed}" if drift else "none",
            ws.state,
        )
    Console(width=200).print(table)
