"""The ``convlens`` command line: one sub-command per job.

``main(argv)`` returns the exit status instead of exiting, so it can be called from Python and
tests. Errors a user can cause (a :class:`convlens.errors.ConvlensError`, a usage mistake, or a
file-system error on the user's own paths: missing file, permission denied, disk full) print one
line and exit 2. Anything else is a bug in convlens: it prints the traceback and says so.
"""

from __future__ import annotations

import errno
import importlib
import sys
import traceback
from collections.abc import Sequence

import click

from . import __version__
from .errors import ConvlensError

# Sub-command modules under convlens.commands; each defines ``command`` (a click.Command) or
# ``build_command()`` (called at each use, for options whose choices come from the registry).
COMMANDS = (
    "summary",
    "train",
    "layers",
    "explain",
    "demo",
    "sanity",
    "faithfulness",
    "filters",
    "features",
    "dream",
    "attack",
    "robustness",
    "style",
)

# File-system errors a user causes on their own paths (anything else is a bug).
USER_ERRNOS = {
    errno.ENOENT, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EISDIR,
    errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ENOTEMPTY,
}  # fmt: skip
USAGE_EXIT = 2
BUG_EXIT = 70  # EX_SOFTWARE


class _LazyGroup(click.Group):
    """Imports a sub-command's module only when that command runs or help is shown."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"convlens.commands.{name}")
        build = getattr(module, "build_command", None)
        return build() if build is not None else module.command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="convlens")
@click.option("--debug", is_flag=True, help="Show the full traceback of any error.")
def cli(debug: bool) -> None:
    """See inside convolutional neural networks: train, count, explain, attack, dream, restyle."""


def one_line(exc: BaseException | str) -> str:
    """The whole message of ``exc`` on one line (never cut mid-sentence)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _usage_line(exc: click.ClickException) -> str:
    """A usage mistake in one line, with where to get help."""
    ctx = getattr(exc, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else " (see `convlens --help`)"
    return f"convlens: error: {one_line(exc.format_message())}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="convlens", standalone_mode=False)
    except ConvlensError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"convlens: error: {one_line(exc)}", err=True)
        return USAGE_EXIT
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        click.echo("convlens: interrupted; finished work is kept (rerun with --resume where offered)", err=True)
        return 130
    except click.exceptions.UsageError as exc:
        click.echo(_usage_line(exc), err=True)
        return USAGE_EXIT
    except click.ClickException as exc:
        click.echo(f"convlens: error: {one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except OSError as exc:
        if exc.errno in USER_ERRNOS and exc.filename is not None:
            if debug:
                traceback.print_exc()
            what = exc.strerror or one_line(exc)
            click.echo(f"convlens: error: {exc.filename}: {what}; check the path and its permissions", err=True)
            return USAGE_EXIT
        return _bug(exc)
    except Exception as exc:  # anything else is a bug: show it as one
        return _bug(exc)
    return result if isinstance(result, int) else 0


def _bug(exc: BaseException) -> int:
    traceback.print_exception(type(exc), exc, exc.__traceback__)
    click.echo(
        f"convlens: internal error ({type(exc).__name__}): this is a bug in convlens {__version__}; "
        "please report it with the traceback above",
        err=True,
    )
    return BUG_EXIT


def run() -> None:
    """Entry point of the ``convlens`` console script."""
    sys.exit(main())
