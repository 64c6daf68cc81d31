"""The repository documents itself: every Markdown page a file mentions exists, every
`docs/math.md §N` citation names a section of docs/math.md, and product files cite neither
tracker issues nor design notes that live outside the repository."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".sh"}
PRODUCT_DIRS = ("certqnn/", "docs/", "proofs/", "examples/", "benchmarks/")
PRODUCT_FILES = ("README.md",)
SKIP_DIRS = {".git", ".ci-venv", ".venv", "build", "dist", "__pycache__", ".hypothesis", ".pytest_cache"}

# a relative path ending in .md, not part of a URL or of a longer word/path
MD_PATH = re.compile(r"(?<![\w/.:-])((?:\.\.?/)*[\w-][\w.-]*(?:/[\w.-]+)*\.md)(?![\w/])")
# "docs/math.md §4", "docs/math.md §5–6", "docs/math.md §1, §3", "docs/math.md §4-5"
MATH_CITATION = re.compile(r"docs/math\.md\s*(§\s*\d+(?:\s*(?:[-–,]|and)\s*§?\s*\d+)*)")
BARE_MATH_CITATION = re.compile(r"(?<![\w/.])[Mm]ath(?:\.md)?\s+§")
ISSUE_MENTION = re.compile(r"\bissues?\s*(?:no\.?\s*)?#?\s*\d+|(?<![\w&#/])#\d+\b", re.IGNORECASE)
SECTION_HEADING = re.compile(r"^## §(\d+)\.", re.MULTILINE)


def _tracked_files() -> list[str]:
    """Repository text files, relative to ROOT: `git ls-files`, or a walk of the tree without git."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        files = [f for f in out.decode("utf-8").split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
    if not files:
        for directory, dirs, names in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            files += [os.path.relpath(os.path.join(directory, n), ROOT) for n in names]
    files = [f.replace(os.sep, "/") for f in files]
    return sorted(f for f in files if Path(f).suffix in TEXT_SUFFIXES and (ROOT / f).is_file())


FILES = _tracked_files()


def _text(rel: str) -> str:
    return (ROOT / rel).read_text(encoding="utf-8", errors="replace")


def _is_product(rel: str) -> bool:
    return rel in PRODUCT_FILES or rel.startswith(PRODUCT_DIRS)


def _lines(rel: str, pattern: re.Pattern):
    for lineno, line in enumerate(_text(rel).splitlines(), 1):
        for match in pattern.finditer(line):
            yield lineno, match


def _math_sections() -> set[int]:
    return {int(n) for n in SECTION_HEADING.findall(_text("docs/math.md"))}


def _cited_sections(spec: str) -> set[int]:
    """'§5–6' -> {5, 6}; '§1, §3' -> {1, 3}."""
    numbers = [int(n) for n in re.findall(r"\d+", spec)]
    cited = set(numbers)
    for a, b in zip(numbers, numbers[1:]):
        between = spec[spec.index(str(a)):]
        if re.match(rf"{a}\s*[-–]\s*§?\s*{b}", between):
            cited.update(range(a, b + 1))
    return cited


def test_the_tree_has_text_files():
    assert "README.md" in FILES and "docs/math.md" in FILES and "docs/cli.md" in FILES


def test_every_mentioned_markdown_path_exists():
    missing = []
    for rel in FILES:
        here = (ROOT / rel).parent
        for lineno, match in _lines(rel, MD_PATH):
            path = match.group(1)
            if not ((ROOT / path).is_file() or (here / path).is_file()):
                missing.append(f"{rel}:{lineno}: {path}")
    assert not missing, "mentioned .md files that do not exist:\n" + "\n".join(missing)


def test_math_sections_are_numbered_consecutively_from_one():
    numbers = [int(n) for n in SECTION_HEADING.findall(_text("docs/math.md"))]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 13


def test_every_math_citation_names_an_existing_section():
    sections = _math_sections()
    bad = []
    for rel in FILES:
        for lineno, match in _lines(rel, MATH_CITATION):
            unknown = _cited_sections(match.group(1)) - sections
            if unknown:
                bad.append(f"{rel}:{lineno}: {match.group(0)!r} (no section {sorted(unknown)})")
    assert not bad, "citations of sections docs/math.md does not have:\n" + "\n".join(bad)


def test_math_citations_use_the_docs_path():
    bad = [f"{rel}:{lineno}: {match.group(0)!r}" for rel in FILES for lineno, match in _lines(rel, BARE_MATH_CITATION)]
    assert not bad, "cite the mathematics as 'docs/math.md §N':\n" + "\n".join(bad)


@pytest.mark.parametrize("pattern, what", [(ISSUE_MENTION, "an issue number"),
                                           (re.compile(r"shared/design"), "the design notes")],
                         ids=["issue-numbers", "design-notes"])
def test_product_files_do_not_cite_outside_material(pattern, what):
    bad = [f"{rel}:{lineno}: {match.group(0)!r}" for rel in FILES if _is_product(rel)
           for lineno, match in _lines(rel, pattern)]
    assert not bad, f"product files mention {what}:\n" + "\n".join(bad)


def test_the_checks_recognise_what_they_look_for():
    # the old forms are assembled at run time so that this file does not contain them itself
    bare, issue = "math" + " §4", "issue" + " 3"
    assert MD_PATH.findall("see `proofs/shor_bound.md` and [x](../docs/math.md#s), not https://a.b/c.md") == [
        "proofs/shor_bound.md", "../docs/math.md"]
    assert MATH_CITATION.search("(docs/math.md §5–6)").group(1) == "§5–6"
    assert _cited_sections("§5–6") == {5, 6} and _cited_sections("§1, §3") == {1, 3}
    assert _cited_sections("§4-5") == {4, 5}
    assert BARE_MATH_CITATION.search(f"lemma ({bare})") and not BARE_MATH_CITATION.search("(docs/math.md §4)")
    assert ISSUE_MENTION.search(f"target ({issue})") and ISSUE_MENTION.search("see " + "#" + "4")
    assert not ISSUE_MENTION.search("color '#1f77b4', issues with solvers")
