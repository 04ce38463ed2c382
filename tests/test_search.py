"""``movinet search`` (commands.search): the videos and moments of a results database that show
given labels, on palette clips of known colours (``palette_library``), and nothing else."""

import json

import pytest
from click.testing import CliRunner

from movinet_cli.cli import cli
from movinet_cli.commands.search import Failure, UnknownLabelError, failed_videos, search


def run(*args):
    return CliRunner().invoke(cli, ["search", *map(str, args)])


def spans(found):
    return [(hit.path, hit.start_s, hit.end_s, hit.label) for hit in found.items]


def test_the_segments_of_a_colour_are_found_where_it_is_and_nowhere_else(palette_library):
    _, database, _, _ = palette_library
    blue = search(database, ["blue"], min_probability=0.5)
    assert blue.segments and spans(blue) == [("redblue.mp4", 3.0, 4.0, "blue")]
    red = search(database, ["red"], min_probability=0.5)
    assert spans(red) == [("red.mp4", 0.0, 2.0, "red"), ("redblue.mp4", 0.0, 3.0, "red")]
    assert all(hit.probability > 0.99 for hit in red.items)
    both = search(database, ["green", "blue"])
    assert sorted(hit.path for hit in both.items) == ["green.mp4", "redblue.mp4"]
    assert [hit.probability for hit in both.items] == sorted((hit.probability for hit in both.items), reverse=True)  # best first
    assert search(database, ["white"]).items == []  # a label the model knows, that no clip shows


def test_videos_only_searches_each_videos_top_k(palette_library):
    _, database, _, _ = palette_library
    blue = search(database, ["blue"], min_probability=0.1, videos_only=True)
    assert not blue.segments and spans(blue) == [("redblue.mp4", None, None, "blue")]  # a quarter of its windows: its second label
    assert blue.items[0].probability == pytest.approx(0.25, abs=0.01)
    red = search(database, ["red"], min_probability=0.5, videos_only=True)
    assert [hit.path for hit in red.items] == ["red.mp4", "redblue.mp4"]  # best first


def test_like_finds_every_label_holding_the_words_in_any_case(palette_library):
    _, database, _, _ = palette_library
    assert {hit.label for hit in search(database, ["GRE", "lu"], like=True).items} == {"green", "blue"}


def test_an_unknown_label_is_one_line_naming_the_closest(palette_library):
    _, database, _, _ = palette_library
    with pytest.raises(UnknownLabelError, match=r"^no label 'gren' in .*library.db; the closest: 'green', .* \(or try --like\)$"):
        search(database, ["red", "gren"])
    with pytest.raises(UnknownLabelError, match="no label holds 'purple'"):
        search(database, ["purple"], like=True)
    result = run(database, "Red")
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "the closest: 'red'" in result.output


def test_failed_lists_the_videos_that_failed_and_why(palette_library):
    _, database, _, _ = palette_library
    [failure] = failed_videos(database).items
    assert isinstance(failure, Failure) and failure.path == "broken.mp4" and failure.error
    result = run(database, "--failed")
    assert result.exit_code == 0 and result.output.startswith("broken.mp4: ")
    assert run(database, "--failed", "red").exit_code == 2


def test_formats_limit_and_exit_codes(palette_library):
    _, database, _, _ = palette_library
    result = run(database, "red", "-f", "json")
    assert result.exit_code == 0
    assert json.loads(result.output) == [  # equally sure: in the run's order
        {"path": "red.mp4", "start_s": 0.0, "end_s": 2.0, "label": "red", "probability": 1.0},
        {"path": "redblue.mp4", "start_s": 0.0, "end_s": 3.0, "label": "red", "probability": 1.0},
    ]
    lines = run(database, "blue", "-f", "csv", "--min-probability", "0.5").output.splitlines()
    assert lines[0] == "path,start_s,end_s,label,probability" and lines[1].startswith("redblue.mp4,3.0,4.0,blue,")
    limited = run(database, "red", "--limit", "1")
    assert limited.exit_code == 0 and limited.stdout.count("\n") == 1 and "pass --limit 0 for all" in limited.stderr
    assert "red.mp4" in run(database, "red", "--videos-only").output and "whole video" in run(database, "red", "--videos-only").output
    nothing = run(database, "white")
    assert nothing.exit_code == 1 and nothing.stdout == ""  # as grep: nothing found
    assert run(database, "white", "-f", "json").stdout == "[]\n"
    assert run(database).exit_code == 2  # neither LABEL nor --failed


def test_a_search_reads_while_a_run_writes(tmp_path):
    from test_database import INFO, LABELS, fake_outcome

    from movinet_cli.outputs.database_sink import DatabaseSink
    from movinet_cli.outputs.sinks import RunContext

    path = tmp_path / "library.db"
    sink = DatabaseSink(str(path), timelines=True).open(2)
    sink.start(RunContext(LABELS, INFO, 2))
    sink.add(fake_outcome("a.mp4", (0.7, 0.1, 0.1, 0.1)))
    try:
        assert spans(search(path, ["black"], min_probability=0.5)) == [("a.mp4", 0.0, 1.0, "black")]
    finally:
        sink.close(True)


def test_without_timelines_the_videos_are_searched_and_an_empty_database_knows_no_label(tmp_path):
    from test_database import fake_outcome, fake_run

    from movinet_cli.outputs.database_sink import DatabaseSink

    path = tmp_path / "library.db"
    fake_run(path, [fake_outcome("a.mp4", (0.7, 0.1, 0.1, 0.1)), fake_outcome("b.mp4", (0.1, 0.1, 0.1, 0.7))])
    found = search(path, ["black"])
    assert not found.segments and spans(found) == [("a.mp4", None, None, "black")]
    DatabaseSink(str(tmp_path / "empty.db")).open(2).close()  # made, no run started
    with pytest.raises(UnknownLabelError, match="holds no labels yet"):
        search(tmp_path / "empty.db", ["black"])
