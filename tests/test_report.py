"""HTML reports: structure (parsed), escaping, batch and results-file reports, and the page as
a person sees it in a real headless browser."""

import base64
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT
from make_sample_videos import write_colour_video

from movinet_cli.cli import cli
from movinet_cli.errors import OutputError
from movinet_cli.options import NO_CLEAR_ACTION
from movinet_cli.outcomes.pipeline import Prediction
from movinet_cli.outcomes.timeline import Segment
from movinet_cli.outputs.report import NEUTRAL, write_report
from movinet_cli.outputs.report_files import Pictures, check_report_path
from movinet_cli.outputs.report_records import VideoRecord, decide, load_results

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
SAMPLES = ROOT / "sample_videos"
SAMPLE_NAMES = ["red-then-blue.mp4", "red.mp4", "green-portrait.avi"]
STREAM_STEP_S = 8 / 12  # default chunk of 8 frames at the palette models' 12 fps


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


# --- a small DOM from the standard library's HTML parser --------------------------------------


class Element:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    @property
    def classes(self) -> set:
        return set((self.attrs.get("class") or "").split())

    @property
    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text for child in self.children)

    def all(self, tag=None, cls=None) -> list:
        found = []
        for child in self.children:
            if isinstance(child, Element):
                if (tag is None or child.tag == tag) and (cls is None or cls in child.classes):
                    found.append(child)
                found += child.all(tag, cls)
        return found

    def by_id(self, value):
        return next(element for element in self.all() if element.attrs.get("id") == value)

    def one(self, tag=None, cls=None):
        found = self.all(tag, cls)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls}> elements"
        return found[0]


class _Builder(HTMLParser):
    VOID = {"meta", "img", "input", "br", "hr", "link"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element("#document", {})

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs), self.current)
        self.current.children.append(element)
        if tag not in self.VOID:
            self.current = element

    def handle_endtag(self, tag):
        node = self.current
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    return builder.root


def style(element) -> dict:
    return dict(part.split(":", 1) for part in element.attrs["style"].split(";") if part)


def image_bgr(picture) -> np.ndarray:
    """The decoded pixels of an <img> with a data URI, or of a data URI."""
    prefix, source = "data:image/jpeg;base64,", picture if isinstance(picture, str) else picture.attrs["src"]
    assert source.startswith(prefix)
    return cv2.imdecode(np.frombuffer(base64.b64decode(source[len(prefix) :]), np.uint8), cv2.IMREAD_COLOR)


def mean_rgb(picture) -> tuple:
    return tuple(image_bgr(picture).reshape(-1, 3).mean(0)[::-1])


def index_of(html: str) -> list[dict]:
    """The index's rows as the page's script draws them (from its JSON block): a dict per
    video of report.INDEX_FIELDS, labels named, links and pictures whole, with its colour."""
    data = json.loads(parse(html).by_id("index-data").text)
    rows = []
    for number, values in enumerate(data["rows"]):
        row = dict(zip(data["fields"], values))
        row["colour"] = None if row["answer"] is None else data["colours"][row["answer"]]
        row["answer"], row["top"] = (None if row[key] is None else data["labels"][row[key]] for key in ("answer", "top"))
        row["link"] = None if row["link"] is None else f"#v{number}" if row["link"] == 0 else data["link_base"] + row["link"]
        row["picture"] = None if row["picture"] is None else data["picture_base"] + row["picture"]
        rows.append(row)
    return rows


def is_colour(rgb, expected) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(rgb, expected))


# --- classify --report ----------------------------------------------------------------------


@pytest.fixture
def sample_report(palette_models, tmp_path):
    """The report of the three sample videos in stream mode with the palette model."""
    path = tmp_path / "report.html"
    videos = [str(SAMPLES / name) for name in SAMPLE_NAMES]
    result = run("classify", *videos, "-m", palette_models.stream, "--labels", palette_models.labels, "-q", "--report", path)
    assert result.exit_code == 0, result.output
    return path, videos


def test_classify_report_shows_each_video_with_its_timeline_pictures_and_chart(sample_report):
    path, videos = sample_report
    dom = parse(path.read_text("utf-8"))
    sections = dom.all("section", "video")
    assert [section.one("h2").text for section in sections] == videos
    assert [[seg.text for seg in section.all(cls="seg")] for section in sections] == [["red", "blue"], ["red"], ["green"]]

    # Where the colour changes: the stream model says blue from the end of the chunk that sees
    # the change at 3.0 s, and the segments tile the video's 6 s.
    red, blue = sections[0].all(cls="seg")
    boundary_s = float(style(blue)["left"].rstrip("%")) / 100 * 6.0
    assert 3.0 <= boundary_s <= 3.0 + STREAM_STEP_S  # from the last frame of the first chunk that says blue
    assert float(style(red)["width"].rstrip("%")) == pytest.approx(float(style(blue)["left"].rstrip("%")), abs=0.01)

    # One picture per segment, taken inside it: red, then blue; the portrait video stays portrait.
    pictures = [[card.one("img") for card in section.all(cls="thumb-card")] for section in sections]
    assert [len(p) for p in pictures] == [2, 1, 1]
    assert is_colour(mean_rgb(pictures[0][0]), RED) and is_colour(mean_rgb(pictures[0][1]), BLUE)
    assert is_colour(mean_rgb(pictures[2][0]), GREEN)
    height, width = image_bgr(pictures[2][0]).shape[:2]
    assert width == 160 and height > width
    captions = [card.one(cls="caption").text for card in sections[0].all(cls="thumb-card")]
    assert captions[0].startswith("red") and captions[0].endswith("0.0–3.2 s") and captions[1].startswith("blue")

    # A segment's details: its time range and its own top-k.
    details = sections[0].all(cls="seg-detail")
    assert [d.attrs["id"] for d in details] == [seg.attrs["data-seg"] for seg in sections[0].all(cls="seg")]
    assert details[1].one("h4").text == "3.2–6.0 s: blue"
    assert [row.one(cls="name").text for row in details[1].all("li")][0] == "blue"
    assert len(details[1].all("li")) == 5

    # A label keeps its colour across the report: in every strip, bar and swatch.
    colours = {}
    for seg in dom.all(cls="seg"):
        colours.setdefault(seg.text, set()).add(style(seg)["background"])
    for row in dom.all("li"):
        if row.all(cls="fill") and row.all(cls="name"):
            colours.setdefault(row.one(cls="name").text, set()).add(style(row.one(cls="fill"))["background"])
    assert all(len(found) == 1 for found in colours.values()), colours
    assert len({colours[label].pop() for label in ("red", "blue", "green")}) == 3

    # Stream mode: the probability of the top labels over time.
    chart = sections[0].one("svg", "chart")
    assert {line.one("title").text for line in chart.all("polyline")} >= {"red", "blue"}

    # The index of the three videos links to each one's details.
    rows = index_of(path.read_text("utf-8"))
    assert [row["link"] for row in rows] == ["#v0", "#v1", "#v2"]
    assert [row["answer"] for row in rows] == ["blue", "red", "green"]


def test_clip_mode_report_of_one_video_has_no_index_and_no_chart(palette_models, colour_video, tmp_path):
    video = colour_video("red-green.mp4", [(RED, 2.0), (GREEN, 2.0)])
    path = tmp_path / "one.html"
    result = run("classify", video, "-m", palette_models.base, "--labels", palette_models.labels, "--timeline-step", 1, "-q", "--report", path)
    assert result.exit_code == 0, result.output
    dom = parse(path.read_text("utf-8"))
    assert not dom.all("table") and not dom.all("svg")
    section = dom.one("section", "video")
    assert [seg.text for seg in section.all(cls="seg")] == ["red", "green"]
    assert [d.one("h4").text for d in section.all(cls="seg-detail")] == ["0.0–2.0 s: red", "2.0–4.0 s: green"]
    red, green = (card.one("img") for card in section.all(cls="thumb-card"))
    assert is_colour(mean_rgb(red), RED) and is_colour(mean_rgb(green), GREEN)


def test_the_timeline_spans_start_to_end(palette_models, colour_video, tmp_path):
    video = colour_video("rgb.mp4", [(RED, 2.0), (GREEN, 2.0), (BLUE, 2.0)])
    path = tmp_path / "range.html"
    model = ["-m", palette_models.base, "--labels", palette_models.labels, "--timeline-step", 1, "-q"]
    assert run("classify", video, *model, "--start", 2, "--end", 6, "--report", path).exit_code == 0
    section = parse(path.read_text("utf-8")).one("section", "video")
    strip = [(seg.text, float(style(seg)["left"].rstrip("%")), float(style(seg)["width"].rstrip("%"))) for seg in section.all(cls="seg")]
    assert strip == [("green", 0.0, 50.0), ("blue", 50.0, 50.0)]
    assert [span.text for span in section.one(cls="axis").all("span")] == ["2.0 s", "6.0 s"]
    green, blue = (card.one("img") for card in section.all(cls="thumb-card"))
    assert is_colour(mean_rgb(green), GREEN) and is_colour(mean_rgb(blue), BLUE)


def test_a_report_in_a_missing_directory_is_a_usage_error_before_the_model_loads(tmp_path):
    result = run("classify", tmp_path / "v.mp4", "-m", "no-such-model", "--report", tmp_path / "missing" / "r.html")
    assert result.exit_code == 2 and "does not exist" in result.stderr


# --- escaping -----------------------------------------------------------------------------


HOSTILE_LABELS = {4: "</script><script>alert('label')</script>", 1: "<img src=x onerror=alert('label')>"}  # red, blue
HOSTILE_NAMES = ["<img src=x onerror=alert('name')>.mp4", "<script>alert('name')<!--.mp4", "javascript:alert('name').mp4"]


@pytest.fixture
def hostile_report(palette_models, tmp_path):
    """A report of videos with hostile names, classified with hostile label names."""
    labels = open(palette_models.labels).read().splitlines()
    for index, label in HOSTILE_LABELS.items():
        labels[index] = label
    label_file = tmp_path / "labels.txt"
    label_file.write_text("\n".join(labels) + "\n")
    folder = tmp_path / "hostile"
    folder.mkdir()
    videos = [write_colour_video(str(folder / name), [(RED, 1.0), (BLUE, 1.0)], 25, (64, 48)) for name in HOSTILE_NAMES]
    path = tmp_path / "hostile.html"
    result = run("classify", *videos, "-m", palette_models.stream, "--labels", label_file, "-q", "--report", path)
    assert result.exit_code == 0, result.output
    return path, videos


def test_hostile_names_and_labels_show_as_text(hostile_report):
    path, videos = hostile_report
    html = path.read_text("utf-8")
    for raw in ["<img src=x", "<script>alert", "</script><script>", "href=\"javascript"]:
        assert raw not in html
    dom = parse(html)
    # The report's own script, and its index as data (where no "<" can end the element).
    assert [script.attrs.get("type") for script in dom.all("script")] == ["application/json", None]
    assert "<" not in dom.by_id("index-data").text
    assert not [e for e in dom.all() if any(name.startswith("on") for name in e.attrs)]
    assert [section.one("h2").text for section in dom.all("section", "video")] == videos
    assert [row["path"] for row in index_of(html)] == videos
    assert {seg.text for seg in dom.all(cls="seg")} == set(HOSTILE_LABELS.values())
    assert {option.attrs["value"] for option in dom.by_id("label-filter").all("option")} == {"", HOSTILE_LABELS[1]}
    hrefs = [a.attrs["href"] for a in dom.all("a")] + [row["link"] for row in index_of(html)]
    assert all(href.startswith(("#", "./")) for href in hrefs)
    assert any("javascript%3Aalert" in href for href in hrefs)


# --- batch --report, and reports from results files ---------------------------------------


@pytest.fixture
def batch_dir(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    write_colour_video(str(root / "a red.mp4"), [(RED, 1.0)], 20, (48, 32))
    write_colour_video(str(root / "b green.avi"), [(GREEN, 1.0)], 20, (48, 32))
    (root / "c notes.mp4").write_text("not a video")
    return root


def index_rows(path):
    return index_of(path.read_text("utf-8"))


def test_batch_report_lists_every_row_with_errors_and_a_summary(palette_models, batch_dir, tmp_path):
    out, report = tmp_path / "results.csv", tmp_path / "report.html"
    result = run("batch", batch_dir, "-o", out, "-m", palette_models.base, "--labels", palette_models.labels, "--report", report)
    assert result.exit_code == 1  # one video failed; the report still comes
    assert "report: " in result.stderr
    dom = parse(report.read_text("utf-8"))
    assert (dom.one(cls="counts").all("dd")[1].text, dom.one(cls="counts").all("dd")[2].text) == ("2", "1")
    rows = index_rows(report)
    assert [row["path"] for row in rows] == ["a red.mp4", "b green.avi", "c notes.mp4"]
    assert [row["status"] for row in rows] == ["ok", "ok", "error"]
    assert "cannot be decoded" in rows[2]["error"] and not rows[0]["error"]
    assert [row["picture"] is not None for row in rows] == [True, True, False]
    assert is_colour(mean_rgb(rows[0]["picture"]), RED) and is_colour(mean_rgb(rows[1]["picture"]), GREEN)
    assert rows[0]["link"] == "./videos/a%20red.mp4"
    assert not dom.all("section", "video")  # batch rows carry no timeline
    assert [b.text for b in dom.one(cls="frequent").all("button")] == ["red", "green"]  # equal counts: in order of the rows


def test_a_resumed_batch_reports_every_row_not_only_this_run(palette_models, batch_dir, tmp_path):
    out, report = tmp_path / "results.csv", tmp_path / "report.html"
    model = ["-m", palette_models.base, "--labels", palette_models.labels, "-q"]
    run("batch", batch_dir, "-o", out, *model)
    write_colour_video(str(batch_dir / "d blue.mp4"), [(BLUE, 1.0)], 20, (48, 32))
    run("batch", batch_dir, "-o", out, *model, "--resume", "--report", report)
    rows = index_rows(report)
    assert [row["path"] for row in rows] == ["a red.mp4", "b green.avi", "c notes.mp4", "d blue.mp4"]
    assert [row["answer"] for row in rows] == ["red", "green", None, "blue"]


@pytest.mark.slow
def test_report_command_reads_batch_jsonl_and_classify_json(palette_models, batch_dir, tmp_path):
    model = ["-m", palette_models.base, "--labels", palette_models.labels, "-q"]
    run("batch", batch_dir, "-o", tmp_path / "results.jsonl", *model)
    result = run("report", tmp_path / "results.jsonl", "--videos", batch_dir, "-o", tmp_path / "a.html")
    assert result.exit_code == 0 and "3 videos" in result.stderr
    rows = index_rows(tmp_path / "a.html")
    assert [row["status"] for row in rows] == ["ok", "ok", "error"] and rows[0]["picture"]
    # Without --videos: the same rows, no pictures.
    run("report", tmp_path / "results.jsonl", "-o", tmp_path / "b.html")
    assert [row["picture"] for row in index_rows(tmp_path / "b.html")] == [None, None, None]
    # classify --format json: model and engine come from the document.
    document = run("classify", batch_dir / "a red.mp4", batch_dir / "c notes.mp4", *model, "--format", "json").stdout
    (tmp_path / "doc.json").write_text(document)
    records = load_results(tmp_path / "doc.json")
    assert [(r.status, r.model) for r in records] == [("ok", palette_models.base), ("error", palette_models.base)]
    assert records[0].predictions[0].label == "red" and records[0].duration_s == pytest.approx(1.0)


def test_a_row_cut_short_is_left_out_and_a_non_results_file_is_one_line(tmp_path):
    rows = "path,status,error,label_1,prob_1,duration_s,frames,model,engine,mode,seconds\na.mp4,ok,,red,0.9,1.0,12,m,e,clip,0.1\nb.mp4,ok,,bl"  # as movinet wrote before the precision column
    (tmp_path / "r.csv").write_text(rows)
    assert [(r.path, r.predictions) for r in load_results(tmp_path / "r.csv")] == [("a.mp4", [Prediction("red", 0.9)])]
    (tmp_path / "notes.txt").write_text("hello\n")
    result = run("report", tmp_path / "notes.txt", "-o", tmp_path / "r.html")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "not a movinet results file" in result.stderr


def test_pictures_go_to_a_folder_beyond_the_inline_budget(colour_video, tmp_path):
    records = [
        VideoRecord(path=f"v{index}.mp4", predictions=[Prediction("red", 1.0)], duration_s=1.0, video_file=colour_video(f"v{index}.mp4", [(RED, 1.0)]))
        for index in range(3)
    ]
    folder = tmp_path / "report_files"
    summary = write_report(tmp_path / "report.html", records, inline_limit_bytes=0)
    assert summary.folder == str(folder) and summary.thumbnails == 3
    assert sorted(os.listdir(folder)) == [".movinet-report", "v0.jpg", "v1.jpg", "v2.jpg"]
    # Drawn by the page's script as their rows come into view, so a large index stays light.
    assert [row["picture"] for row in index_rows(tmp_path / "report.html")] == ["./report_files/v0.jpg", "./report_files/v1.jpg", "./report_files/v2.jpg"]
    assert "data:image" not in (tmp_path / "report.html").read_text()
    inline = write_report(tmp_path / "inline.html", records)
    assert inline.folder is None and "data:image/jpeg;base64," in (tmp_path / "inline.html").read_text()


def test_a_later_report_removes_only_its_own_pictures(colour_video, tmp_path):
    def records(count):
        return [VideoRecord(path=f"v{i}.mp4", duration_s=1.0, video_file=colour_video(f"v{i}.mp4", [(RED, 1.0)])) for i in range(count)]

    write_report(tmp_path / "report.html", records(3), inline_limit_bytes=0)
    folder = tmp_path / "report_files"
    (folder / "notes.md").write_text("mine")  # the user's, beside the report's own
    write_report(tmp_path / "report.html", records(1), inline_limit_bytes=0)
    assert sorted(os.listdir(folder)) == [".movinet-report", "notes.md", "v0.jpg"]
    assert (folder / "notes.md").read_text() == "mine"


def test_past_the_budget_pictures_go_to_the_folder_as_they_come(tmp_path):
    folder = tmp_path / "r_files"
    folder.mkdir()
    (folder / ".movinet-report").write_text('{"files": ["v7.jpg"]}')  # an earlier report's
    (folder / "v7.jpg").write_bytes(b"old")
    pictures = Pictures(str(folder), 10, wanted=[2, 0, 1])
    pictures.add(0, 0, b"12345678")
    assert sorted(os.listdir(folder)) == [".movinet-report", "v7.jpg"]  # under the budget: held, to be inlined
    pictures.add(0, 1, b"abcdefgh")  # past it: every picture so far is written, the held ones too
    assert sorted(os.listdir(folder)) == [".movinet-report", "v0-s0.jpg", "v0.jpg", "v7.jpg"]
    # Every picture that may yet come is listed before it is written, with the earlier report's.
    assert json.loads((folder / ".movinet-report").read_text())["files"] == ["v0-s0.jpg", "v0.jpg", "v2.jpg", "v7.jpg"]
    pictures.add(2, 0, b"xyz")
    assert (folder / "v2.jpg").read_bytes() == b"xyz"  # as it comes
    pictures.close()
    assert sorted(os.listdir(folder)) == [".movinet-report", "v0-s0.jpg", "v0.jpg", "v2.jpg"]
    assert json.loads((folder / ".movinet-report").read_text())["files"] == ["v0-s0.jpg", "v0.jpg", "v2.jpg"]
    assert [pictures.source(0, 0), pictures.source(1, 0), pictures.source(2, 0)] == ["./r_files/v0.jpg", None, "./r_files/v2.jpg"]
    assert (pictures.count, pictures.bytes, pictures.in_folder) == (3, 19, True)
    # Without a folder (a report to a device) every picture stays inline, whatever the budget.
    inline = Pictures(None, 0, wanted=[1])
    inline.add(0, 0, b"12345678")
    assert inline.source(0, 0) == "data:image/jpeg;base64,MTIzNDU2Nzg=" and not inline.in_folder


def album(tmp_path, names):
    folder = tmp_path / "album_files"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(b"the user's " + name.encode())
    return folder


def test_a_folder_that_is_not_the_reports_is_refused_before_any_decoding_and_left_alone(colour_video, tmp_path):
    folder = album(tmp_path, ["vacation.jpg", "visit.jpg", "v1.jpg"])
    video = colour_video("v.mp4", [(RED, 1.0)])
    with pytest.raises(OutputError, match="album_files.*did not write"):
        check_report_path(tmp_path / "album.html")
    with pytest.raises(OutputError):
        write_report(tmp_path / "album.html", [VideoRecord(path=f"v{i}.mp4", video_file=video) for i in range(3)], inline_limit_bytes=0)
    assert sorted(os.listdir(folder)) == ["v1.jpg", "vacation.jpg", "visit.jpg"]
    assert (folder / "v1.jpg").read_bytes() == b"the user's v1.jpg"
    # A picture's name that no report wrote, in a folder that is the report's, is refused too.
    (tmp_path / "own.html").write_text("")
    write_report(tmp_path / "own.html", [VideoRecord(path="v0.mp4", video_file=video)], inline_limit_bytes=0)
    (tmp_path / "own_files" / "v5-s1.jpg").write_bytes(b"mine")
    with pytest.raises(OutputError, match="v5-s1.jpg"):
        check_report_path(tmp_path / "own.html")
    # A marker that names a file elsewhere is never followed.
    (tmp_path / "own_files" / ".movinet-report").write_text('{"files": ["../album.html", "v0.jpg", "v5-s1.jpg"]}')
    (tmp_path / "album.html").write_text("precious")
    write_report(tmp_path / "own.html", [VideoRecord(path="v0.mp4", video_file=video)], inline_limit_bytes=0)
    assert (tmp_path / "album.html").read_text() == "precious"


def test_the_report_command_refuses_a_folder_name_it_cannot_use_before_decoding(palette_models, batch_dir, tmp_path):
    results = tmp_path / "results.csv"
    assert run("batch", batch_dir, "-o", results, "-m", palette_models.base, "--labels", palette_models.labels, "-q").exit_code == 1
    (tmp_path / "album_files").write_text("a plain file")
    result = run("report", results, "--videos", batch_dir, "-o", tmp_path / "album.html")
    assert result.exit_code == 2 and "album_files" in result.stderr and "unexpected" not in result.stderr
    assert not (tmp_path / "album.html").exists() and (tmp_path / "album_files").read_text() == "a plain file"


def test_a_report_to_a_descriptor_has_its_pictures_inline(colour_video, tmp_path):
    records = [VideoRecord(path="v.mp4", duration_s=1.0, video_file=colour_video("v.mp4", [(RED, 1.0)]))]
    read, write = os.pipe()
    try:
        with open(tmp_path / "out.html", "wb") as sink:
            os.dup2(sink.fileno(), write)
            summary = write_report(f"/proc/self/fd/{write}", records, inline_limit_bytes=0)
    finally:
        os.close(read)
        os.close(write)
    assert summary.folder is None and summary.thumbnails == 1
    assert "data:image/jpeg;base64," in (tmp_path / "out.html").read_text()


def test_help_does_not_import_jinja2():
    code = "import sys; from movinet_cli.cli import main; sys.argv = ['movinet', '--help']\ntry: main()\nexcept SystemExit: pass\nprint('jinja2' in sys.modules, file=sys.stderr)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert output.strip() == "False"


# --- in a real browser ----------------------------------------------------------------------


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no chromium: the browser test needs Debian's chromium (.ci/run installs it)")


def chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    command = [find_chromium(), "--headless", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'chromium'}"]
    if os.geteuid() == 0:
        command.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=120)


@pytest.mark.browser
@pytest.mark.slow
def test_the_report_renders_in_a_browser_as_a_person_sees_it(sample_report, hostile_report, tmp_path):
    path, videos = sample_report
    # The page as rendered, its script run, with the second segment of the first video
    # selected from the address (the same code as a click).
    loaded = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", path.as_uri() + "#v0-s1")
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    console = [line for line in loaded.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "Uncaught" in line or "Error" in line], console
    dom = parse(loaded.stdout)
    assert dom.one("html").attrs.get("data-ready") == "true"
    assert [[seg.text for seg in s.all(cls="seg")] for s in dom.all("section", "video")] == [["red", "blue"], ["red"], ["green"]]
    shown = dom.one(cls="shown")
    assert shown.attrs["id"] == "v0-s1" and shown.one("h4").text == "3.2–6.0 s: blue"
    assert {e.text for e in dom.all(cls="selected")} >= {"blue"}
    assert dom.by_id("shown").text == "3 of 3 shown"

    # Hostile names and labels stay text in the live DOM too, and no script of theirs ran.
    hostile = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", hostile_report[0].as_uri())
    hostile_dom = parse(hostile.stdout)
    assert hostile_dom.one("html").attrs.get("data-ready") == "true"
    assert len(hostile_dom.all("script")) == 2  # the index's data and the report's script
    assert not [e for e in hostile_dom.all() if any(name.startswith("on") for name in e.attrs)]
    assert "alert" not in " ".join(line for line in hostile.stderr.splitlines() if "CONSOLE" in line)

    # A screenshot: not blank, with the red and blue pictures and the strip's colours in it.
    picture = tmp_path / "report.png"
    shot = chromium(tmp_path, "--window-size=1100,1600", f"--screenshot={picture}", path.as_uri())
    assert shot.returncode == 0 and picture.exists(), shot.stderr[-2000:]
    pixels = cv2.imread(str(picture))[..., ::-1].reshape(-1, 3).astype(int)
    assert pixels.std() > 20  # not one flat colour
    for rgb in (RED, BLUE, GREEN):
        assert (np.abs(pixels - rgb).sum(1) < 60).sum() > 1000, f"no {rgb} picture on screen"
    strip_colour = style(parse(path.read_text("utf-8")).all(cls="seg")[0])["background"]
    strip_rgb = tuple(int(strip_colour[i : i + 2], 16) for i in (1, 3, 5))
    assert (np.abs(pixels - strip_rgb).sum(1) < 12).sum() > 1000


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("fragment", ["#%", "#%E0%A4%A", "#v9-s9", "#"])
def test_any_fragment_leaves_the_script_running(sample_report, tmp_path, fragment):
    loaded = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", sample_report[0].as_uri() + fragment)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert parse(loaded.stdout).one("html").attrs.get("data-ready") == "true", loaded.stderr[-2000:]


@pytest.mark.browser
def test_pictures_in_a_folder_load_in_a_browser(tmp_path):
    records = [
        VideoRecord(path=name, predictions=[Prediction("x", 1.0)], duration_s=2.0, video_file=str(SAMPLES / name))
        for name in ("red.mp4", "green-portrait.avi")
    ]
    path = tmp_path / "folder.html"
    assert write_report(path, records, inline_limit_bytes=0).folder
    picture = tmp_path / "folder.png"
    shot = chromium(tmp_path, "--window-size=900,700", f"--screenshot={picture}", path.as_uri())
    assert shot.returncode == 0, shot.stderr[-2000:]
    pixels = cv2.imread(str(picture))[..., ::-1].reshape(-1, 3).astype(int)
    for rgb in (RED, GREEN):
        assert (np.abs(pixels - rgb).sum(1) < 60).sum() > 1000, f"no {rgb} picture on screen"


def test_a_name_that_is_not_utf8_shows_with_a_replacement_and_links_to_its_bytes(palette_models, batch_dir, tmp_path):
    os.rename(os.path.join(os.fsencode(batch_dir), b"a red.mp4"), os.path.join(os.fsencode(batch_dir), b"a \xffred.mp4"))
    out, report = tmp_path / "results.csv", tmp_path / "report.html"
    result = run("batch", batch_dir, "-o", out, "-m", palette_models.base, "--labels", palette_models.labels, "-q", "--report", report)
    assert result.exit_code == 1 and "unexpected" not in result.stderr  # the notes file fails, not the name
    rows = index_of(report.read_bytes().decode("utf-8"))  # valid UTF-8
    assert rows[0]["path"] == "a \ufffdred.mp4"
    assert rows[0]["link"] == "./videos/a%20%FFred.mp4"


def in_browser(tmp_path, page, script, width=1280, budget_ms=5000) -> dict:
    """What ``script`` finds in ``page`` as headless Chromium lays it out in a window ``width``
    pixels wide: the script runs after the report's own, and calls ``done(value)``; its value
    comes back as JSON. The page is copied beside itself, so its relative links still work."""
    measured = page.with_name("measured-" + page.name)
    harness = "<script>function done(value) { document.documentElement.dataset.measured = JSON.stringify(value); }\n" + script + "</script>"
    measured.write_text(page.read_text("utf-8").replace("</body>", harness + "</body>"), "utf-8")
    for budget in (budget_ms, 4 * budget_ms, 16 * budget_ms):  # a busy machine loads media late: waited for, not failed
        loaded = chromium(tmp_path, f"--window-size={width},900", f"--virtual-time-budget={budget}", "--dump-dom", measured.as_uri())
        assert loaded.returncode == 0, loaded.stderr[-2000:]
        value = parse(loaded.stdout).one("html").attrs.get("data-measured")
        if value is not None:
            return json.loads(value)
    raise AssertionError(f"the page's script never finished: {loaded.stderr[-2000:]}")


LONG_LABEL = "passing American football (not in game)"


@pytest.mark.browser
def test_every_segment_label_is_whole_or_ends_in_an_ellipsis_with_a_title(tmp_path):
    timeline = [Segment(0.0, 9.6, "playing bagpipes", 0.9, [Prediction("playing bagpipes", 0.9)]), Segment(9.6, 10.0, LONG_LABEL, 0.6, [Prediction(LONG_LABEL, 0.6)])]
    page = tmp_path / "labels.html"
    write_report(page, [VideoRecord(path="v.mp4", predictions=[Prediction("playing bagpipes", 0.9)], duration_s=10.0, segments=timeline)])
    found = in_browser(tmp_path, page, """
        done(Array.from(document.querySelectorAll(".seg")).map(function (seg) {
          var holder = seg.querySelector(".seg-label") || seg, text = document.createRange();
          text.selectNodeContents(holder);
          var box = seg.getBoundingClientRect(), words = text.getBoundingClientRect(), shown = holder.getBoundingClientRect();
          return {label: holder.textContent, title: seg.title, fits: words.left >= box.left - 0.5 && words.right <= box.right + 0.5,
                  shownInside: shown.left >= box.left - 0.5 && shown.right <= box.right + 0.5, overflow: getComputedStyle(holder).textOverflow};
        }));""")
    assert [segment["label"] for segment in found] == ["playing bagpipes", LONG_LABEL]
    assert found[0]["fits"]
    assert not found[1]["fits"]  # 4% of 1200 px: too narrow for the words, so...
    assert found[1]["overflow"] == "ellipsis" and found[1]["shownInside"]  # ...they end in "…" inside the segment
    assert LONG_LABEL in found[1]["title"]  # and the tooltip has them whole


@pytest.mark.browser
def test_a_click_on_a_segment_seeks_the_video_to_its_start(palette_models, colour_video, tmp_path):
    playable = colour_video("red-green.mp4", [(RED, 2.0), (GREEN, 2.0)])  # H.264: browsers play it
    unplayable = str(tmp_path / "red-mp4v.mp4")  # MPEG-4 part 2, as OpenCV writes it: Chromium refuses it
    writer = cv2.VideoWriter(unplayable, cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
    for _ in range(50):
        writer.write(np.full((48, 64, 3), (0, 0, 255), np.uint8))
    writer.release()
    page = tmp_path / "report.html"
    model = ["-m", palette_models.base, "--labels", palette_models.labels, "--timeline-step", 1, "-q"]
    assert run("classify", playable, unplayable, *model, "--report", page).exit_code == 0
    dom = parse(page.read_text("utf-8"))
    players = [section.one("video") for section in dom.all("section", "video")]
    assert [player.attrs["src"] for player in players] == ["./red-green.mp4", "./red-mp4v.mp4"]
    found = in_browser(tmp_path, page, """
        var player = document.querySelector("#v0 video"), seen = [];
        var click = function (selector, then) {
          player.addEventListener("seeked", function () { seen.push(player.currentTime); then(); }, {once: true});
          document.querySelector(selector).click();
        };
        click("#v0 .seg[data-seg='v0-s1']", function () {
          click("#v0 .thumb-card[data-seg='v0-s0']", function () {
            var refused = document.querySelector("#v1 video");
            done({seen: seen, hash: location.hash, shown: document.querySelector(".seg-detail.shown").id,
                  refused: refused.hidden, error: refused.error && refused.error.code,
                  note: !document.querySelector("#v1 .unplayable").hidden, playable: !player.hidden && !player.error});
          });
        });""", budget_ms=10000)
    assert found["seen"] == [2.0, 0.0]  # the green segment's start, then the red one's
    assert found["hash"] == "#v0-s0" and found["shown"] == "v0-s0"
    assert found["playable"]
    assert found["refused"] and found["note"] and found["error"] == 4  # MEDIA_ERR_SRC_NOT_SUPPORTED: a note instead


def test_only_videos_browsers_may_open_by_their_extension_get_a_player(palette_models, colour_video, tmp_path):
    page = tmp_path / "avi.html"
    model = ["-m", palette_models.base, "--labels", palette_models.labels, "-q"]
    webm = colour_video("blue.webm", [(BLUE, 1.0)])
    assert run("classify", SAMPLES / "green-portrait.avi", webm, *model, "--report", page).exit_code == 0
    avi, webm = parse(page.read_text("utf-8")).all("section", "video")
    assert avi.all(cls="seg") and not avi.all("video")
    assert webm.one("video").attrs["src"] == "./blue.webm"


def test_the_charts_axis_is_fitted_to_its_data(tmp_path):
    # Probabilities of 0.4-1.5% (an uncertain model): the axis ends at 2%, so the lines use
    # most of the chart's height rather than lying on zero.
    times = [0.5 * step for step in range(9)]
    series = {"red": [(t, 0.004 + 0.011 * t / 4) for t in times], "blue": [(t, 0.01) for t in times]}
    record = VideoRecord(path="v.mp4", predictions=[Prediction("red", 0.015)], duration_s=4.0, segments=[Segment(0.0, 4.0, "red", 0.01)], series=series)
    write_report(tmp_path / "chart.html", [record])
    chart = parse((tmp_path / "chart.html").read_text("utf-8")).one("svg", "chart")
    assert [tick.text for tick in chart.all("text", "tick")][:3] == ["0%", "1%", "2%"]
    heights = [float(line.attrs["y1"]) for line in chart.all("line", "grid")]
    low, high = min(heights), max(heights)
    red = [float(point.split(",")[1]) for point in chart.all("polyline")[0].attrs["points"].split()]
    assert (high - max(red)) / (high - low) == pytest.approx(0.2, abs=0.01)  # 0.4% of 2%
    assert (high - min(red)) / (high - low) == pytest.approx(0.75, abs=0.01)  # 1.5% of 2%


def test_a_report_without_pictures_says_how_to_get_them(palette_models, batch_dir, tmp_path):
    model = ["-m", palette_models.base, "--labels", palette_models.labels, "-q"]
    run("batch", batch_dir, "-o", tmp_path / "results.csv", *model)
    run("report", tmp_path / "results.csv", "-o", tmp_path / "bare.html")
    bare = parse((tmp_path / "bare.html").read_text("utf-8"))
    assert "--videos DIR" in bare.one(cls="no-pictures").text
    assert not [row for row in index_rows(tmp_path / "bare.html") if row["picture"]]
    assert not bare.all(cls="with-pictures")  # no column of empty grey boxes
    run("report", tmp_path / "results.csv", "--videos", batch_dir, "-o", tmp_path / "pictures.html")
    assert not parse((tmp_path / "pictures.html").read_text("utf-8")).all(cls="no-pictures")


@pytest.mark.browser
def test_the_page_uses_the_windows_width_and_the_chart_lines_up_with_the_strip(sample_report, tmp_path):
    found = in_browser(tmp_path, sample_report[0], """
        var box = function (selector) { var r = document.querySelector(selector).getBoundingClientRect(); return [r.left, r.right]; };
        done({index: box("#index"), strip: box("#v0 .strip"), chart: box("#v0 svg.chart")});""", width=1280)
    assert found["index"][1] - found["index"][0] > 1100 and found["strip"][1] - found["strip"][0] > 1100
    assert found["chart"] == pytest.approx(found["strip"], abs=1)


# --- no clear action ----------------------------------------------------------------------


def action_rows(tmp_path):
    """A JSON-lines results file: a row from before actions were written, one that batch's
    --min-probability called no clear action, and one it did not."""
    rows = [
        {"path": "a.mp4", "status": "ok", "error": "", "predictions": [{"label": "red", "probability": 0.9}]},
        {"path": "b.mp4", "status": "ok", "error": "", "predictions": [{"label": "blue", "probability": 0.3}], "action": NO_CLEAR_ACTION},
        {"path": "c.mp4", "status": "ok", "error": "", "predictions": [{"label": "green", "probability": 0.45}], "action": "green"},
    ]
    path = tmp_path / "actions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_the_report_shows_each_rows_action_or_re_decides_with_min_probability(tmp_path):
    results = action_rows(tmp_path)
    assert run("report", results, "-o", tmp_path / "own.html").exit_code == 0
    assert [row["answer"] for row in index_rows(tmp_path / "own.html")] == ["red", NO_CLEAR_ACTION, "green"]

    assert run("report", results, "--min-probability", 0.5, "-o", tmp_path / "half.html").exit_code == 0
    dom = parse((tmp_path / "half.html").read_text("utf-8"))
    rows = index_rows(tmp_path / "half.html")
    cells = [(row["answer"], row["top"], row["probability"]) for row in rows]
    assert cells == [("red", "red", 0.9), (NO_CLEAR_ACTION, "blue", 0.3), (NO_CLEAR_ACTION, "green", 0.45)]  # probabilities still given
    assert {o.text for o in dom.by_id("label-filter").all("option")} == {"all actions", "red (1)", "no clear action (2)"}
    assert [(b.text, b.parent.one(cls="value").text) for b in dom.one(cls="frequent").all("button")] == [(NO_CLEAR_ACTION, "2"), ("red", "1")]
    assert dom.by_id("count-unclear").text == "2"
    assert {row["colour"] for row in rows[1:]} == {NEUTRAL} and rows[0]["colour"] != NEUTRAL


def test_no_clear_action_segments_are_drawn_neutral(palette_models, colour_video, tmp_path):
    video = colour_video("purple-red.mp4", [((128, 0, 128), 1.0), (RED, 1.0)])  # purple: black 44%, red 34%...
    page = tmp_path / "unclear.html"
    model = ["-m", palette_models.base, "--labels", palette_models.labels, "--timeline-step", 1, "--precision", "f32", "-q"]  # a value asserted: f32
    assert run("classify", video, *model, "--min-probability", 0.6, "--report", page).exit_code == 0
    segments = parse(page.read_text("utf-8")).all(cls="seg")
    assert [seg.text for seg in segments] == [NO_CLEAR_ACTION, "red"]
    assert style(segments[0])["background"] == NEUTRAL and style(segments[1])["background"] != NEUTRAL
    assert segments[0].attrs["title"].endswith("no clear action 43.9%")  # with the probability of its top label
    # The report re-decides a timeline too: under 0.5 every segment is no clear action.
    record = VideoRecord(path="v.mp4", predictions=[Prediction("red", 0.7)], segments=[Segment(0, 1, "red", 0.9), Segment(1, 2, "blue", 0.4)])
    decide([record], 0.5)
    assert [s.label for s in record.segments] == ["red", NO_CLEAR_ACTION] and record.action == "red"


# --- batch --timelines in the report --------------------------------------------------------


@pytest.fixture
def colour_dir(tmp_path):
    root = tmp_path / "colours"
    (root / "sub").mkdir(parents=True)
    write_colour_video(str(root / "red-blue.mp4"), [(RED, 2.0), (BLUE, 2.0)], 24, (64, 48))
    write_colour_video(str(root / "sub" / "green-red.webm"), [(GREEN, 2.0), (RED, 2.0)], 24, (64, 48))
    (root / "notes.mp4").write_text("not a video")
    return root


@pytest.mark.parametrize("format", ["csv", "vtt"])
def test_the_batch_report_shows_each_videos_timeline_strip(palette_models, colour_dir, tmp_path, format):
    timelines, report = tmp_path / "timelines", tmp_path / "batch.html"
    timelines.mkdir()
    model = ["-m", palette_models.stream, "--labels", palette_models.labels, "-q"]
    result = run("batch", colour_dir, "-o", tmp_path / "r.csv", *model, "--timelines", timelines, "--timeline-format", format, "--report", report)
    assert result.exit_code == 1 and "note:" not in result.stderr  # the notes file fails; every timeline is there
    dom = parse(report.read_text("utf-8"))
    assert [row["link"] for row in index_rows(report)] == ["./colours/notes.mp4", "#v1", "#v2"]  # the failed one sorts first
    sections = dom.all("section", "video")
    assert [section.attrs["id"] for section in sections] == ["v1", "v2"]
    assert [[seg.text for seg in section.all(cls="seg")] for section in sections] == [["red", "blue"], ["green", "red"]]
    pictures = [[mean_rgb(card.one("img")) for card in section.all(cls="thumb-card")] for section in sections]
    assert [[is_colour(rgb, colour) for rgb, colour in zip(p, expected)] for p, expected in zip(pictures, [(RED, BLUE), (GREEN, RED)])] == [[True, True]] * 2
    assert [section.one("video").attrs["src"] for section in sections] == ["./colours/red-blue.mp4", "./colours/sub/green-red.webm"]


@pytest.mark.slow
def test_the_report_leaves_out_a_missing_or_malformed_timeline_with_one_notice(palette_models, colour_dir, tmp_path):
    timelines = tmp_path / "timelines"
    timelines.mkdir()
    model = ["-m", palette_models.stream, "--labels", palette_models.labels, "-q"]
    run("batch", colour_dir, "-o", tmp_path / "r.csv", *model, "--timelines", timelines, "--timeline-format", "srt")
    (timelines / "sub" / "green-red.srt").write_text("1\nnot a cue\n")
    (timelines / "red-blue.srt").rename(timelines / "red-blue.vtt.bak")
    result = run("report", tmp_path / "r.csv", "--videos", colour_dir, "--timelines", timelines, "-o", tmp_path / "r.html")
    assert result.exit_code == 0
    notes = [line for line in result.stderr.split("\n") if line.startswith("note:")]
    assert len(notes) == 1 and "2 of 2 videos" in notes[0] and "red-blue.mp4: no red-blue.csv" in notes[0]
    assert not parse((tmp_path / "r.html").read_text("utf-8")).all("section", "video")
    (timelines / "red-blue.vtt.bak").rename(timelines / "red-blue.srt")
    result = run("report", tmp_path / "r.csv", "--videos", colour_dir, "--timelines", timelines, "-o", tmp_path / "r.html")
    assert "1 of 2 videos" in result.stderr and "green-red.srt is not a movinet timeline" in result.stderr
    sections = parse((tmp_path / "r.html").read_text("utf-8")).all("section", "video")
    assert [[seg.text for seg in section.all(cls="seg")] for section in sections] == [["red", "blue"]]
