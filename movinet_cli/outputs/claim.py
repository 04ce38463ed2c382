"""One writer per output file, and one check that a resumed file was made as this run makes it.

Every output that a run appends to, rewrites as rows come, or resumes (``batch``'s results
file, ``embed``'s embeddings file) is claimed first: ``Claim`` holds an exclusive ``flock``
on the file for the length of the run, so a second run on the same file is refused at once
(``ClaimError``) instead of both writing and one losing the other's rows. ``Claim.replace``
puts new content in place atomically and keeps the claim: the new file is locked before it is
renamed over the old one, so no other run can take it in between. ``probe`` checks before any
work that a file could be claimed, and lets go.

A *recipe* is how a file's rows were made, as the options that made them (``{"--model":
"a0-base", "--size": 172}``): ``check_recipe`` refuses to resume a file whose recipe is not
this run's, naming the options that differ, so that one file never mixes two kinds of rows.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterable, Mapping
from typing import IO

from movinet_cli.errors import OutputError, UsageError
from movinet_cli.files import atomic_path


class ClaimError(UsageError):
    """Another run holds the file: this one is refused before it does any work (exit code 2)."""


class RecipeError(UsageError):
    """A file to resume was made with other options than this run's (exit code 2, untouched)."""


def open_text(path: str | int, mode: str) -> IO[str]:
    """``path`` (or a descriptor) opened as text: UTF-8, the bytes of non-UTF-8 file names in
    its rows kept as they are, line ends as written."""
    return open(path, mode, newline="", encoding="utf-8", errors="surrogateescape")


def already_exists(path: str) -> str:
    """Why an output that exists is refused when neither --resume nor --overwrite was given."""
    return f"{path} already exists: pass --resume to finish that run, or --overwrite to replace it"


def left_untouched(path: str, what: str, where: str) -> str:
    """Why ``path``, which is not a ``what`` ("movinet results database") as ``where`` says, is
    refused by --resume: it is not rewritten, and the user may choose."""
    return f"{path} is not a {what} ({where}); it was left untouched: choose another --output, or pass --overwrite to replace it"


def _busy(path: str, command: str) -> ClaimError:
    return ClaimError(f"{path} is being written by another movinet {command}; wait for it to finish, or choose another --output")


def probe(path: str, command: str) -> None:
    """Raises ClaimError if another run holds ``path`` (a regular file), OutputError if it
    cannot be read; takes the lock and lets go at once. Cheap: before loading a model."""
    try:
        with open(path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _busy(path, command) from None
    except OSError as error:
        raise OutputError(f"cannot read {path}: {error.strerror}") from None


class Claim:
    """This run's hold on the regular file ``path`` (through a symbolic link: the link stays),
    made empty if it did not exist. ``handle`` is the file, open for reading from the start
    and for appending (text, see ``open_text``). Raises ClaimError if another run holds it."""

    def __init__(self, path: str, command: str):
        self.path, self.command, self.target = path, command, os.path.realpath(path)
        self.handle = self._locked()

    def _locked(self) -> IO[str]:
        """The file, open and locked. A rewrite renames a new (locked) file into place, so a
        lock won on a file that has since been replaced is let go and taken on the new one."""
        while True:
            try:
                handle = open_text(self.target, "a+")
            except OSError as error:
                raise OutputError(f"cannot write {self.path}: {error.strerror}") from None
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise _busy(self.path, self.command) from None
            if os.path.exists(self.target) and os.path.samestat(os.stat(self.target), os.fstat(handle.fileno())):
                handle.seek(0)
                return handle
            handle.close()

    def replace(self, write: Callable[[str], None]) -> None:
        """Puts what ``write(staging)`` writes to the path ``staging`` in place of the file,
        atomically (``files.atomic_path``), keeping the claim: ``handle`` is then the new
        file, positioned at its end. On an error the file is as it was, still claimed."""
        new: IO[str] | None = None
        try:
            with atomic_path(self.target) as staging:
                write(staging)
                new = open_text(staging, "a+")
                fcntl.flock(new, fcntl.LOCK_EX)  # a file no one else has opened: at once
        except BaseException:
            if new is not None:
                new.close()
            raise
        self.handle.close()
        self.handle = new

    def release(self) -> None:
        """Closes the file, which lets another run claim it. Rows are flushed as they are
        written, so what is left is at most a write that already failed and was reported."""
        if not self.handle.closed:
            try:
                self.handle.close()
            except OSError:
                pass


def check_recipe(path: str, theirs: Mapping[str, object] | None, ours: Mapping[str, object]) -> None:
    """Raises RecipeError unless the file ``path``, made with the options ``theirs`` (None: it
    does not say), was made with this run's options ``ours``, naming those that differ."""
    if theirs is None:
        raise RecipeError(f"cannot resume {path}: it does not say which options made its rows; pass --overwrite to replace it")
    differ = [option for option in ours if theirs.get(option) != ours[option]]
    if differ:
        raise RecipeError(
            f"cannot resume {path}: its rows were made with {_options(theirs, differ)}, this run asks for {_options(ours, differ)}; "
            "resume with the same options, or pass --overwrite"
        )


def check_recipes(path: str, recipes: Iterable[Mapping[str, object]], ours: Mapping[str, object]) -> None:
    """``check_recipe`` for each way the rows kept from ``path`` were made (``rows.Row.recipe``
    of each row: the same recipe is checked once)."""
    distinct: dict[tuple, Mapping[str, object]] = {}
    for theirs in recipes:
        distinct.setdefault(tuple(theirs.get(option) for option in ours), theirs)
    for theirs in distinct.values():
        check_recipe(path, theirs, ours)


def _options(recipe: Mapping[str, object], names: list[str]) -> str:
    """``--size 32 --per-window`` for a recipe's ``names``: a flag by its name when set, ``no --flag`` when not."""
    words = []
    for name in names:
        value = recipe.get(name)
        if isinstance(value, str) and len(value) > 200:  # read from a file: anything at all
            value = value[:200] + "..."
        if value is None:
            words.append(f"{name} (not recorded)")
        elif isinstance(value, bool):
            words.append(name if value else f"no {name}")
        else:
            words.append(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
    return " ".join(words)
