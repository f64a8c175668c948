"""Self-check for the preface's exercise, "Accidental positives" (``ex-preface-accidental``).

A user has interacted with 40 of the 10,000 items of a catalogue; 100 negatives are drawn
for the user without excluding the user's positives. The answer is the probability that
one uniform draw is a positive, and the expected number of positives among the 100 draws
under uniform and under popularity-proportional sampling (the user's 40 items hold 2 % of
the training interactions). A failing check names the mistake; it never prints the
expected value.

>>> check_accidental(0.004, 0.4, 2.0)
✓ ex-preface-accidental passed: popularity sampling draws five times as many of the user's positives
"""

from __future__ import annotations

from ._feedback import _direction, as_number, fail, passed, same

__all__ = ["check_accidental"]

_N_ITEMS, _N_POSITIVES, _DRAWS, _POPULARITY_SHARE = 10_000, 40, 100, 0.02


def check_accidental(p_uniform, expected_uniform, expected_popularity) -> None:
    """Exercise ``ex-preface-accidental``: the three answers, in the order the exercise asks."""
    p = as_number(p_uniform, "p_uniform")
    uniform = as_number(expected_uniform, "expected_uniform")
    popularity = as_number(expected_popularity, "expected_popularity")
    close = lambda a, b: same(a, b, rtol=1e-6, atol=1e-12)  # noqa: E731

    want_p = _N_POSITIVES / _N_ITEMS
    if not close(p, want_p):
        if close(p, 100 * want_p):
            fail("Your p_uniform looks like a percentage.", hint="Give the probability as a fraction.")
        if close(p, _N_POSITIVES / (_N_ITEMS - _N_POSITIVES)):
            fail("Your p_uniform divides by the items the user has *not* interacted with.",
                 hint="The sampler does not exclude the positives: it draws from the whole catalogue.")
        if close(p, 1 / _N_ITEMS):
            fail("Your p_uniform is the probability of one particular item.",
                 hint="Any of the user's positives counts as a hit.")
        fail(f"Your p_uniform is {_direction(p, want_p)}.",
             hint="Count the catalogue items a hit can be, and divide by the catalogue size.")
    if not close(uniform, _DRAWS * want_p):
        if close(uniform, want_p):
            fail("Your expected_uniform is the probability of one draw, not the expectation over 100 draws.",
                 hint="The expected number of hits is the sum of the hit probabilities of the draws.")
        fail(f"Your expected_uniform is {_direction(uniform, _DRAWS * want_p)}.",
             hint="The expected number of hits is the sum of the hit probabilities of the draws.")
    if not close(popularity, _DRAWS * _POPULARITY_SHARE):
        if close(popularity, _DRAWS * want_p):
            fail("Your expected_popularity is the uniform sampler's.",
                 hint="Under popularity sampling a draw hits the user's items with their share of "
                      "the interactions.")
        if close(popularity, _POPULARITY_SHARE):
            fail("Your expected_popularity is the probability of one draw, not the expectation over 100 draws.")
        fail(f"Your expected_popularity is {_direction(popularity, _DRAWS * _POPULARITY_SHARE)}.",
             hint="A popularity sampler draws an item with its share of the training interactions.")
    passed("ex-preface-accidental", "popularity sampling draws five times as many of the user's positives")
