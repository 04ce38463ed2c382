"""The ``movinet`` command line: thin click code over the library API.

One module per command; ``params`` holds the shared option groups, ``progress`` what is
shown on stderr while the commands work. This module is the group: it turns library errors
into one line on stderr and the documented exit code.

Exit codes: 0 success, 1 a video or the model failed (other videos still run), 2 usage
error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import errno
import os
import sys

import click

from movinet_cli import __version__, environment
from movinet_cli.cli.batch import batch
from movinet_cli.cli.classify import classify
from movinet_cli.cli.eval import evaluate
from movinet_cli.cli.interrupts import INTERRUPTED, TERMINATED, Interrupted, Terminated, install
from movinet_cli.cli.live import live
from movinet_cli.cli.models import models
from movinet_cli.cli.params import MODEL_VARIABLE
from movinet_cli.cli.report import report
from movinet_cli.cli.search import search
from movinet_cli.cli.train import embed, train
from movinet_cli.errors import ModelError, MovinetError, UsageError
from movinet_cli.text import printable

__all__ = ["cli", "main"]

class MovinetGroup(click.Group):
    """Turns library errors into one line on stderr, and Ctrl-C into a clean exit 130."""

    def invoke(self, ctx):
        # A file name that is not UTF-8 prints as its own bytes on stdout (as ls shows it)
        # and with backslash escapes in messages, instead of failing to print.
        for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors=errors)
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a full disk behind stdout shows here, not at exit
            return result
        except UsageError as error:
            raise click.UsageError(printable(str(error))) from None
        except MovinetError as error:
            where = f" (--model from ${MODEL_VARIABLE})" if isinstance(error, ModelError) and MODEL_VARIABLE in ctx.meta else ""
            raise click.ClickException(printable(str(error)) + where) from None
        except Interrupted as interrupt:
            click.echo(str(interrupt), err=True)
            ctx.exit(TERMINATED if interrupt.terminated else INTERRUPTED)
        except Terminated:
            click.echo("Terminated.", err=True)
            ctx.exit(TERMINATED)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(INTERRUPTED)
        except BrokenPipeError:
            # The reader of stdout went away (`| head`): stop quietly, as Unix tools do.
            _discard_stdout()
            ctx.exit(0)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as error:
            if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF):
                # Our own files report their errors by name (OutputError): this one is stdout.
                _discard_stdout()
                raise click.ClickException(f"cannot write to stdout: {error.strerror}") from None
            if environment.debug():
                raise
            raise click.ClickException(
                f"unexpected {type(error).__name__}: {printable(str(error))} (set MOVINET_DEBUG=1 to see the traceback)"
            ) from None


def _discard_stdout() -> None:
    """Points stdout at /dev/null, so that what is still buffered for a stdout that fails
    is dropped quietly instead of failing again when Python exits."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (e.g. under CliRunner)
        return
    os.dup2(os.open(os.devnull, os.O_WRONLY), descriptor)


@click.group(
    "movinet",
    cls=MovinetGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="movinet")
@click.pass_context
def cli(ctx):
    """Classify what happens in a video with MoViNet (Kinetics-600 actions).

    \b
    Examples:
      movinet classify video.mp4
      movinet classify --model a0-base --format json *.mp4
      movinet batch videos/ -o results.csv --report report.html
      movinet live
      movinet models
    """
    if ctx.invoked_subcommand is None:  # `movinet` alone: what it can do, not an error
        click.echo(ctx.get_help())


for command in (classify, batch, report, search, live, models, train, embed, evaluate):
    cli.add_command(command)


def main():
    """The ``movinet`` program: SIGTERM unwinds like Ctrl-C (partial files removed), once."""
    install()
    cli(prog_name="movinet")
