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


def test_check_close_points_at_the_largest_error_without_the_reference():
    got = np.array([[0.1, 0.2], [0.3, 0.9]])
    want = np.array([[0.1, 0.25], [0.3, 0.4]])
    error = failure(check_close, got, want, name="probabilities", rtol=1e-6)
    assert "index (1, 1)" in error.message
    assert "your 0.9 is too high" in error.message
    assert "2 of 4 entries" in error.message
    assert "0.4" not in error.message and "0.25" not in error.message


def test_check_close_accepts_values_within_tolerance():
    check_close(torch.tensor([1.0, 2.0]) + 1e-9, [1.0, 2.0])
    check_close(0.30000001, 0.3, rtol=1e-6)


def test_check_close_reports_nan_with_a_hint():
    error = failure(check_close, [0.5, float("nan")], [0.5, 0.5], name="loss")
    assert "NaN at index (1,)" in error.message
    assert "log of zero" in error.hint


def test_check_close_reports_a_wrong_scalar_by_direction():
    error = failure(check_close, 0.5, 0.0673764, name="probability", rtol=1e-6)
    assert error.message.startswith("Your probability is 0.5, too high")
    assert "0.067" not in error.message
    assert "too low" in failure(check_close, 0.01, 0.0673764, name="probability").message


@pytest.mark.parametrize("got, want, kind", [
    (-0.0673764, 0.0673764, "wrong sign"),
    ([-0.5, 0.25, -0.125], [0.5, -0.25, 0.125], "wrong sign"),
    (6.737, 0.06737, "factor of 100"),
    ([4, 6, 8], [3, 5, 7], "one too high, an off-by-one"),
    ([2, 4, 6], [3, 5, 7], "one too low, an off-by-one"),
    ([0.2, 0.5, 0.3], [0.5, 0.3, 0.2], "wrong order"),
    ([0.0, 0.5, 0.3, 0.2], [0.5, 0.3, 0.2, 0.7], "shifted by one position"),
    ([0.0, 1.0, 0.6, 0.4], [0.0, 0.5, 0.3, 0.2], "constant factor"),
    ([0.6, 0.4, 0.3], [0.5, 0.3, 0.2], "plus a constant"),
])
def test_check_close_names_the_kind_of_mistake(got, want, kind):
    error = failure(check_close, got, want, name="values", rtol=1e-6)
    assert kind in error.message, error.message


#: Reference values with several significant digits, as a failure could print them.
_REFERENCES = [0.0673764, 9.79136, [0.61803, 0.2719, 0.11007], [[0.6, 0.8], [-1.0, 0.0]],
               [17, 41, 4], 0.004]


def _shown(value) -> list[str]:
    """The ways a failure message could show the reference ``value`` (or one of its entries)."""
    entries = np.asarray(value, dtype=np.float64).reshape(-1)
    forms = {str(value), repr(value), str(np.asarray(value))}
    for entry in entries:
        digits = len(f"{abs(entry):.6g}".replace(".", "").lstrip("0").split("e")[0])
        if digits < 3 or abs(entry) < 1e-3:
            continue  # too short to tell from an index, a count or an input of the exercise
        forms |= {f"{entry:.6g}", f"{entry:.4g}", f"{entry:.3f}", str(entry)}
    return sorted(forms)


@pytest.mark.parametrize("helper", [check_close, check_equal])
@pytest.mark.parametrize("reference", _REFERENCES, ids=str)
@pytest.mark.parametrize("mistake", ["higher", "lower", "sign", "plus one", "zeros"])
def test_value_helpers_never_show_the_reference(helper, reference, mistake):
    want = np.asarray(reference, dtype=np.float64)
    got = {"higher": want * 1.5 + 0.3, "lower": want * 0.5 - 0.3, "sign": -want,
           "plus one": want + 1, "zeros": np.zeros_like(want)}[mistake]
    message = str(failure(helper, got, want, name="answer"))
    # The answer itself may be shown: when it is the reference with its sign flipped, the
    # message names the mistake and the digits are the reader's own.
    for form in set(_shown(reference)) - set(_shown(got)) - {s.lstrip("-") for s in _shown(got)}:
        assert form not in message, (form, message)


def test_check_distribution_never_shows_the_expected_count():
    probs = np.array([0.0, 0.5, 0.3, 0.2])
    draws = np.random.default_rng(0).choice(4, size=5_000, p=[0.0, 0.2, 0.3, 0.5])
    message = str(failure(check_distribution, draws, probs))
    assert "item 3" in message and "more often" in message
    for expected_count in ("1000", "1500", "2500", "±"):
        assert expected_count not in message, message


def test_check_equal_finds_the_first_difference():
    error = failure(check_equal, [3, 1, 2, 9], [3, 1, 4, 8], name="ranks")
    assert "at index (2,)" in error.message and "2 of 4 entries" in error.message
    check_equal("full", "full")
    protocol = failure(check_equal, "sampled", "full", name="protocol").message
    assert "'sampled'" in protocol and "full" not in protocol


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

#: Every chapter's check module: a new chapter's module is covered without editing this list.
_CHAPTER_MODULES = sorted(p.stem for p in (ROOT / "recneg" / "exercises").glob("*.py")
                          if not p.stem.startswith("_"))
#: Names a check binds to a reference value (``expected``, ``ref_mean``, ``want`` ...).
_REFERENCE_PREFIXES = ("expected", "want", "ref", "right", "answer_key", "solution")
#: What a message may say about a reference without giving it away: its shape or size.
_SHAPE_ONLY = {"shape", "size", "ndim", "dtype"}
#: Helpers that describe an answer against a reference by direction or position only.
_DESCRIBERS = {"_direction", "_worst", "len"}


def _failure_messages(tree: ast.AST):
    """Every f-string passed to ``fail``, ``expect`` or ``ExerciseCheckFailed``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {
                "fail", "expect", "ExerciseCheckFailed"}:
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                for part in ast.walk(argument):
                    if isinstance(part, ast.JoinedStr):
                        yield node.lineno, part


def _reference_names(expression: ast.AST) -> set[str]:
    """Names of reference values used in ``expression`` other than through their shape."""
    shape_only = {id(node.value) for node in ast.walk(expression)
                  if isinstance(node, ast.Attribute) and node.attr in _SHAPE_ONLY}
    shape_only |= {id(name) for node in ast.walk(expression)
                   if isinstance(node, ast.Call) and getattr(node.func, "id", None) in _DESCRIBERS
                   for argument in node.args for name in ast.walk(argument)}
    return {node.id for node in ast.walk(expression)
            if isinstance(node, ast.Name) and node.id.startswith(_REFERENCE_PREFIXES)
            and id(node) not in shape_only}


def reference_leaks(source: str) -> list[tuple[int, list[str]]]:
    """Lines where a failure message formats a reference value."""
    leaks = []
    for line, fstring in _failure_messages(ast.parse(source)):
        names = set().union(*(_reference_names(v.value) for v in fstring.values
                              if isinstance(v, ast.FormattedValue)))
        if names:
            leaks.append((line, sorted(names)))
    return leaks


def test_the_leak_detector_finds_a_formatted_reference():
    assert reference_leaks('fail(f"Your mean is {m}; expected {_fmt(ref_mean)}.")') == [(1, ["ref_mean"])]
    assert reference_leaks('fail(f"row 0 is {got[0]}, whose items are {expected[0].tolist()}.")')
    assert not reference_leaks('fail(f"you returned {got.size} items instead of {want.size}.")')
    assert not reference_leaks('fail(f"{len(expected)} rows, your {got}.")')
    assert not reference_leaks('fail(f"Your p is {_direction(p, want_p)}.")')
    assert reference_leaks('fail(f"Your p is {p}, not {round(want_p, 3)}.")')


@pytest.mark.parametrize("module", _CHAPTER_MODULES)
def test_chapter_checks_never_format_the_reference_into_a_failure(module):
    path = ROOT / "recneg" / "exercises" / f"{module}.py"
    source = path.read_text(encoding="utf-8")
    leaks = reference_leaks(source)
    assert not leaks, f"{module}.py formats the reference value into a failure message: {leaks}"
    assert "raise ExerciseCheckFailed(f\"Expected" not in source


def test_every_chapter_module_is_covered():
    chapters = {p.stem.split("_", 1)[1] for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert chapters <= set(_CHAPTER_MODULES)


# -- ... and a wrong answer does not get the reference back, in any chapter -------------------
def _wrong_answers():
    """(check, wrong answer, the reference values the check compares it with), per module.

    One case per check that compares with a computed reference; each wrong answer falls
    through every typed mistake to the check's last, generic failure, where a leak would be.
    """
    from recneg.exercises import adversarial, comparison, dynamic, evaluation, knowledge, reweighting, scale
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    weights = rng.gamma(2.0, 0.5, size=(40, 10))
    is_false = rng.random((40, 10)) < 0.2
    weights[is_false] *= 0.3
    f = np.array([0.0, 0.05, 0.19, 0.19, 0.5, 1.0])
    m = np.array([8, 8, 1, 16, 4, 3])
    history = torch.randn(4, 6, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64).cumsum(-1)
    candidates, scores, k = dynamic._dns_inputs()
    top = np.take_along_axis(candidates.numpy(), np.argsort(-scores.numpy(), axis=1)[:, :k], axis=1)
    s = np.linspace(-3.0, 5.0, 17)
    vectors = knowledge._toy_vectors()
    users = adversarial._RESPONSE_USERS
    counts = np.array([0, 50, 30, 10, 5, 3, 2, 40, 1])
    return {
        "comparison": (comparison.check_weighted_fnr, lambda w, fl: 0.5,
                       [float(weights[is_false].sum() / weights.sum())]),
        "dynamic-oracle": (dynamic.check_oracle_dns_fnr, lambda f, M: (1 - (1 - f) ** M) ** 2,
                           [1 - (1 - f) ** m]),
        "dynamic-srns": (dynamic.check_srns_criterion, lambda h, w: h[..., -1] + 0.5 * w,
                         [(history[..., -1] + 2.0 * history.std(-1, correction=0)).numpy()]),
        "dynamic-dns": (dynamic.check_dns_select, lambda c, s_, k_: c[:, :k_],
                        [sorted(row) for row in top.tolist()]),
        "knowledge-strata": (knowledge.check_stratified_probs, lambda c: c.double().sum(1) / c.sum(),
                             [knowledge._stratified_reference(knowledge._toy_cells().numpy())]),
        "knowledge-walk": (knowledge.check_reach_probability,
                           lambda g, a, h: np.r_[0.0, np.full(g.shape[0] - 1, 1.0 / (g.shape[0] - 1))],
                           [knowledge._reach_reference(knowledge._toy_genres().numpy(), 3, 1)]),
        "knowledge-semantic": (knowledge.check_semantic_neighbours,
                               lambda v, i, n: torch.arange(1, n + 2)[torch.arange(1, n + 2) != i][:n],
                               [sorted(knowledge._neighbours_reference(vectors, 3, 5).tolist())]),
        "reweighting-selfadv": (reweighting.check_self_adversarial,
                                lambda sc, t: sc.shape[1] * torch.softmax(sc / (2 * t), dim=-1),
                                [4 * torch.softmax(torch.tensor([[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0],
                                                                 [-5.0, 0.0, 5.0, 10.0]]) / 0.5, -1).numpy()]),
        "reweighting-posterior": (reweighting.check_fn_probability,
                                  lambda x: np.clip(0.2 * norm.pdf(x, loc=2.0) / norm.pdf(x, loc=0.0), 0, 1),
                                  [np.minimum(1.0, 0.1 * norm.pdf(s, loc=2.0) / norm.pdf(s, loc=0.0))]),
        "adversarial-reinforce": (adversarial.check_reinforce_gradient,
                                  lambda g, t, j, r, b: np.array([0.3, -0.1, -0.2]),
                                  [adversarial._reference_gradient(*adversarial._GRADIENT_CASES[0])]),
        "adversarial-moments": (adversarial.check_estimator_moments,
                                lambda g, r, b: (np.array([0.05, -0.02, -0.03]), 0.123),
                                list(adversarial._reference_moments(*adversarial._MOMENT_CASES[0]))),
        "adversarial-entropy": (adversarial.check_softmax_entropy, lambda g, t: np.full(len(g), 0.777),
                                [adversarial._reference_entropy(adversarial._ENTROPY_LOGITS, 1.0)]),
        "adversarial-best-response": (adversarial.check_best_response, lambda u, r: np.full(u.shape, 0.123),
                                      [users / np.linalg.norm(users, axis=1, keepdims=True)]),
        "scale-es": (scale.check_es_sample, lambda w, k_, g: np.argsort(g.random(len(w)) / np.maximum(w, 1e-9)
                                                                         + (w == 0) * 1e9)[:k_],
                     [12_000 * scale._WEIGHTS / scale._WEIGHTS.sum()]),
        "evaluation-cohorts": (lambda answer: evaluation.check_cohorts(answer, counts),
                               np.array([0, 0, 0, 0, 0, 0, 0, 1]),
                               [(np.flatnonzero(np.array([0, 0, 0, 0, 0, 0, 0, 1])
                                                != popularity_cohorts(counts)[1:]) + 1).tolist()]),
    }


from recneg.metrics import popularity_cohorts  # noqa: E402

_WRONG = _wrong_answers()


@pytest.mark.parametrize("case", sorted(_WRONG))
def test_a_wrong_answer_never_gets_the_reference_back(case):
    check, wrong, references = _WRONG[case]
    message = str(failure(check, wrong))
    for reference in references:
        for form in _shown(reference):
            assert form not in message, (form, message)
