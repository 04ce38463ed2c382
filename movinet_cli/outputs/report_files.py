"""Where a report's pictures go (``Pictures``): inline while they are few, else, as they are
decoded, a ``<report>_files/`` folder beside the page that the report owns. It is made fresh,
or is marked as a report's own (``FOLDER_MARKER`` lists the pictures reports wrote there), and
only those pictures are replaced or removed: a user's files in it are never touched, and a
folder that is not a report's is refused before any video is decoded (``check_report_path``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import stat
import tempfile
import urllib.parse

from movinet_cli.errors import OutputError
from movinet_cli.files import ReadError, check_output_path, is_special, read_text, umask

FOLDER_MARKER = ".movinet-report"  # in a thumbnail folder: the pictures that reports wrote there
MARKER_LIMIT_BYTES = 10_000_000  # a marker of 100,000 videos' pictures is about 2 MB
_THUMBNAIL_NAME = re.compile(r"v\d+(-s\d+)?\.jpg")  # the only names a report gives its pictures


def thumbnail_folder(path: str | os.PathLike) -> str:
    """Where a report's thumbnails go when they are too many to inline: ``report_files``
    beside ``report.html`` (beside the file a symbolic link names, where the page goes)."""
    return os.path.splitext(os.path.realpath(os.fspath(path)))[0] + "_files"


def check_report_path(path: str | os.PathLike, option: str = "--report") -> None:
    """Raises OutputError (one line naming ``option``) unless a report can be written to
    ``path``: ``files.check_output_path``'s checks, and, for a regular file, a thumbnail
    folder name the report may use (see ``owned_thumbnails``). Cheap: call it before any
    video is decoded. A device or descriptor (``/dev/stdout``) always gets its pictures inline."""
    check_output_path(path, option)
    if not is_special(path):
        owned_thumbnails(thumbnail_folder(path), option)


def owned_thumbnails(folder: str, option: str = "--report") -> set[str]:
    """The names of the files in ``folder`` that earlier reports wrote (listed in its
    ``FOLDER_MARKER``); empty for a folder that does not exist yet or is empty. Raises
    OutputError if the report may not use ``folder``: it is not a directory, it holds files
    but no marker (the user's own folder), or it holds a file with a thumbnail's name that no
    report wrote, which replacing would destroy."""
    def refuse(why: str) -> OutputError:
        return OutputError(f"{option}: cannot put the pictures in {folder}: {why}; move it away or choose another name for the report")

    try:
        status = os.stat(folder)
    except FileNotFoundError:
        return set()
    except OSError as error:
        raise refuse(error.strerror or str(error)) from None
    if not stat.S_ISDIR(status.st_mode):
        raise refuse("it exists and is not a directory")
    try:
        present = set(os.listdir(folder))
    except OSError as error:
        raise refuse(error.strerror or str(error)) from None
    if not present:
        return set()
    if FOLDER_MARKER not in present:
        raise refuse(f"it holds files that a movinet report did not write (it has no {FOLDER_MARKER})")
    try:
        listed = json.loads(read_text(os.path.join(folder, FOLDER_MARKER), "report folder marker", MARKER_LIMIT_BYTES))
    except (ReadError, ValueError, RecursionError):
        raise refuse(f"its {FOLDER_MARKER} is damaged") from None
    if not (isinstance(listed, dict) and isinstance(listed.get("files"), list)):
        raise refuse(f"its {FOLDER_MARKER} is damaged")
    # Only names a report gives its pictures, so that a marker can never name another file.
    owned = {name for name in listed["files"] if isinstance(name, str) and _THUMBNAIL_NAME.fullmatch(name)}
    strangers = sorted(name for name in present - owned if _THUMBNAIL_NAME.fullmatch(name))
    if strangers:
        raise refuse(f"{strangers[0]} there is not a report's picture")
    return owned & present


def thumbnail_name(video: int, number: int) -> str:
    """File name of a thumbnail: the video's index thumbnail is number 0, segments follow.
    Names come from positions, never from the videos' own names."""
    return f"v{video}.jpg" if number == 0 else f"v{video}-s{number - 1}.jpg"


class Pictures:
    """A report's pictures as they are decoded (``add``) and where each one is (``source``).

    They are held in memory, to be inlined as data URIs, while they total at most
    ``inline_limit_bytes``; past that (a regular file's report: ``folder`` given), every one
    goes to ``folder`` instead, those held and each later one as it comes, so that memory never
    holds more than the inline budget. Without a folder (a report to a device) all stay inline.
    ``wanted`` is how many pictures each video may have (its index thumbnail, then one per
    segment): their names are listed in the folder's marker before any is written, so that a
    crash leaves none unowned. ``close`` (after the last ``add``) removes the pictures an earlier
    report wrote there that this one does not use, and lists in the marker those it wrote."""

    def __init__(self, folder: str | None, inline_limit_bytes: int, wanted: list[int]):
        self.folder = folder or ""
        self.limit = inline_limit_bytes if folder is not None else None  # None: never moved to a folder
        self.wanted = wanted
        self.count = 0  # pictures added
        self.bytes = 0  # their JPEG bytes in all
        self.in_folder = False  # whether they went to the folder
        self._held: dict[tuple[int, int], bytes] = {}  # (video, number) -> JPEG, while inline
        self._written: set[tuple[int, int]] = set()  # in the folder
        self._owned: set[str] = set()  # names earlier reports wrote there

    def add(self, video: int, number: int, data: bytes | None) -> None:
        """Adds picture ``number`` of video ``video`` (0: its index thumbnail; None: none)."""
        if data is None:
            return
        self.count += 1
        self.bytes += len(data)
        if self.in_folder:
            self._write(video, number, data)
            return
        self._held[video, number] = data
        if self.limit is not None and self.bytes > self.limit:
            self._move_to_folder()

    def base(self) -> str:
        """What every ``source`` starts with: the data URI's prefix, or the folder's URL."""
        if self.in_folder:
            return f"./{urllib.parse.quote(os.path.basename(self.folder))}/"
        return "data:image/jpeg;base64,"

    def source(self, video: int, number: int) -> str | None:
        """The picture's ``src``: a data URI or a relative URL into the folder; None for none."""
        if self.in_folder:
            return self.base() + thumbnail_name(video, number) if (video, number) in self._written else None
        data = self._held.get((video, number))
        return None if data is None else self.base() + base64.b64encode(data).decode("ascii")

    def close(self) -> None:
        """After the last ``add``: in the folder, removes the pictures that earlier reports
        wrote and this one does not use, and lists this one's in the marker."""
        if not self.in_folder:
            return
        written = {thumbnail_name(video, number) for video, number in self._written}
        try:
            for name in self._owned - written:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.folder, name))
            _replace_file(self.folder, FOLDER_MARKER, _marker(written))
        except OSError as error:
            raise _unwritable(self.folder, error) from None

    def _move_to_folder(self) -> None:
        self._owned = owned_thumbnails(self.folder)  # checked again: the folder may have changed since
        wanted = {thumbnail_name(video, number) for video, count in enumerate(self.wanted) for number in range(count)}
        try:
            os.makedirs(self.folder, exist_ok=True)
            _replace_file(self.folder, FOLDER_MARKER, _marker(self._owned | wanted))
        except OSError as error:
            raise _unwritable(self.folder, error) from None
        self.in_folder = True
        held, self._held = self._held, {}
        for (video, number), data in held.items():
            self._write(video, number, data)

    def _write(self, video: int, number: int, data: bytes) -> None:
        try:
            _replace_file(self.folder, thumbnail_name(video, number), data)
        except OSError as error:
            raise _unwritable(self.folder, error) from None
        self._written.add((video, number))


def _unwritable(folder: str, error: OSError) -> OutputError:
    return OutputError(f"cannot write the report's pictures in {folder}: {error.strerror or error}")


def _marker(names: set[str]) -> bytes:
    return json.dumps({"written_by": "movinet report", "files": sorted(names)}, indent=0).encode("utf-8")


def _replace_file(folder: str, name: str, data: bytes) -> None:
    """Writes ``folder/name`` through a temporary file renamed over it: a link of that name
    is replaced, never followed."""
    descriptor, temporary = tempfile.mkstemp(prefix=".partial-", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o666 & ~umask())
        os.replace(temporary, os.path.join(folder, name))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
