"""The documentation: the README stays short, docs/reference.md is the commands' --help and names
every option of every command, and every relative link and picture points to something that exists."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import click
import make_reference
import pytest
from conftest import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference.md"
DOCUMENTS = [README, ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]
MAX_README_LINES = 250  # a newcomer reads it to the end; the rest is in docs/
REGENERATE = "run `python scripts/make_reference.py` and commit docs/reference.md"

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
COMMANDS = [(" ".join(path), command, context) for path, command, context in make_reference.commands()]


def documented_options(command: click.Command, context: click.Context) -> set[str]:
    """Every name of every option that ``command --help`` lists (hidden ones are not listed)."""
    return {
        name
        for param in command.get_params(context)
        if isinstance(param, click.Option) and not param.hidden
        for name in (*param.opts, *param.secondary_opts)
    }


def reference_sections() -> dict[str, str]:
    """docs/reference.md's sections by heading (``movinet``, ``movinet classify``, ...)."""
    text = REFERENCE.read_text(encoding="utf-8")
    return {match[1]: match[2] for match in re.finditer(r"^## (movinet(?: [\w-]+)*)\n(.*?)(?=^## |\Z)", text, re.M | re.S)}


def without_fences(text: str) -> str:
    """Markdown without its fenced code blocks, where a link is no link and a # no heading."""
    return re.sub(r"^(```|~~~).*?^\1\s*$", "", text, flags=re.M | re.S)


def without_code(text: str) -> str:
    """Markdown without its fenced blocks and code spans, where a link is no link."""
    return re.sub(r"(`+).*?\1", "", without_fences(text), flags=re.S)


def links(path: Path) -> list[str]:
    """The targets of the links and pictures in a Markdown file, inline and reference-style."""
    text = without_code(path.read_text(encoding="utf-8"))
    inline = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)
    return inline + re.findall(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", text, re.M)


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings (lower case, punctuation dropped,
    spaces as hyphens, a repeated one numbered)."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", without_fences(path.read_text(encoding="utf-8")), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def test_the_readme_is_short_enough_to_read_to_the_end():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines < MAX_README_LINES, f"README.md has {lines} lines (under {MAX_README_LINES}, please): move details into docs/"


def test_the_reference_is_the_commands_help():
    committed, generated = REFERENCE.read_text(encoding="utf-8"), make_reference.reference()
    if committed != generated:
        diff = "".join(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True), "docs/reference.md", "--help now", n=1))
        pytest.fail(f"docs/reference.md is not the commands' --help: {REGENERATE}\n{diff[:4000]}")


@pytest.mark.parametrize("name, command, context", COMMANDS, ids=[name for name, _, _ in COMMANDS])
def test_the_reference_names_every_option_of_each_command(name, command, context):
    section = reference_sections().get(name)
    assert section is not None, f"docs/reference.md has no section on {name}: {REGENERATE}"
    missing = sorted(option for option in documented_options(command, context) if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", section))
    assert not missing, f"not in docs/reference.md's section on {name}: {missing}: {REGENERATE}"


def test_the_reference_names_no_option_that_no_command_has():
    known = {option for _, command, context in COMMANDS for option in documented_options(command, context)}
    named = set(OPTION.findall(REFERENCE.read_text(encoding="utf-8")))
    assert named <= known, f"docs/reference.md names options that no command has: {sorted(named - known)}: {REGENERATE}"


def test_the_reference_covers_every_command():
    assert set(reference_sections()) == {name for name, _, _ in COMMANDS}, REGENERATE


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(path.relative_to(ROOT)) for path in DOCUMENTS])
def test_every_relative_link_points_to_something_that_exists(document):
    assert document.exists(), f"{document.relative_to(ROOT)} is missing"
    broken = []
    for target in links(document):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ...
            continue
        file, _, anchor = target.partition("#")
        path = (document.parent / file).resolve() if file else document
        if not path.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target} (no such heading in {path.relative_to(ROOT)})")
    assert not broken, f"broken links in {document.relative_to(ROOT)}: {broken}"


def test_every_picture_in_docs_is_shown_somewhere():
    shown = {(document.parent / target.partition("#")[0]).resolve() for document in DOCUMENTS for target in links(document)}
    unshown = sorted(path.name for path in DOCS.iterdir() if path.suffix in (".png", ".jpg", ".svg") and path.resolve() not in shown)
    assert not unshown, f"pictures in docs/ that no page links to: {unshown}"
