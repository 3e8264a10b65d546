"""One module per noun, each with its own Typer app.

These modules load at every start, so they import only typer at module level: grpc, the generated
modules and cli.client/cli.output are imported inside the command functions. They also leave out
`from __future__ import annotations`, since Typer would then evaluate every annotation string at start.
"""

from __future__ import annotations

import typer


def noun_app(help_text: str) -> typer.Typer:
    # Plain help (no rich): loading rich would cost more than the whole start budget.
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None)
