"""Shared command-line plumbing for every farmkit tool.

Every tool is a typer app run through :func:`run`, which guarantees the house rule: bad input
(a wrong flag, malformed hex, a corrupt file) is one line on stderr and exit code 2, never a
traceback and never typer's multi-line usage box.
"""

from __future__ import annotations

import binascii
import os
import sys
from typing import Callable, NoReturn

import typer

try:  # typer >= 0.2x vendors click as typer._click, with Abort/Exit in typer.exceptions
    from typer import _click as click  # type: ignore[attr-defined]
    from typer.exceptions import Abort as _Abort, Exit as _Exit
except ImportError:  # pragma: no cover - older typer on top of click
    import click  # type: ignore[no-redef]
    from click.exceptions import Abort as _Abort, Exit as _Exit

from farmkit.errors import BackendUnavailable, FarmkitError

__all__ = [
    "new_app",
    "run",
    "fail",
    "parse_hex",
    "backend_option",
    "FarmkitError",
]


def new_app(name: str, help: str) -> typer.Typer:
    """A typer app with farmkit's defaults (no shell-completion flags, plain help)."""
    return typer.Typer(
        name=name,
        help=help,
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``<prog>: error: message`` on stderr as one line and exit."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "farmkit"
    one_line = " ".join(str(message).split())
    print(f"{prog}: error: {one_line}", file=sys.stderr)
    raise SystemExit(code)


def parse_hex(value: str, nbytes: int | None, what: str) -> bytes:
    """Decode lowercase/uppercase hex without ``0x`` (a leading ``0x`` is tolerated).

    Raises :class:`FarmkitError` naming ``what`` on malformed hex or wrong length.
    """
    text = value.strip()
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    try:
        raw = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise FarmkitError(f"{what}: not valid hex: {value!r}") from None
    if nbytes is not None and len(raw) != nbytes:
        raise FarmkitError(
            f"{what}: expected {nbytes} bytes ({2 * nbytes} hex characters), got {len(raw)} bytes"
        )
    return raw


def backend_option() -> typer.models.OptionInfo:
    """The ``--backend cpu|cuda|opencl`` option; default: best available."""
    return typer.Option(
        None,
        "--backend",
        help="Compute backend: cpu (numba), cuda (cupy) or opencl (pyopencl). Default: best available.",
    )


def run(app: typer.Typer | Callable, argv: list[str] | None = None) -> NoReturn:
    """Run a typer app with one-line errors and farmkit exit codes.

    Exit codes: 0 success, 1 a well-formed negative answer (e.g. "invalid"), 2 bad input or an
    unusable environment, 130 interrupted.
    """
    command = typer.main.get_command(app) if isinstance(app, typer.Typer) else app
    args = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else None
    try:
        rv = command.main(args=args, prog_name=prog, standalone_mode=False)
    except getattr(click.exceptions, "NoArgsIsHelpError", ()) as exc:
        print(exc.ctx.get_help() if exc.ctx else str(exc))
        raise SystemExit(0) from None
    except click.exceptions.UsageError as exc:
        where = f" ({exc.ctx.command_path})" if exc.ctx is not None else ""
        fail(f"{exc.format_message()}{where}; see --help", 2)
    except click.exceptions.ClickException as exc:
        fail(exc.format_message(), 2)
    except _Abort:
        fail("aborted", 130)
    except _Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except BackendUnavailable as exc:
        fail(str(exc), exc.exit_code)
    except FarmkitError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except BrokenPipeError:  # e.g. `pot prove ... | head`
        raise SystemExit(0) from None
    except OSError as exc:
        name = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        fail(f"{exc.strerror or exc}{':' + name if name else ''}", 2)
    raise SystemExit(rv if isinstance(rv, int) else 0)
