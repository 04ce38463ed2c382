import os
import stat
import threading

import pytest

from movinet_cli.errors import OutputError
from movinet_cli.files import atomic_writer, check_output_path


def test_a_symbolic_link_is_written_through_and_stays_a_link(tmp_path):
    target, link = tmp_path / "real.csv", tmp_path / "link.csv"
    target.write_text("old")
    os.chmod(target, 0o600)
    link.symlink_to(target)
    with atomic_writer(link) as handle:
        handle.write("new")
    assert link.is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # the file keeps its permissions
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real.csv"]  # no temporary left


def test_a_dangling_link_creates_its_target(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "made.json")
    with atomic_writer(link) as handle:
        handle.write("{}")
    assert link.is_symlink() and (tmp_path / "made.json").read_text() == "{}"


def test_a_device_is_written_in_place(tmp_path):
    with atomic_writer("/dev/null") as handle:
        handle.write("rows")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("through_link", [False, True])
def test_a_fifo_is_written_in_place(tmp_path, through_link):
    fifo, link = tmp_path / "pipe.csv", tmp_path / "link.csv"
    os.mkfifo(fifo)
    link.symlink_to(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo).read()), daemon=True)
    reader.start()
    with atomic_writer(link if through_link else fifo) as handle:
        handle.write("a,b\n")
    reader.join(timeout=10)
    assert received == ["a,b\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode) and link.is_symlink()


def test_a_full_device_is_an_error_not_a_success():
    with pytest.raises(OutputError, match="cannot write /dev/full: No space left on device"):
        with atomic_writer("/dev/full") as handle:
            handle.write("x" * 100_000)


def test_an_error_while_writing_leaves_the_old_file(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_writer(path) as handle:
            handle.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.csv"]


def test_non_utf8_text_keeps_its_bytes(tmp_path):
    name = os.fsdecode(b"bad\xffname.mp4")
    with atomic_writer(tmp_path / "out.txt") as handle:
        handle.write(name)
    assert (tmp_path / "out.txt").read_bytes() == b"bad\xffname.mp4"


@pytest.mark.parametrize(
    "relative, message",
    [("missing/out.csv", r"directory .*missing does not exist"), ("folder", "is a directory")],
)
def test_unwritable_outputs_are_named_before_any_work(tmp_path, relative, message):
    (tmp_path / "folder").mkdir()
    with pytest.raises(OutputError, match=f"--timeline .*{relative}: {message}"):
        check_output_path(tmp_path / relative, "--timeline")
