"""The report's index of videos at scale: a JSON block that the page's script draws, only the
rows in view; its escaping, and in headless Chromium its rows, scrolling, filters and sort."""

import json
import random

import pytest
from test_report import in_browser, index_of, parse

from movinet_cli.options import NO_CLEAR_ACTION
from movinet_cli.outcomes.pipeline import Prediction
from movinet_cli.outputs import report
from movinet_cli.outputs.report import _seconds, write_report
from movinet_cli.outputs.report_records import VideoRecord

# Each would end the data block, open an element or run a script if it were written raw.
HOSTILE_PATH = "a</script><script>window.pwned='path'</script><!--\"'&amp;\u2028.mp4"
HOSTILE_LABEL = "</SCRIPT><img src=x onerror=\"window.pwned='label'\">"
HOSTILE_ERROR = "cannot be decoded: <script>window.pwned='error'</script>"
LABELS = ["red", "green", "blue", HOSTILE_LABEL]


def many_records(count: int, seed: int = 0) -> list[VideoRecord]:
    """``count`` records without pictures: one in 10 failed, one in 7 with no clear action;
    the first row has the hostile path and label, the second the hostile error."""
    rng = random.Random(seed)
    records = []
    for index in range(count):
        path = HOSTILE_PATH if index == 0 else f"folder {index % 7}/video {index:05d}.mp4"
        if index % 10 == 1:
            records.append(VideoRecord(path=path, status="error", error=HOSTILE_ERROR if index == 1 else "cannot be decoded", seconds=0.1))
            continue
        labels = [HOSTILE_LABEL, "red"] if index == 0 else rng.sample(LABELS[:3], 2)
        top = 0.1225 if index == 2 else round(rng.uniform(0.3, 1.0), 4)  # 12.25%: a tie, 12.2% as Python writes it
        action = NO_CLEAR_ACTION if index % 7 == 3 else labels[0]
        duration = [4.25, 90.5, 3723.0][index % 3]  # ties too: 4.2 s, 1:30; and 1:02:03
        records.append(VideoRecord(path=path, predictions=[Prediction(labels[0], top), Prediction(labels[1], 1 - top)], duration_s=duration,
                                   seconds=rng.uniform(0.1, 3), action=action))
    return records


def test_names_labels_and_messages_cannot_leave_the_data_block(tmp_path):
    records = many_records(20)
    write_report(tmp_path / "r.html", records)
    html = (tmp_path / "r.html").read_text("utf-8")
    assert html.lower().count("</script") == 2  # the data block's end and the script's
    assert html.count("<!--") == 0
    dom = parse(html)
    assert [script.attrs.get("type") for script in dom.all("script")] == ["application/json", None]
    assert not [e for e in dom.all() if any(name.startswith("on") for name in e.attrs)]
    block = dom.by_id("index-data").text
    assert not set("<>&") & set(block)
    rows = index_of(html)
    assert (rows[0]["path"], rows[0]["answer"], rows[1]["error"]) == (HOSTILE_PATH, HOSTILE_LABEL, HOSTILE_ERROR)  # every character kept
    assert [row["path"] for row in rows] == [record.path for record in records]
    assert "http:" not in html and "https:" not in html  # nothing from the network


def test_the_summary_is_computed_once_for_every_row(tmp_path):
    records = many_records(1000)
    write_report(tmp_path / "r.html", records)
    dom = parse((tmp_path / "r.html").read_text("utf-8"))
    failed = sum(record.status == "error" for record in records)
    assert (dom.by_id("count-videos").text, dom.by_id("count-failed").text) == ("1000", str(failed))
    unclear = sum(record.action == NO_CLEAR_ACTION for record in records)
    assert dom.by_id("count-unclear").text == str(unclear)
    options = {option.attrs["value"]: option.text for option in dom.by_id("label-filter").all("option")}
    assert options[NO_CLEAR_ACTION] == f"{NO_CLEAR_ACTION} ({unclear})"


# In the page, after the report's own script: the drawn rows, then the same after scrolling to
# the middle and to the end, after each filter and after sorting. ``scroll`` tells the page at
# once: headless Chromium's virtual time may dump the page before the next frame's own event.
INDEX_SCRIPT = """
function scroll(y) { scrollTo(0, y); dispatchEvent(new Event("scroll")); }
function rows() {
  return Array.prototype.map.call(document.querySelectorAll("#index .row"), function (row) {
    var box = row.getBoundingClientRect();
    return {index: +row.dataset.index, top: box.top, bottom: box.bottom, label: row.dataset.label, status: row.dataset.status,
            cells: Array.prototype.map.call(row.querySelectorAll(".cell"), function (cell) { return cell.textContent; }),
            link: (row.querySelector("a") || {getAttribute: function () { return null; }}).getAttribute("href")};
  }).sort(function (a, b) { return a.top - b.top; });
}
function inView() { return rows().filter(function (row) { return row.bottom > 0 && row.top < innerHeight; }); }
function choose(id, value) { var control = document.getElementById(id); control.value = value; control.dispatchEvent(new Event("input")); }
var found = {first: rows(), shown: document.getElementById("shown").textContent, pwned: window.pwned || null};
var list = document.getElementById("index");
scroll(list.getBoundingClientRect().top + scrollY + list.offsetHeight / 2);
found.middle = inView();
scroll(list.getBoundingClientRect().bottom + scrollY - innerHeight);
found.end = inView();
scroll(0);
choose("label-filter", "red");
found.red = {shown: document.getElementById("shown").textContent, rows: rows()};
choose("label-filter", "");
choose("status-filter", "error");
found.failed = {shown: document.getElementById("shown").textContent, rows: rows()};
choose("status-filter", "");
choose("search", "VIDEO 0012");
found.named = rows();
choose("search", "");
var probability = document.querySelector("#index-head [data-sort='probability'] button");
probability.click();
probability.click();
found.sorted = rows().slice(0, 3);
done(found);
"""


@pytest.mark.browser
@pytest.mark.parametrize("max_height", [None, 20_000])
def test_the_index_draws_only_the_rows_in_view_and_scrolls_filters_and_sorts(tmp_path, monkeypatch, max_height):
    if max_height:  # past this height a pixel scrolled is several pixels of rows: the end still shows
        monkeypatch.setattr(report, "INDEX_MAX_HEIGHT_PX", max_height)
    records = many_records(3000)
    page = tmp_path / "many.html"
    write_report(page, records)
    found = in_browser(tmp_path, page, INDEX_SCRIPT, budget_ms=10000)
    assert found["pwned"] is None and found["shown"] == "3000 of 3000 shown"

    # Only the rows near the window are in the page, each as the data says, drawn as text.
    first = found["first"]
    assert 10 <= len(first) <= 40
    assert [row["index"] for row in first] == list(range(len(first)))
    hostile, failed, plain = first[0]["cells"], first[1]["cells"], first[2]["cells"]
    assert hostile[0] == HOSTILE_PATH and hostile[1] == HOSTILE_LABEL and first[0]["label"] == HOSTILE_LABEL
    assert first[1]["status"] == "error" and failed[5] == "error" + HOSTILE_ERROR
    record = records[2]
    top = record.predictions[0]
    action = top.label if record.action != NO_CLEAR_ACTION else f"{NO_CLEAR_ACTION} (top: {top.label})"
    assert plain == [record.path, action, f"{top.probability:.1%}", _seconds(record.duration_s), _seconds(record.seconds), "ok"]
    assert [row["cells"][2] for row in first[2:3]] == ["12.2%"]  # as report.py writes them, to the digit
    assert [row["cells"][3] for row in first[2:5]] == ["1:02:03", "4.2 s", "1:30"]
    assert first[2]["link"] is None  # no --videos: nothing to link to
    assert all(b["top"] - a["top"] == pytest.approx(48, abs=0.5) for a, b in zip(first, first[1:]))  # one row after another

    # Scrolled to the middle and to the end: the rows there, one after another, the last one last.
    middle = found["middle"]
    assert 1000 < middle[0]["index"] < 2000 and [row["index"] for row in middle] == list(range(middle[0]["index"], middle[-1]["index"] + 1))
    assert found["end"][-1]["index"] == 2999 and found["end"][-1]["cells"][0] == records[-1].path

    # Filters: by action (the row's answer, not its top label), by failed, by name.
    red = [index for index, record in enumerate(records) if record.action == "red"]
    assert found["red"]["shown"] == f"{len(red)} of 3000 shown"
    assert [row["index"] for row in found["red"]["rows"]] == red[: len(found["red"]["rows"])]
    failed_rows = [index for index, record in enumerate(records) if record.status == "error"]
    assert found["failed"]["shown"] == f"{len(failed_rows)} of 3000 shown"
    assert {row["status"] for row in found["failed"]["rows"]} == {"error"}
    named = [record.path for record in records if "video 0012" in record.path]
    assert [row["cells"][0] for row in found["named"]] == named

    # Sorted by probability, highest first.
    highest = sorted((record.predictions[0].probability for record in records if record.predictions), reverse=True)[:3]
    assert [row["cells"][2] for row in found["sorted"]] == [f"{p:.1%}" for p in highest]


def test_the_index_links_each_video_once_its_folder_is_known(tmp_path):
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    records = [VideoRecord(path=name, status="error", error="x", video_file=str(videos / name)) for name in ("a b.mp4", "sub/c#d.mp4", "javascript:e.mp4")]
    write_report(tmp_path / "r.html", records)
    assert [row["link"] for row in index_of((tmp_path / "r.html").read_text("utf-8"))] == ["./videos/a%20b.mp4", "./videos/sub/c%23d.mp4", "./videos/javascript%3Ae.mp4"]
    assert json.loads(parse((tmp_path / "r.html").read_text("utf-8")).by_id("index-data").text)["link_base"] == "./videos/"
