#!/usr/bin/env python3
"""Benchmark: the HTML report of N generated rows, written and opened, against another commit.

For each N (``--rows``), writes a results file of N generated rows (Kinetics labels drawn at
random, a few labels dominating; one row in 50 an error), then, for this working tree's code
and for the code of ``--baseline`` (a commit, exported with ``git archive``; none with
``--baseline ''``), each in a fresh process:

- **write**: ``write_report`` on the rows, its wall time and the process's peak memory over
  what it held before (the rows read back), and the page's size;
- **open** (headless Chromium driven through the DevTools protocol on a pipe): the time from
  navigation to the first frame painted after the report's script has run (the index usable),
  the first contentful paint, then scrolling to the end of the page (until the last row shows),
  a sweep of 100 frames each scrolled a screen further (the longest frame), filtering by
  the most frequent action and by "failed", and sorting by name and by probability (each
  until the next frame).

Every figure is the median of ``--rounds`` rounds. ``--pictures N`` also writes the reports of
at most N rows with a picture per row, decoded from synthetic 10-s 640x360 clips that the rows'
paths cycle through (about 7 ms per picture); ``--model`` classifies those clips with
``movinet batch``'s code first and reports that batch too.

Usage:
    PYTHONPATH=. python benchmarks/report.py [--rows 1000,10000,100000] [--rounds 3] [--baseline HEAD]
                                             [--pictures 10000] [--model MODEL]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)  # the code measured as "this" (run with PYTHONPATH=.: see the README)
sys.path.insert(0, HERE)

from movinet_cli.model.labels import load_labels  # noqa: E402
from movinet_cli.outputs.rows import columns  # noqa: E402

FOLDERS = ["holidays/2019", "holidays/2020", "sport", "family/birthdays", "phone/DCIM/Camera", "drone"]


def generated_rows(path: str, count: int, clips: list[str] | None = None, top_k: int = 5, seed: int = 0) -> None:
    """Writes ``count`` batch CSV rows: paths through ``clips`` in turn where given (so that
    each row costs a real picture), else made-up paths in a few folders."""
    rng, labels = random.Random(seed), load_labels()
    common = labels[:40]  # a few labels dominate, as in real collections
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns(top_k), lineterminator="\n")
        writer.writeheader()
        for index in range(count):
            row = dict.fromkeys(columns(top_k), "")
            name = clips[index % len(clips)] if clips else f"{FOLDERS[index % len(FOLDERS)]}/VID_{20190000 + index * 7:08d}_{index:06d}.mp4"
            row.update(path=name, model="a0-base", engine="openvino", precision="f32", mode="clip", seconds=f"{rng.uniform(0.2, 2):.3f}")
            if index % 50 == 49:
                row.update(status="error", error="cannot be decoded: not a video file OpenCV can read")
            else:
                chosen = rng.sample(common if rng.random() < 0.8 else labels, top_k)
                weights = sorted((rng.random() for _ in chosen), reverse=True)
                for rank, (label, weight) in enumerate(zip(chosen, weights), 1):
                    row[f"label_{rank}"], row[f"prob_{rank}"] = label, f"{weight / sum(weights):.6f}"
                duration = 10.0 if clips else rng.uniform(3, 600)  # the clips' length: a picture from its middle
                row.update(status="ok", duration_s=f"{duration:.3f}", frames=50, action=chosen[0])
            writer.writerow(row)


# --- writing, in a child process that imports the code under test ------------------------------


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def write_child(results: str, report: str, videos: str | None) -> None:
    """Runs in a child (``--write-child``): reads the rows, writes the report, prints JSON."""
    from movinet_cli.outputs.report import write_report
    from movinet_cli.outputs.report_records import load_results

    began = time.perf_counter()
    records = load_results(results, videos=videos)
    read_s = time.perf_counter() - began
    before = _rss_kib("VmRSS")
    began = time.perf_counter()
    summary = write_report(report, records, source=os.path.basename(results))
    seconds = time.perf_counter() - began
    import movinet_cli

    print(json.dumps({"code": os.path.dirname(os.path.dirname(movinet_cli.__file__)), "read_s": read_s, "write_s": seconds, "added_mb": (_rss_kib("VmHWM") - before) / 1024, "peak_mb": _rss_kib("VmHWM") / 1024,
                      "html_mb": summary.html_bytes / 1e6, "pictures": summary.thumbnails, "folder": bool(summary.folder)}))


def measure_write(code: str, results: str, report: str, videos: str | None) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--write-child", results, report]
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": code, "BENCH_VIDEOS": videos or ""}, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"writing {report} with {code} failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.splitlines()[-1])
    if os.path.commonpath([figures.pop("code"), code]) != code:
        raise SystemExit(f"the child ran another copy of movinet_cli than {code}")
    return figures


# --- opening, in headless Chromium through the DevTools protocol ---------------------------------


class Browser:
    """Headless Chromium with the DevTools protocol on a pipe (``--remote-debugging-pipe``:
    JSON messages ending in NUL on file descriptors 3 and 4), one page attached."""

    def __init__(self, width: int = 1280, height: int = 900):
        browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not browser:
            raise SystemExit("no chromium to open the reports in")
        self.profile = tempfile.mkdtemp(prefix="movinet-bench-chromium-")
        to_browser, self._commands = os.pipe()
        self._events, from_browser = os.pipe()

        def descriptors():  # the child reads commands on 3 and writes answers on 4 (kept by pass_fds)
            high_in, high_out = os.dup(to_browser), os.dup(from_browser)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        command = [browser, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run", f"--window-size={width},{height}",
                   f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"]
        if os.geteuid() == 0:
            command.append("--no-sandbox")
        self.process = subprocess.Popen(command, preexec_fn=descriptors, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._next, self.session = b"", 0, None
        page = next(target for target in self.call("Target.getTargets")["targetInfos"] if target["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def _message(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._events, 1 << 20)
            if not chunk:
                raise SystemExit("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, **params) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._message()
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise SystemExit(f"{method}: {answer['error']}")
                return answer["result"]

    def wait_for(self, event: str, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._message().get("method") == event:
                return
        raise SystemExit(f"no {event} in {timeout_s} s")

    def evaluate(self, expression: str):
        answer = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in answer:
            raise SystemExit(f"the page's script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self._commands)
        os.close(self._events)
        shutil.rmtree(self.profile, ignore_errors=True)


# Run in the page once it has loaded: each measures with performance.now() and resolves to
# milliseconds. ``frames`` waits for the next frame painted after the work.
_FRAMES = "function frames() { return new Promise(function (r) { requestAnimationFrame(function () { requestAnimationFrame(r); }); }); }"
_FIRST_RENDER = _FRAMES + """
new Promise(function (resolve) {
  (function check() { if (document.documentElement.dataset.ready) frames().then(function () { resolve(performance.now()); }); else setTimeout(check, 5); })();
}).then(function (rendered) {
  return new Promise(function (resolve) {  // the first contentful paint is reported late in headless Chromium
    var give = function (entries) { resolve({first_render_ms: rendered, fcp_ms: entries.length ? entries[0].startTime : null}); };
    new PerformanceObserver(function (list) { give(list.getEntriesByName("first-contentful-paint")); }).observe({type: "paint", buffered: true});
    setTimeout(function () { give([]); }, 3000);
  });
})"""
# The last row shows: some .path element with the last row's name lies inside the window.
_SCROLL_END = _FRAMES + """
(function (last) {
  function shown() {
    return Array.prototype.some.call(document.querySelectorAll(".path"), function (cell) {
      var box = cell.getBoundingClientRect();
      return cell.textContent.trim() === last && box.bottom > 0 && box.top < innerHeight;
    });
  }
  var began = performance.now();
  var index = document.getElementById("index");
  scrollTo(0, index.getBoundingClientRect().bottom + scrollY - innerHeight);
  return frames().then(function () { return {scroll_end_ms: performance.now() - began, last_row_shown: shown()}; });
})(LAST)"""
_SWEEP = """
new Promise(function (resolve) {
  scrollTo(0, 0);
  var stamps = [];
  (function step(stamp) {
    stamps.push(stamp);
    if (stamps.length > 100) {
      var gaps = stamps.slice(2).map(function (t, i) { return t - stamps[i + 1]; }).sort(function (a, b) { return a - b; });
      resolve({sweep_median_frame_ms: gaps[gaps.length >> 1], sweep_longest_frame_ms: gaps[gaps.length - 1]});
      return;
    }
    scrollBy(0, innerHeight);
    requestAnimationFrame(step);
  })(performance.now());
})"""
_FILTER = _FRAMES + """
(function () {
  function choose(id, value) {
    var control = document.getElementById(id), began = performance.now();
    control.value = value;
    control.dispatchEvent(new Event("input", {bubbles: true}));
    return frames().then(function () { var ms = performance.now() - began; control.value = ""; control.dispatchEvent(new Event("input", {bubbles: true})); return frames().then(function () { return ms; }); });
  }
  function sort(heading) {
    var button = Array.prototype.find.call(document.querySelectorAll("button"), function (b) { return b.textContent.trim() === heading; });
    var began = performance.now();
    button.click();
    return frames().then(function () { return performance.now() - began; });
  }
  var label = document.getElementById("label-filter").options[1].value, found = {};
  return choose("label-filter", label).then(function (ms) {
    found.filter_label_ms = ms;
    return choose("status-filter", "error");
  }).then(function (ms) {
    found.filter_failed_ms = ms;
    return sort("Video");
  }).then(function (ms) {
    found.sort_name_ms = ms;
    return sort("Probability");
  }).then(function (ms) {
    found.sort_probability_ms = ms;
    return found;
  });
})()"""


def measure_open(report: str, last_path: str) -> dict:
    """Opens ``report`` in a fresh headless Chromium and measures it (milliseconds)."""
    browser = Browser()
    try:
        browser.call("Page.navigate", url="file://" + os.path.abspath(report))
        browser.wait_for("Page.loadEventFired")
        figures = browser.evaluate(_FIRST_RENDER)
        figures.update(browser.evaluate(_SCROLL_END.replace("LAST", json.dumps(last_path))))
        figures.update(browser.evaluate(_SWEEP))
        figures.update(browser.evaluate(_FILTER))
        return figures
    finally:
        browser.close()


# --- the comparison -----------------------------------------------------------------------------


def export_baseline(commit: str, directory: str) -> str:
    """The package as it was at ``commit``, in ``directory`` (for PYTHONPATH)."""
    archive = subprocess.run(["git", "-C", ROOT, "archive", commit, "movinet_cli"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", directory], input=archive, check=True)
    return directory


def median(rounds: list[dict], key: str):
    values = [figures[key] for figures in rounds if figures.get(key) is not None]
    if not values or isinstance(values[0], bool):
        return all(values) if values else None
    return statistics.median(values)


def compare(codes: dict[str, str], results: str, videos: str | None, out_dir: str, rounds: int, open_it: bool) -> None:
    with open(results, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for name, code in codes.items():
        report = os.path.join(out_dir, f"{os.path.splitext(os.path.basename(results))[0]}-{name}.html")
        measured = []
        for _ in range(rounds):
            figures = measure_write(code, results, report, videos)
            if open_it:
                figures.update(measure_open(report, rows[-1]["path"]))
            measured.append(figures)
        m = {key: median(measured, key) for key in measured[0]}
        where = ("in a folder" if m["folder"] else "inline") if m["pictures"] else ""
        line = (f"{len(rows):>7} rows {name:>8}: write {m['write_s']:6.2f} s, +{m['added_mb']:5.0f} MB (peak {m['peak_mb']:5.0f} MB, rows read in {m['read_s']:.1f} s), "
                f"page {m['html_mb']:6.2f} MB, {m['pictures']} pictures {where}")
        if open_it:
            paint = "n/a" if m["fcp_ms"] is None else f"{m['fcp_ms'] / 1000:.2f} s"
            line += (f"\n{'':>22}open: first render {m['first_render_ms'] / 1000:6.2f} s (first paint {paint}), "
                     f"to the end {m['scroll_end_ms']:6.0f} ms (last row shown: {m['last_row_shown']}), "
                     f"sweep frames {m['sweep_median_frame_ms']:.0f}/{m['sweep_longest_frame_ms']:.0f} ms (median/longest), "
                     f"filter by action {m['filter_label_ms']:.0f} ms, by failed {m['filter_failed_ms']:.0f} ms, "
                     f"sort by name {m['sort_name_ms']:.0f} ms, by probability {m['sort_probability_ms']:.0f} ms")
        print(line, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1000,10000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default="HEAD", help="a commit to compare with ('' for none)")
    parser.add_argument("--pictures", type=int, default=0, help="also reports with pictures, of at most this many rows")
    parser.add_argument("--model", help="also classify the clips with movinet batch's code and report that batch")
    parser.add_argument("--videos", type=int, default=20, help="synthetic clips for the pictures")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "movinet-bench-batch"))
    parser.add_argument("--write-child", nargs=2, metavar=("RESULTS", "REPORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_child:
        write_child(*args.write_child, videos=os.environ.get("BENCH_VIDEOS") or None)
        return 0

    out_dir = tempfile.mkdtemp(prefix="movinet-bench-report-")
    codes = {"this": ROOT}
    if args.baseline:
        codes = {"baseline": export_baseline(args.baseline, tempfile.mkdtemp(prefix="movinet-bench-baseline-")), **codes}
    print(f"reports in {out_dir}; {args.rounds} rounds, medians; baseline {args.baseline or 'none'}", flush=True)
    counts = [int(n) for n in args.rows.split(",") if n]
    for count in counts:
        results = os.path.join(out_dir, f"rows{count}.csv")
        generated_rows(results, count)
        compare(codes, results, None, out_dir, args.rounds, not args.no_browser)
    if args.pictures or args.model:
        from media import synthetic_clips

        clips_dir = synthetic_clips(args.workdir, args.videos, 10.0)
        clips = sorted(name for name in os.listdir(clips_dir) if name.endswith(".mp4"))
        if args.model:
            batch_report(args.model, clips_dir, clips, out_dir)
        for count in (n for n in counts if n <= args.pictures):
            results = os.path.join(out_dir, f"pictures{count}.csv")
            generated_rows(results, count, clips)
            compare(codes, results, clips_dir, out_dir, args.rounds, not args.no_browser)
    return 0


def batch_report(model: str, clips_dir: str, clips: list[str], out_dir: str) -> None:
    """Classifies the clips as ``movinet batch`` does and times the report of that batch."""
    from movinet_cli import load_classifier
    from movinet_cli.commands.batch import run_batch
    from movinet_cli.outputs.report import write_report
    from movinet_cli.outputs.report_records import load_results
    from movinet_cli.outputs.results_sink import ResultsSink

    classifier = load_classifier(model)
    results = ResultsSink(os.path.join(out_dir, "batch.csv"), "csv")
    run_batch(classifier, clips_dir, results, clips)
    results.close()
    summary = write_report(os.path.join(out_dir, "batch.html"), load_results(results.path, videos=clips_dir))
    print(f"a batch of {len(clips)} clips: {summary}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
