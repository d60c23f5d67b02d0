"""The `claimsight` command line: assembles the command modules into one app and maps errors to exit codes.

Exit codes: 0 ok, 2 the input is at fault (breaks the data contract, too short a history, a bad setting or
option, a port in use), 3 too many rows quarantined. Each ends in one `error: ...` line, without a traceback.
Messages name tables, columns and rules, never a value from the data.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import typer
from rich.markup import escape

from claimsight import shell
from claimsight.commands import data, edits, loop, models, report, runs, service, workspace
from claimsight.errors import UsageProblem

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ClaimSight: denial prediction and recovery.")
for module in (data, edits, models, runs, service, loop, workspace, report):  # the order of `claimsight --help`
    module.register(app)


def main(argv: list[str] | None = None) -> Literal[0, 1, 2, 3] | int:
    """Entry point: map the layers' errors to exit codes with a message that carries no data values."""
    from pydantic import ValidationError

    from features.contract.tables_io import ContractError
    from features.contract.validation import RejectRateExceeded
    from training.splits import NotEnoughHistory

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, standalone_mode=False)
    except (ContractError, NotEnoughHistory, UsageProblem, RejectRateExceeded) as exc:
        # one line however narrow the terminal, and a message is text, never Rich markup
        shell.console(stderr=True).print(f"[red]error[/]: {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
        shell.console(stderr=True).print(f"[red]configuration error[/]: {fields}")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except typer.TyperException as exc:  # usage errors: bad option values, unknown commands
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            shell.console(stderr=True).print(f"[red]error[/]: {exc.format_message()}")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
