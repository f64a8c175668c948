"""The exercises of the two pages without a notebook, book/why.md and book/preface.md: their
solutions run and pass their checks (the pages are not executed by the build, so this test
does it), and typical wrong answers get a message that names them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from recneg.exercises import preface, why
from exercise_checks import fails_with  # pytest puts tests/ on sys.path

ROOT = Path(__file__).resolve().parents[1]


def solution_code(page: str, label: str) -> str:
    """The Python blocks between ``{solution-start} label`` and ``{solution-end}``."""
    text = (ROOT / "book" / page).read_text(encoding="utf-8")
    start = text.index("{solution-start} " + label)
    body = text[start:text.index("{solution-end}", start)]
    blocks = re.findall(r"```python\n(.*?)```", body, re.S)
    assert blocks, f"no code in the solution of {label}"
    return "\n".join(blocks)


def test_preface_solution_runs_its_check(capsys):
    exec(solution_code("preface.md", "ex-preface-accidental"), {})
    assert "ex-preface-accidental passed" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    ((0.4, 40.0, 200.0), "percentage"),
    ((40 / 9_960, 0.4, 2.0), "not* interacted"),
    ((1e-4, 0.4, 2.0), "one particular item"),
    ((0.004, 0.004, 2.0), "probability of one draw"),
    ((0.004, 0.4, 0.4), "uniform sampler's"),
    ((0.004, 0.4, 3.0), "too high"),
])
def test_preface_mistakes_named(answer, fragment):
    fails_with(lambda a: preface.check_accidental(*a), answer, fragment)


def test_why_critique_solution_runs_its_check(capsys):
    exec(solution_code("why.md", "ex-why-critique"), {})
    assert "ex-why-critique passed" in capsys.readouterr().out


def test_why_critique_statements_are_the_pages():
    text = " ".join((ROOT / "book" / "why.md").read_text(encoding="utf-8").split())
    for letter, (statement, _, _) in why.CRITIQUE_STATEMENTS.items():
        assert f"**{letter}.** {statement}" in text, letter


def test_why_critique_mistakes_named():
    fails_with(why.check_critique, ["A", "B", "C", "D"], "Statement B describes a sound practice")
    fails_with(why.check_critique, ["A"], "missed 2")


def test_why_predict_solution_runs_its_check(data_dir, capsys):
    exec(solution_code("why.md", "ex-why-predict"), {})
    out = capsys.readouterr().out
    assert "ex-why-predict passed" in out
    ratio = float(re.search(r"item ([\d.]+) times", out).group(1))
    assert 2.0 < ratio < 4.0, "the solution's prose says roughly three times"


@pytest.fixture(scope="module")
def ml100k_split():
    from recneg.data import leave_one_out, load_dataset
    return leave_one_out(load_dataset("ml-100k"))


def test_why_predict_expectation_matches_the_samplers(data_dir, ml100k_split):
    """The check's exact probabilities are what the samplers draw (a goodness-of-fit test
    over 400 draws per test user, per sampler)."""
    from recneg.samplers import PopularitySampler, UniformSampler

    exact = why.held_out_hit_probabilities(ml100k_split)
    users = torch.as_tensor(ml100k_split.test.users)
    targets = torch.as_tensor(ml100k_split.test.targets)
    for name, sampler in [("uniform", UniformSampler(random_state=1)),
                          ("popularity", PopularitySampler(alpha=0.75, random_state=1))]:
        draws = sampler.fit(ml100k_split.train).sample(users, torch.zeros_like(targets), num_negatives=400).items
        hits = float((draws == targets[:, None]).sum())
        mean = 400 * exact[name].sum()
        sd = float((400 * exact[name] * (1 - exact[name])).sum()) ** 0.5
        assert abs(hits - mean) < 4 * sd, (name, hits, mean, sd)


@pytest.mark.parametrize("mistake, fragment", [
    ("swapped", "swapped"),
    ("zero", "never hit"),
    ("percent", "percentage"),
    ("count", "a count"),
])
def test_why_predict_mistakes_named(data_dir, ml100k_split, mistake, fragment):
    exact = why.held_out_hit_probabilities(ml100k_split)
    right = {name: float(p.mean()) for name, p in exact.items()}
    answer = {"swapped": {"uniform": right["popularity"], "popularity": right["uniform"]},
              "zero": {"uniform": 0.0, "popularity": right["popularity"]},
              "percent": {"uniform": 100 * right["uniform"], "popularity": right["popularity"]},
              "count": {"uniform": 55.0, "popularity": right["popularity"]}}[mistake]
    message = fails_with(lambda a: why.check_prediction("higher", a, ml100k_split), answer, fragment)
    assert f"{right['uniform']:.3g}" not in message and f"{right['popularity']:.3g}" not in message


def test_why_predict_needs_a_prediction(data_dir, ml100k_split):
    fails_with(lambda p: why.check_prediction(p, {"uniform": 0.0006, "popularity": 0.0015}, ml100k_split),
               "maybe", "before you run")
