"""Self-checks for the exercises of "Adversarial negative generation".

The exercises work with the generator of IRGAN in miniature: a softmax over a handful of
items with temperature ``τ``, ``p_τ(j) = exp(g_j / τ) / Σ_i exp(g_i / τ)``.

* :func:`check_reinforce_gradient` (``ex-adversarial-reinforce``): the REINFORCE
  gradient ``(R − b) ∇_g log p_τ(j)`` of one drawn item, by hand;
* :func:`check_estimator_moments` (``ex-adversarial-baseline``): the exact mean and
  variance of the REINFORCE estimator, which show that a baseline leaves the expected
  gradient unchanged and can shrink its variance;
* :func:`check_softmax_entropy` (``ex-adversarial-temperature``): the entropy of the
  generator's distribution as a function of the temperature;
* :func:`check_best_response` (``ex-adversarial-best-response``): the synthetic negative
  that a generative-ANG generator should output against a frozen recommender;
* :func:`check_prediction` (``ex-adversarial-predict``): a prediction written down, then
  the change of the IRGAN generator's entropy over training measured;
* :func:`check_critique` (``ex-adversarial-critique``): the flaws of an adversarial
  experiment, among the statements of :data:`CRITIQUE_STATEMENTS`.
"""

from __future__ import annotations

import math

import numpy as np

from ._feedback import (_direction, as_array, as_number, call_answer, check_flaws, check_prediction_recorded,
                        check_shape, check_signature, expect, fail, passed)
from ._measured import check_difference

__all__ = ["CRITIQUE_STATEMENTS", "check_reinforce_gradient", "check_estimator_moments", "check_softmax_entropy",
           "check_best_response", "check_prediction", "check_critique"]


def _softmax(logits: np.ndarray, tau: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / tau
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _close(a: np.ndarray, b: np.ndarray, tol: float = 1e-6) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=tol, atol=tol))


def _fmt(values: np.ndarray) -> str:
    return np.array2string(np.asarray(values, dtype=np.float64), precision=4, suppress_small=True)


def _worst(got: np.ndarray, reference: np.ndarray) -> str:
    """Where ``got`` is furthest from ``reference`` and in which direction, without the value."""
    error = np.abs(got - reference)
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(error)), got.shape))
    shown = where[0] if len(where) == 1 else where
    return f"index {shown}, is {'too high' if got[where] > reference[where] else 'too low'}"


# -- REINFORCE gradient ----------------------------------------------------------------------
_GRADIENT_CASES = [
    # logits, tau, item, reward, baseline
    ([1.0, 0.5, -1.0], 1.0, 0, 0.8, 0.0),
    ([1.0, 0.5, -1.0], 0.5, 2, -0.3, 0.2),
    ([0.2, -0.4, 1.5], 2.0, 1, 1.0, 0.5),
]


def _reference_gradient(logits, tau, item, reward, baseline) -> np.ndarray:
    p = _softmax(logits, tau)
    onehot = np.eye(len(p))[item]
    return (reward - baseline) * (onehot - p) / tau


def _diagnose_gradient(got: np.ndarray, logits, tau, item, reward, baseline) -> str | None:
    """The name of a typical mistake that produces ``got``, or None."""
    p = _softmax(logits, tau)
    onehot = np.eye(len(p))[item]
    advantage = reward - baseline
    expected = advantage * (onehot - p) / tau
    if _close(got, -expected):
        return ("The sign is flipped: you returned the gradient of the loss −(R − b)·log p_τ(j). "
                "The exercise asks for the direction that increases the expected reward, "
                "(R − b)·∇_g log p_τ(j).")
    if tau != 1.0 and _close(got, expected * tau):
        return ("You left out the factor 1/τ: the logits enter the softmax divided by τ, so the "
                "chain rule multiplies the gradient by 1/τ.")
    if tau != 1.0 and _close(got, advantage * (onehot - _softmax(logits, 1.0)) / tau):
        return ("Your probabilities ignore the temperature: compute p_τ = softmax(g / τ), "
                "not softmax(g).")
    if tau != 1.0 and _close(got, advantage * (onehot - _softmax(logits, 1.0))):
        return ("You computed the gradient at τ = 1: divide the logits by τ inside the softmax and "
                "multiply the gradient by 1/τ.")
    if _close(got, advantage * onehot / tau):
        return ("You differentiated only the drawn item's logit. log p_τ(j) = g_j/τ − log Σ_i exp(g_i/τ): "
                "the log-normaliser contributes −p_τ(i)/τ to every coordinate.")
    if baseline != 0.0 and _close(got, reward * (onehot - p) / tau):
        return "You ignored the baseline: the advantage is R − b, not R."
    if _close(got, advantage * p[item] * (onehot - p) / tau):
        return ("You differentiated p_τ(j) instead of log p_τ(j): REINFORCE multiplies the reward by "
                "∇ log p = ∇p / p, which is why it needs no knowledge of the other items' rewards.")
    return None


def check_reinforce_gradient(reinforce_gradient) -> None:
    """Exercise ``ex-adversarial-reinforce``: the REINFORCE gradient of one drawn item.

    ``reinforce_gradient(logits, tau, item, reward, baseline)`` must return the gradient,
    with respect to the logits ``g`` (shape ``(n,)``), of ``(reward − baseline) ·
    log p_τ(item)`` where ``p_τ = softmax(g / τ)``.
    """
    check_signature(reinforce_gradient, ["logits", "tau", "item", "reward", "baseline"],
                    name="reinforce_gradient")
    for logits, tau, item, reward, baseline in _GRADIENT_CASES:
        answer = call_answer(reinforce_gradient, np.array(logits), tau, item, reward, baseline,
                             name="reinforce_gradient")
        got = check_shape(answer, (len(logits),), name="gradient",
                          hint="Return one partial derivative per item (per logit).").astype(np.float64)
        expected = _reference_gradient(logits, tau, item, reward, baseline)
        if _close(got, expected):
            continue
        where = (f"For logits {logits}, τ = {tau}, drawn item {item}, reward {reward} and "
                 f"baseline {baseline}, your gradient is {_fmt(got)}")
        mistake = _diagnose_gradient(got, logits, tau, item, reward, baseline)
        if mistake is not None:
            fail(f"{where}. {mistake}")
        total = float(got.sum())
        if abs(total) > 1e-6:
            fail(f"{where}, whose entries sum to {total:.4g}.",
                 hint="The gradient of a log-softmax with respect to its logits always sums to zero: "
                      "raising every logit by the same amount changes no probability.")
        worst = _worst(got, expected)
        fail(f"{where}, which is not the gradient; the entry with the largest error, {worst}.",
             hint="Write log p_τ(j) as the drawn item's scaled logit minus the log-normaliser, and "
                  "differentiate each term with respect to every logit.")
    passed("ex-adversarial-reinforce",
           "(R − b)·(e_j − p_τ)/τ: the drawn item's logit goes up, every other logit down in "
           "proportion to its probability")


# -- the estimator's moments -------------------------------------------------------------------
_MOMENT_CASES = [
    # logits, rewards of the items, baseline
    ([1.0, 0.5, -1.0], [0.9, 0.6, 0.8], 0.0),
    ([1.0, 0.5, -1.0], [0.9, 0.6, 0.8], 0.75),
    ([0.0, 2.0, -0.5, 0.3], [-0.2, 0.4, 0.9, 0.1], 0.3),
]


def _reference_moments(logits, rewards, baseline) -> tuple[np.ndarray, float]:
    p = _softmax(logits)
    n = len(p)
    grads = (np.asarray(rewards, dtype=np.float64) - baseline)[:, None] * (np.eye(n) - p[None, :])
    mean = p @ grads
    second = float(p @ (grads**2).sum(axis=1))
    return mean, second - float(mean @ mean)


def check_estimator_moments(estimator_moments) -> None:
    """Exercise ``ex-adversarial-baseline``: exact mean and variance of REINFORCE.

    ``estimator_moments(logits, rewards, baseline)`` must return ``(mean, variance)`` of
    the estimator ``ĝ = (R_j − b)(e_j − p)`` for ``j ~ p = softmax(logits)``: ``mean``
    the vector ``E[ĝ]`` (shape ``(n,)``), ``variance`` the number ``E‖ĝ − E[ĝ]‖²``.
    """
    check_signature(estimator_moments, ["logits", "rewards", "baseline"], name="estimator_moments")
    for logits, rewards, baseline in _MOMENT_CASES:
        answer = call_answer(estimator_moments, np.array(logits), np.array(rewards), baseline,
                             name="estimator_moments")
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            fail(f"Your estimator_moments returned a {type(answer).__name__}; expected a pair "
                 "(mean, variance).", hint="End the function with `return mean, variance`.")
        mean = check_shape(answer[0], (len(logits),), name="mean",
                           hint="The mean is a vector: one expected partial derivative per logit."
                           ).astype(np.float64)
        variance = as_array(answer[1], "variance").astype(np.float64)
        if variance.shape == (len(logits),):
            fail(f"Your variance has one entry per item ({_fmt(variance)}); return one number, the "
                 "total variance E‖ĝ − E[ĝ]‖².",
                 hint="Sum the per-coordinate variances (the trace of the covariance matrix).")
        expect(variance.size == 1, f"Your variance has shape {variance.shape}; return one number.")
        variance = float(variance.reshape(()))
        ref_mean, ref_var = _reference_moments(logits, rewards, baseline)
        where = f"For logits {logits}, rewards {rewards} and baseline {baseline}"
        p = _softmax(logits)
        n = len(p)
        grads = (np.asarray(rewards) - baseline)[:, None] * (np.eye(n) - p[None, :])
        if not _close(mean, ref_mean):
            if _close(mean, grads.mean(axis=0)):
                fail(f"{where}, your mean {_fmt(mean)} averages the n possible gradients with equal "
                     "weights.", hint="Weight the gradient of item j by the probability p_j of drawing it.")
            worst = _worst(mean, ref_mean)
            fail(f"{where}, your mean {_fmt(mean)} is not E[ĝ]; the entry with the largest error, {worst}.",
                 hint="Average the n possible values of ĝ, each weighted by the probability of drawing "
                      "its item.")
        second = ref_var + float(ref_mean @ ref_mean)
        if not math.isclose(variance, ref_var, rel_tol=1e-6, abs_tol=1e-9):
            if math.isclose(variance, second, rel_tol=1e-6, abs_tol=1e-9):
                fail(f"{where}, your variance {variance:.6g} is the second moment E‖ĝ‖².",
                     hint="Subtract ‖E[ĝ]‖²: Var = E‖ĝ‖² − ‖E[ĝ]‖².")
            if baseline and math.isclose(variance, _reference_moments(logits, rewards, 0.0)[1], rel_tol=1e-6):
                fail(f"{where}, your variance {variance:.6g} is the variance without a baseline.",
                     hint="Use the advantage R_j − b in ĝ_j = (R_j − b)(e_j − p).")
            if math.isclose(variance, float(((grads - ref_mean) ** 2).sum(axis=1).mean()), rel_tol=1e-6):
                fail(f"{where}, your variance {variance:.6g} averages over the items with equal weights.",
                     hint="Weight item j's squared deviation by p_j.")
            fail(f"{where}, your variance {variance:.6g} is {_direction(variance, ref_var)}.",
                 hint="The variance is the probability-weighted average of the squared distance of each "
                      "possible ĝ from E[ĝ].")
    passed("ex-adversarial-baseline",
           "the baseline leaves E[ĝ] unchanged and changes only the variance")


# -- entropy and temperature ----------------------------------------------------------------
_ENTROPY_LOGITS = np.array([[2.0, 1.0, 0.0, -1.0, 5.0],
                            [0.3, 0.3, 0.3, 0.3, 0.3],
                            [4.0, -2.0, 1.0, 1.0, 0.5]])
_ENTROPY_TAUS = (1.0, 0.5, 3.0, 20.0, 0.02)


def _reference_entropy(logits: np.ndarray, tau: float) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / tau
    log_p = z - z.max(axis=-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=-1, keepdims=True))
    return -(np.exp(log_p) * log_p).sum(axis=-1)


def check_softmax_entropy(softmax_entropy) -> None:
    """Exercise ``ex-adversarial-temperature``: entropy of ``softmax(logits / τ)`` in nats.

    ``softmax_entropy(logits, tau)`` receives a ``(B, n)`` array of logits and must return
    the ``B`` entropies ``H = −Σ_j p_j log p_j``; it is called with temperatures from
    0.02 to 20.
    """
    check_signature(softmax_entropy, ["logits", "tau"], name="softmax_entropy")
    n_rows = _ENTROPY_LOGITS.shape[0]
    for tau in _ENTROPY_TAUS:
        answer = call_answer(softmax_entropy, _ENTROPY_LOGITS.copy(), tau, name="softmax_entropy")
        got = check_shape(answer, (n_rows,), name="entropies",
                          hint="Sum over the items (the last axis), one entropy per row.").astype(np.float64)
        expected = _reference_entropy(_ENTROPY_LOGITS, tau)
        where = f"At τ = {tau}, your entropies are {_fmt(got)}"
        if not np.isfinite(got).all():
            fail(f"{where}: not all finite.",
                 hint="With a small τ, exp(g/τ) overflows and 0·log 0 gives NaN. Use log-softmax "
                      "(subtract the row maximum before exponentiating) and p·log p from it.")
        if _close(got, expected, 1e-5):
            continue
        if _close(got, expected / math.log(2), 1e-5):
            fail(f"{where}, which are in bits.", hint="Use the natural logarithm: the book measures "
                 "entropy in nats, the unit of log(n_items) for a uniform generator.")
        if _close(got, -expected, 1e-5):
            fail(f"{where}, which are negative.", hint="Entropy is −Σ p log p.")
        if tau != 1.0 and _close(got, _reference_entropy(_ENTROPY_LOGITS, 1.0), 1e-5):
            fail(f"{where}, the same as at τ = 1.", hint="Divide the logits by τ before the softmax.")
        if tau != 1.0 and _close(got, _reference_entropy(_ENTROPY_LOGITS * tau, 1.0), 1e-5):
            fail(f"{where}, which are the entropies at temperature 1/τ.",
                 hint="Divide the logits by τ; do not multiply them.")
        worst = _worst(got, expected)
        fail(f"{where}, which are not the entropies; the row with the largest error, {worst}.",
             hint="Take the softmax of the scaled logits along the items (the last axis), then the "
                  "entropy of each row.")
    passed("ex-adversarial-temperature",
           "the entropy rises with τ, from 0 (all mass on one item) towards log n (uniform over the n items)")


# -- the best response of a generative generator -----------------------------------------------
_RESPONSE_USERS = np.array([[3.0, 4.0], [-1.0, 0.0], [0.5, -0.5], [0.0, 2.0]])
_RESPONSE_RADII = (1.0, 2.5)


def check_best_response(best_response) -> None:
    """Exercise ``ex-adversarial-best-response``: the point of the ball of radius ``ρ``
    that a frozen recommender scores highest for each user.

    ``best_response(user_vectors, radius)`` receives a ``(B, d)`` array of (non-zero)
    user vectors and a radius and must return the ``(B, d)`` synthetic negatives
    ``argmax_{‖v‖ ≤ ρ} <e_u, v> = ρ · e_u / ‖e_u‖``.
    """
    check_signature(best_response, ["user_vectors", "radius"], name="best_response")
    for radius in _RESPONSE_RADII:
        users = _RESPONSE_USERS.copy()
        answer = call_answer(best_response, users.copy(), radius, name="best_response")
        got = check_shape(answer, users.shape, name="best responses",
                          hint="Return one vector of the user's dimension per user.").astype(np.float64)
        norms = np.linalg.norm(users, axis=1, keepdims=True)
        expected = radius * users / norms
        if _close(got, expected, 1e-6):
            continue
        where = f"With radius {radius}, your vectors are {_fmt(got)}"
        got_norms = np.linalg.norm(got, axis=1)
        if _close(got, -expected, 1e-6):
            fail(f"{where}: they point away from the users.",
                 hint="That point minimises the score <e_u, v>; the generator wants to maximise it.")
        if _close(got, users / norms, 1e-6):
            fail(f"{where}: their norm is 1, not the radius.", hint="Scale the unit vector by the radius ρ.")
        if _close(got, radius * users, 1e-6):
            fail(f"{where}: their norms are ρ·‖e_u‖ = {_fmt(got_norms)}, outside the ball.",
                 hint="Divide by ‖e_u‖ first: only the direction of e_u matters.")
        if np.all(got_norms <= radius * (1 + 1e-6)) and np.all((got * users).sum(1) > 0):
            fail(f"{where}: inside the ball, but not the best point: another point of the ball "
                 "scores higher for at least one user.",
                 hint="By Cauchy–Schwarz <e_u, v> ≤ ‖e_u‖·‖v‖ ≤ ρ‖e_u‖, with equality when v is "
                      "parallel to e_u and has norm r.")
        worst = _worst(got, expected)
        fail(f"{where}, which are not the best responses; the entry with the largest error, {worst}.",
             hint="Only the direction of e_u matters for the best point, and it lies on the ball's "
                  "boundary.")
    passed("ex-adversarial-best-response",
           "against a frozen recommender the best synthetic negative is r · e_u/‖e_u‖, whatever the noise")


# -- predict, then measure: the generator's entropy over training --------------------------------
def check_prediction(prediction, measured_change, generator, uniform_entropy=None) -> None:
    """Exercise ``ex-adversarial-predict``: a prediction written down, and the change of the
    generator's entropy from the first epoch to the last measured correctly.

    ``generator`` is the chapter's per-epoch record of the IRGAN generators (columns
    ``"epoch"``, ``"entropy"``, ``"mean_reward"``, one row per epoch and seed); the change
    is the last epoch's entropy minus the first's, each averaged over the seeds.
    ``uniform_entropy``, the uniform sampler's entropy, only serves to name a mistake.
    """
    check_prediction_recorded(prediction)
    value = as_number(measured_change, "measured_change")
    by_epoch = generator.groupby("epoch")[["entropy", "mean_reward"]].mean()
    entropy, reward = by_epoch["entropy"], by_epoch["mean_reward"]
    first, last = float(entropy.iloc[0]), float(entropy.iloc[-1])
    mistakes = [
        (float(entropy.min()) - first, "Your change ends at the epoch of lowest entropy, not at the last epoch.",
         "Take the last row of the per-epoch means: the question is where training ended."),
        (float(reward.iloc[-1] - reward.iloc[0]), "Your change is the generator's reward; the exercise asks "
         "about its entropy.", None),
    ]
    if uniform_entropy is not None:
        mistakes.append((last - float(uniform_entropy), "You compared the last epoch with the uniform sampler's "
                         "entropy, not with the generator's own start.", None))
    if "seed" in generator and generator["seed"].nunique() > 1:
        for _, run in generator.groupby("seed"):
            curve = run.sort_values("epoch")["entropy"]
            mistakes.append((float(curve.iloc[-1] - curve.iloc[0]), "Your change is the one of a single seed.",
                             "Average the entropy over the seeds per epoch first."))
    check_difference(value, last, first, name="change", exercise="ex-adversarial-predict",
                     detail="now compare the sign with your prediction, and find the epoch where the entropy was "
                            "lowest before you explain the gap.",
                     order="The last epoch's entropy minus the first epoch's.", mistakes=mistakes,
                     what="the difference between the generator's mean entropy in the last and the first epoch",
                     how="Average the entropy over the seeds per epoch (groupby('epoch')), then subtract the first "
                         "epoch's value from the last one's.")


# -- critique: an adversarial experiment -----------------------------------------------------------
#: Statements about an adversarial experiment (exercise ex-adversarial-critique):
#: letter -> (statement, is it a flaw of that experiment?, the kind of point it makes).
CRITIQUE_STATEMENTS = {
    "A": ("IRGAN's test numbers come from its last epoch, after its generator's entropy had collapsed, "
          "while uniform and DNS were tested at their best validation epoch.", True,
          "one checkpoint rule for every arm"),
    "B": ("The generator's reward was computed from the recommender's scores under torch.no_grad(), "
          "so the generator's step never changed the recommender.", False,
          "the reward must not move the other player; recneg's scorer is a no-grad view too"),
    "C": ("The generator's learning rate and temperature were chosen by the test NDCG@10 of a sweep.", True,
          "tuning on the test split"),
    "D": ("The generator's softmax ran over the whole catalogue, and draws that were training positives of "
          "their user were kept as negatives.", True, "negatives that can equal a positive"),
    "E": ("The false-negative audit drew from the trained generator, frozen: it called sample, never "
          "learn_from_batch.", False, "an audit must not change the sampler it measures"),
    "F": ("IRGAN was declared better than DNS from one seed of each, without an interval.", True,
          "statistics"),
    "G": ("IRGAN's sampling cost was timed on its draws alone, although training takes a generator step "
          "after every draw.", True, "the cost training actually pays"),
}


def check_critique(flaws) -> None:
    """Exercise ``ex-adversarial-critique``: the letters of :data:`CRITIQUE_STATEMENTS` that
    are flaws of the experiment."""
    check_flaws(flaws, CRITIQUE_STATEMENTS, exercise="ex-adversarial-critique",
                hint="Walk through what the chapter checks before it reads a number: which checkpoint each "
                     "arm is tested at, which split chose the settings, what the generator may draw, how "
                     "many seeds, and what one training step of the sampler costs.")
