"""The exercise self-check framework and the student-copy tool."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from recneg.data import Interactions
from recneg.exercises import (
    ExerciseCheckFailed,
    as_array,
    call_answer,
    check_close,
    check_distribution,
    check_equal,
    check_item_ids,
    check_no_positives,
    check_shape,
    check_signature,
    expect,
    passed,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import make_student_copies as student  # noqa: E402


def failure(function, *args, **kwargs) -> ExerciseCheckFailed:
    with pytest.raises(ExerciseCheckFailed) as info:
        function(*args, **kwargs)
    return info.value


# -- the error type ------------------------------------------------------------------
def test_failure_is_an_assertion_error_with_message_and_hint():
    error = failure(expect, False, "Your loss is negative.", hint="Check the sign.")
    assert isinstance(error, AssertionError)
    assert error.message == "Your loss is negative."
    assert error.hint == "Check the sign."
    assert str(error) == "Your loss is negative. Hint: Check the sign."


def test_passed_prints_one_confirmation_line(capsys):
    passed("ex-static-uniform", "all draws are valid")
    assert capsys.readouterr().out == "✓ ex-static-uniform passed: all draws are valid\n"


# -- values ----------------------------------------------------------------------------
def test_as_array_accepts_tensors_lists_and_numbers():
    assert as_array(torch.tensor([[1, 2]])).tolist() == [[1, 2]]
    assert as_array([0.5, 0.25]).dtype == np.float64
    assert as_array(3).shape == ()


def test_as_array_explains_a_missing_return_value():
    error = failure(as_array, None, "negatives")
    assert "Your negatives is None" in error.message
    assert "return" in error.hint


def test_as_array_rejects_ragged_answers():
    error = failure(as_array, [[1, 2], [3]], "negatives")
    assert "ragged" in error.message


def test_check_shape_names_both_shapes_and_accepts_wildcards():
    assert check_shape(torch.zeros(4, 7), (4, None), name="scores").shape == (4, 7)
    error = failure(check_shape, torch.zeros(4, 7), (4, 10), name="scores")
    assert error.message == "Your scores has shape (4, 7); expected (4, 10)."


def test_check_close_points_at_the_largest_error():
    got = np.array([[0.1, 0.2], [0.3, 0.9]])
    want = np.array([[0.1, 0.25], [0.3, 0.4]])
    error = failure(check_close, got, want, name="probabilities", rtol=1e-6)
    assert "index (1, 1)" in error.message
    assert "you have 0.9, the reference has 0.4" in error.message
    assert "2 of 4 entries" in error.message


def test_check_close_accepts_values_within_tolerance():
    check_close(torch.tensor([1.0, 2.0]) + 1e-9, [1.0, 2.0])
    check_close(0.30000001, 0.3, rtol=1e-6)


def test_check_close_reports_nan_with_a_hint():
    error = failure(check_close, [0.5, float("nan")], [0.5, 0.5], name="loss")
    assert "NaN at index (1,)" in error.message
    assert "log of zero" in error.hint


def test_check_close_reports_a_wrong_scalar():
    error = failure(check_close, 0.4, 0.004, name="probability", rtol=1e-6)
    assert error.message.startswith("Your probability is 0.4; expected 0.004")


def test_check_equal_finds_the_first_difference():
    error = failure(check_equal, [3, 1, 2, 9], [3, 1, 4, 8], name="ranks")
    assert "at index (2,)" in error.message and "2 of 4 entries" in error.message
    check_equal("full", "full")
    assert "expected 'full'" in failure(check_equal, "sampled", "full", name="protocol").message


def test_check_item_ids_flags_padding_and_out_of_range_ids():
    check_item_ids(torch.tensor([[1, 5]]), n_items=5)
    padding = failure(check_item_ids, [[1, 0]], n_items=5)
    assert "padding" in padding.message and "(0, 1)" in padding.message
    too_big = failure(check_item_ids, [[6, 1]], n_items=5)
    assert "6 at index (0, 0), outside 1..5" in too_big.message
    floats = failure(check_item_ids, [[1.0, 2.0]], n_items=5)
    assert "float64" in floats.message


# -- reader functions --------------------------------------------------------------------
def test_call_answer_wraps_the_readers_exception():
    def sample(users, k):
        raise IndexError("index 10 is out of bounds")

    error = failure(call_answer, sample, torch.arange(3), 5, name="sample")
    assert error.message == (
        "Calling your sample(<Tensor of shape (3,)>, 5) raised IndexError: "
        "index 10 is out of bounds."
    )


def test_call_answer_rejects_a_value_instead_of_a_function():
    error = failure(call_answer, 42, name="sampler")
    assert "not a function" in error.message and "without calling it" in error.hint


def test_check_signature_explains_the_expected_definition():
    def sample(users):
        return users

    check_signature(lambda users, k, generator=None: None, ["users", "k"])
    error = failure(check_signature, sample, ["users", "k"])
    assert "def sample(users, k)" in error.hint


# -- samplers ----------------------------------------------------------------------------
def test_check_no_positives_names_user_item_and_count():
    history = {3: {12, 4}, 0: {1}}
    error = failure(check_no_positives, [0, 3], [[2, 5, 7], [9, 12, 4]], history)
    assert error.message == (
        "Your sampler returned item 12 for user 3, which is in that user's training "
        "history (2 of 6 draws were training positives)."
    )
    assert error.hint == "Did you forget to exclude positives?"


def test_check_no_positives_reads_a_user_item_set_and_per_position_draws():
    log = Interactions(np.array([0, 0, 1]), np.array([1, 2, 2]), np.array([1, 2, 3]),
                       n_users=2, n_items=4, name="toy")
    positives = log.user_item_set()
    ok = torch.tensor([[[3, 4], [4, 3]], [[1, 3], [4, 1]]])  # (B=2, L=2, k=2)
    check_no_positives(torch.tensor([0, 1]), ok, positives)
    bad = ok.clone()
    bad[1, 1, 0] = 2
    error = failure(check_no_positives, torch.tensor([0, 1]), bad, positives)
    assert "item 2 for user 1" in error.message


def test_check_no_positives_accepts_pairs_and_checks_rows():
    pairs = np.array([[0, 1], [1, 3]])
    check_no_positives([0, 1], [[2], [1]], pairs)
    assert "item 3 for user 1" in failure(check_no_positives, [0, 1], [[2], [3]], pairs).message
    assert "one row per user" in failure(check_no_positives, [0, 1, 2], [[2], [1]], pairs).message


def test_check_distribution_accepts_a_correct_sampler_at_its_nominal_rate():
    """A correct sampler fails in about ``alpha`` of seeds (binomial bound over 200)."""
    probs = np.array([0.0, 0.4, 0.3, 0.2, 0.1])
    alpha = 0.05
    failures = 0
    for seed in range(200):
        draws = np.random.default_rng(seed).choice(5, size=2_000, p=probs)
        try:
            check_distribution(draws, probs, alpha=alpha)
        except ExerciseCheckFailed:
            failures += 1
    # Binomial(200, 0.05): mean 10, sd 3.1; 22 is about four standard deviations out.
    assert failures <= 22


def test_check_distribution_catches_a_small_bias_and_names_the_item():
    probs = np.full(11, 0.1)
    probs[0] = 0.0
    biased = probs.copy()
    biased[7] *= 1.3  # item 7 thirty percent too likely
    biased /= biased.sum()
    draws = np.random.default_rng(0).choice(11, size=20_000, p=biased)
    error = failure(check_distribution, draws, probs, name="popularity sampler")
    assert error.message.startswith("Your popularity sampler drew item 7 ")
    assert "more often" in error.message


def test_check_distribution_flags_impossible_items():
    error = failure(check_distribution, np.array([1, 2, 0]), np.array([0.0, 0.5, 0.5]))
    assert "drew item 0 1 times" in error.message and "probability 0" in error.message


def test_check_distribution_pools_rare_items():
    probs = np.r_[0.0, np.full(4, 0.2475), np.full(10, 0.001)]
    draws = np.random.default_rng(1).choice(probs.size, size=1_000, p=probs / probs.sum())
    assert check_distribution(draws, probs) > 1e-3


# -- student copies -------------------------------------------------------------------------
def chapter_notebook() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["recneg"] = {"smoke_parameters": {"epochs": 1}}
    nb.cells = [
        new_markdown_cell("# Static samplers"),
        new_code_cell("epochs = 20", metadata={"tags": ["parameters"]}),
        new_markdown_cell("```{exercise-start} Uniform\n:label: ex-static-uniform\n```\n"
                          "Write a uniform sampler.\n```{exercise-end}\n```"),
        new_markdown_cell("Intro text before the solution.\n\n"
                          "```{solution-start} ex-static-uniform\n:class: dropdown\n```\n"
                          "Draw from 1..n_items."),
        new_code_cell("def uniform(users, k):\n    return torch.randint(1, 10, (len(users), k))\n"
                      "static.check_uniform(uniform)", metadata={"tags": ["solution"]},
                      outputs=[nbformat.v4.new_output("stream", text="✓ passed\n")]),
        new_markdown_cell("Why it works.\n"),
        new_code_cell("answer = 0.004\nstatic.check_probability(answer)",
                      metadata={"tags": ["solution"], "recneg": {"starter": "answer = ...\nstatic.check_probability(answer)"}}),
        new_markdown_cell("```{solution-end}\n```\nAfter the solution."),
        new_code_cell("print('later')", outputs=[nbformat.v4.new_output("stream", text="later\n")],
                      execution_count=7),
    ]
    return nb


def test_student_copy_removes_solutions_and_keeps_the_rest():
    nb = chapter_notebook()
    copy = student.strip_solutions(nb)
    text = "\n".join(c.source for c in copy.cells)
    assert "Write a uniform sampler." in text and "exercise-start" in text
    assert "Intro text before the solution." in text and "After the solution." in text
    for gone in ("solution-start", "solution-end", "Draw from 1..n_items", "Why it works",
                 "torch.randint", "0.004"):
        assert gone not in text, gone
    starters = [c.source for c in copy.cells if c.cell_type == "code"][1:3]
    assert starters[0].startswith("# Your solution here")
    assert starters[0].endswith("static.check_uniform(uniform)")
    assert starters[1] == "answer = ...\nstatic.check_probability(answer)"
    assert all(c.get("outputs", []) == [] for c in copy.cells if c.cell_type == "code")
    assert all(c.get("execution_count") is None for c in copy.cells if c.cell_type == "code")
    assert "smoke_parameters" not in copy.metadata.get("recneg", {})
    nbformat.validate(copy)
    # the source notebook is untouched
    assert any("torch.randint" in c.source for c in nb.cells)


def test_student_copy_rejects_untagged_code_inside_a_solution():
    nb = chapter_notebook()
    nb.cells[4].metadata["tags"] = []
    with pytest.raises(student.SolutionMarkupError, match="not tagged 'solution'"):
        student.strip_solutions(nb, "ch.ipynb")


def test_student_copy_rejects_a_solution_without_end():
    nb = chapter_notebook()
    nb.cells[7].source = "After the solution."
    del nb.cells[8]
    with pytest.raises(student.SolutionMarkupError, match="no {solution-end}"):
        student.strip_solutions(nb, "ch.ipynb")


def test_student_copy_rejects_a_solution_cell_outside_gates():
    nb = chapter_notebook()
    nb.cells.append(new_code_cell("x = 1\ncheck_x(x)", metadata={"tags": ["solution"]}))
    with pytest.raises(student.SolutionMarkupError, match="is not between"):
        student.strip_solutions(nb, "ch.ipynb")


def test_student_copy_command_writes_valid_notebooks(tmp_path):
    source = tmp_path / "05_static.ipynb"
    nbformat.write(chapter_notebook(), source)
    assert student.main([str(source), "--output-dir", str(tmp_path / "student")]) == 0
    copy = nbformat.read(tmp_path / "student" / "05_static.ipynb", as_version=4)
    nbformat.validate(copy)
    assert not any("torch.randint" in c.source for c in copy.cells)


@pytest.mark.parametrize("source, expected", [
    ("x = 1\ncheck_x(x)", "check_x(x)"),
    ("x = 1\nstatic.check_x(x, k=2)", "static.check_x(x, k=2)"),
    ("x = 1\nprint(x)", None),
    ("check_x(1)\nx = 2", None),
    ("def broken(:", None),
])
def test_final_check_call(source, expected):
    assert student.final_check_call(source) == expected


# -- chapter checks never print the reference value --------------------------------------
import ast  # noqa: E402

_NO_ANSWER_MODULES = ["tour", "evaluation", "models_and_losses", "false_negatives", "static"]
_REFERENCE_NAMES = {"expected", "want", "reference", "right", "answer_key"}


def _failure_messages(tree: ast.AST):
    """Every f-string passed to ``fail``, ``expect`` or ``ExerciseCheckFailed``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {
                "fail", "expect", "ExerciseCheckFailed"}:
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                for part in ast.walk(argument):
                    if isinstance(part, ast.JoinedStr):
                        yield node.lineno, part


@pytest.mark.parametrize("module", _NO_ANSWER_MODULES)
def test_chapter_checks_never_format_the_reference_into_a_failure(module):
    path = ROOT / "recneg" / "exercises" / f"{module}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    leaks = []
    for line, fstring in _failure_messages(tree):
        names = {n.id for v in fstring.values if isinstance(v, ast.FormattedValue)
                 for n in ast.walk(v.value) if isinstance(n, ast.Name)}
        if names & _REFERENCE_NAMES:
            leaks.append((line, sorted(names & _REFERENCE_NAMES)))
    assert not leaks, f"{module}.py formats the reference value into a failure message: {leaks}"
    assert "raise ExerciseCheckFailed(f\"Expected" not in path.read_text(encoding="utf-8")
