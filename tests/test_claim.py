"""One writer per output file (Claim, probe) and the resume check (check_recipe)."""

import os

import pytest

from movinet_cli.errors import OutputError
from movinet_cli.outputs.claim import Claim, ClaimError, RecipeError, check_recipe, probe


def test_a_claimed_file_is_refused_to_a_second_claim_and_a_probe_until_released(tmp_path):
    path = str(tmp_path / "rows.csv")
    first = Claim(path, "batch")
    with pytest.raises(ClaimError, match="being written by another movinet embed"):
        Claim(path, "embed")
    with pytest.raises(ClaimError):
        probe(path, "batch")
    first.release()
    probe(path, "batch")
    Claim(path, "batch").release()


def test_replace_puts_the_new_content_in_place_and_keeps_the_claim(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("old\n")
    claim = Claim(str(path), "batch")

    def write(staging):
        assert os.path.dirname(staging) == str(tmp_path)  # beside it: a rename, not a copy
        with open(staging, "w") as handle:
            handle.write("new\n")

    claim.replace(write)
    assert path.read_text() == "new\n"
    with pytest.raises(ClaimError):  # the new file is held too
        Claim(str(path), "batch")
    claim.handle.write("appended\n")
    claim.handle.flush()
    assert path.read_text() == "new\nappended\n"
    claim.release()


def test_a_failed_replace_leaves_the_file_as_it_was_and_still_claimed(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("old\n")
    claim = Claim(str(path), "batch")

    def broken(staging):
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="No space left"):
        claim.replace(broken)
    assert path.read_text() == "old\n" and [name for name in os.listdir(tmp_path)] == ["rows.csv"]
    with pytest.raises(ClaimError):
        probe(str(path), "batch")
    claim.release()


def test_a_claim_through_a_symbolic_link_writes_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "real.csv"
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    claim = Claim(str(link), "batch")
    claim.replace(lambda staging: open(staging, "w").close())
    claim.release()
    assert link.is_symlink() and target.is_file()


def test_check_recipe_names_the_options_that_differ_and_only_those():
    ours = {"--model": "a0-base", "--size": 172, "--fps": 5.0, "--per-window": False}
    check_recipe("x.npz", dict(ours), ours)
    with pytest.raises(RecipeError) as refused:
        check_recipe("x.npz", {**ours, "--size": 32, "--per-window": True}, ours)
    assert "its rows were made with --size 32 --per-window, this run asks for --size 172 no --per-window;" in str(refused.value)
    with pytest.raises(RecipeError, match="does not say which options made its rows"):
        check_recipe("x.npz", None, ours)
