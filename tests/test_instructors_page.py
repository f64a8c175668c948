"""The instructors' page: every chapter's assignment has a rubric worth 10 points, and
the seminar plan has as many sessions as it announces."""

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "book" / "instructors.md"
WORDS = {"four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}


def _chapter_sections(text):
    chapters = text.split("\n## Chapters\n", 1)[1].split("\n## ", 1)[0]
    return [block for block in chapters.split("\n### ")[1:]]


def test_every_assignment_has_a_rubric_whose_points_add_up_to_ten():
    sections = _chapter_sections(PAGE.read_text())
    assert len(sections) >= 12
    for block in sections:
        title = block.splitlines()[0]
        assert "- **Assignment.**" in block, title
        rubric = re.search(r"- \*\*Rubric\*\* \((\d+) points\)\.(.*?)(?:\n- \*\*|\n\n|\Z)", block, re.S)
        assert rubric, f"no rubric under {title!r}"
        points = [int(p) for p in re.findall(r"\((\d+)\)", rubric.group(2))]
        assert sum(points) == int(rubric.group(1)) == 10, (title, points)


def test_the_seminar_plan_has_the_sessions_it_announces():
    text = PAGE.read_text()
    announced = WORDS[re.search(r"A seminar of (\w+) sessions", text).group(1)]
    rows = re.findall(r"^\s*\| (\d+) \|", text, re.M)
    assert [int(r) for r in rows] == list(range(1, announced + 1))


def test_every_check_the_page_names_exists():
    """The autograder example and the chapter sections call real checks (one once called
    static.check_uniform_sampler, which never existed)."""
    import importlib

    text = PAGE.read_text()
    modules = dict(re.findall(r"from recneg\.exercises import (\w+)()", text))
    named = set(re.findall(r"recneg\.exercises\.(\w+)\.(check_\w+)", text))
    named |= {(m, f) for m, f in re.findall(r"\b(\w+)\.(check_\w+)\(", text) if m in modules}
    assert named, "the page names no check"
    missing = [f"{m}.{f}" for m, f in sorted(named)
               if not hasattr(importlib.import_module(f"recneg.exercises.{m}"), f)]
    assert not missing, f"the instructors' page calls checks that do not exist: {missing}"


def test_the_seminar_plan_covers_every_chapter():
    text = PAGE.read_text()
    plan = text.split("A seminar of", 1)[1].split("\n\n- ", 1)[0].lower()
    for chapter in ("why negative sampling", "the tour", "models and losses", "evaluation", "false negatives",
                    "static", "dynamic", "adversarial", "re-weighting", "knowledge-enhanced", "case study",
                    "scale", "comparison", "production", "open-problem"):
        assert chapter in plan, chapter
