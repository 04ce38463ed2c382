"""Where a report's pictures go when they are too many to inline: a ``<report>_files/``
folder beside the page that the report owns. It is made fresh, or is marked as a report's own
(``FOLDER_MARKER`` lists the pictures reports wrote there), and only those pictures are
replaced or removed: a user's files in it are never touched, and a folder that is not a
report's is refused before any video is decoded (``check_report_path``).
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


def image_sources(images: list[list[bytes | None]], folder: str | None) -> list[list[str | None]]:
    """``src`` of each thumbnail: a data URI, or a relative URL into ``folder``."""
    if folder is None:
        return [[None if data is None else "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii") for data in per_video] for per_video in images]
    prefix = urllib.parse.quote(os.path.basename(folder))
    return [
        [None if data is None else f"./{prefix}/{thumbnail_name(video, number)}" for number, data in enumerate(per_video)]
        for video, per_video in enumerate(images)
    ]


def write_thumbnail_folder(folder: str, images: list[list[bytes | None]]) -> None:
    """Writes the thumbnails into ``folder`` and removes the ones an earlier report wrote
    there that this one does not use; every other file in it is left alone. The marker
    lists every picture of ours before any is written, so that a crash leaves none unowned."""
    owned = owned_thumbnails(folder)  # checked again: the folder may have changed since
    pictures = {
        thumbnail_name(video, number): data
        for video, per_video in enumerate(images)
        for number, data in enumerate(per_video)
        if data is not None
    }
    try:
        os.makedirs(folder, exist_ok=True)
        _replace_file(folder, FOLDER_MARKER, _marker(owned | set(pictures)))
        for name, data in pictures.items():
            _replace_file(folder, name, data)
        for name in owned - set(pictures):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(folder, name))
        _replace_file(folder, FOLDER_MARKER, _marker(set(pictures)))
    except OSError as error:
        raise OutputError(f"cannot write the report's pictures in {folder}: {error.strerror or error}") from None


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
