"""The ``convlens`` command line: one sub-command per job.

``main(argv)`` returns the exit status instead of exiting, so it can be called from Python and
tests; errors a user can cause are printed in one line (no traceback) with a non-zero status.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from . import __version__
from .errors import ConvlensError

# Sub-command modules under convlens.commands; each defines ``command`` (a click.Command).
COMMANDS = ("summary", "train", "layers", "explain", "style", "demo")


class _LazyGroup(click.Group):
    """Imports a sub-command's module only when that command runs or help is shown."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name) if name in COMMANDS else None

    @staticmethod
    def _load(name: str) -> click.Command | None:
        try:
            module = importlib.import_module(f"convlens.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"convlens.commands.{name}":
                return None  # not built yet
            raise
        return module.command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="convlens")
def cli() -> None:
    """See inside convolutional neural networks: train, count, explain."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=args, prog_name="convlens", standalone_mode=False)
    except ConvlensError as exc:
        click.echo(f"convlens: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("convlens: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("convlens: interrupted; finished work is kept (rerun with --resume where offered)", err=True)
        return 130
    except (OSError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        click.echo(f"convlens: error: {first}", err=True)
        return 1
    return result if isinstance(result, int) else 0


def run() -> None:
    """Entry point of the ``convlens`` console script."""
    sys.exit(main())
