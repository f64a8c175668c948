"""The checks of the adversarial chapter: reference answers pass, typical mistakes get a
message that names them."""

from __future__ import annotations

import numpy as np
import torch

from recneg.exercises import adversarial as ex
from exercise_checks import fails_with  # pytest puts tests/ on sys.path


def softmax(logits, tau=1.0):
    z = np.asarray(logits, dtype=float) / tau
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# -- REINFORCE gradient ------------------------------------------------------------------------
def reinforce_reference(logits, tau, item, reward, baseline):
    p = softmax(logits, tau)
    return (reward - baseline) * (np.eye(len(p))[item] - p) / tau


def reinforce_autograd(logits, tau, item, reward, baseline):
    g = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    objective = (reward - baseline) * torch.log_softmax(g / tau, dim=0)[item]
    objective.backward()
    return g.grad


def test_reinforce_reference_passes(capsys):
    ex.check_reinforce_gradient(reinforce_reference)
    assert "ex-adversarial-reinforce passed" in capsys.readouterr().out


def test_reinforce_autograd_answer_passes():
    ex.check_reinforce_gradient(reinforce_autograd)


def test_reinforce_sign_flip_named():
    fails_with(ex.check_reinforce_gradient, lambda g, t, j, r, b: -reinforce_reference(g, t, j, r, b),
               "sign is flipped", "loss")


def test_reinforce_missing_temperature_factor_named():
    fails_with(ex.check_reinforce_gradient, lambda g, t, j, r, b: reinforce_reference(g, t, j, r, b) * t,
               "1/τ")


def test_reinforce_softmax_without_temperature_named():
    def answer(g, t, j, r, b):
        p = softmax(g)
        return (r - b) * (np.eye(len(p))[j] - p) / t
    fails_with(ex.check_reinforce_gradient, answer, "ignore the temperature")


def test_reinforce_missing_normaliser_named():
    fails_with(ex.check_reinforce_gradient, lambda g, t, j, r, b: (r - b) * np.eye(len(g))[j] / t,
               "log-normaliser")


def test_reinforce_ignored_baseline_named():
    fails_with(ex.check_reinforce_gradient, lambda g, t, j, r, b: reinforce_reference(g, t, j, r, 0.0),
               "ignored the baseline")


def test_reinforce_gradient_of_p_named():
    def answer(g, t, j, r, b):
        return reinforce_reference(g, t, j, r, b) * softmax(g, t)[j]
    fails_with(ex.check_reinforce_gradient, answer, "instead of log p")


def test_reinforce_unknown_mistake_reports_sum():
    fails_with(ex.check_reinforce_gradient, lambda g, t, j, r, b: np.ones(len(g)), "sum to", "Hint:")


def test_reinforce_wrong_shape_and_signature_named():
    fails_with(ex.check_reinforce_gradient, lambda g, t, j, r, b: 0.5, "shape")
    fails_with(ex.check_reinforce_gradient, lambda g, t, j: g, "cannot be called")


# -- estimator moments -------------------------------------------------------------------------
def moments_reference(logits, rewards, baseline):
    p = softmax(logits)
    grads = (np.asarray(rewards) - baseline)[:, None] * (np.eye(len(p)) - p)
    mean = p @ grads
    return mean, float(p @ ((grads - mean) ** 2).sum(1))


def test_moments_reference_passes(capsys):
    ex.check_estimator_moments(moments_reference)
    assert "ex-adversarial-baseline passed" in capsys.readouterr().out


def test_moments_show_the_baseline_claim():
    logits, rewards = np.array([1.0, 0.5, -1.0]), np.array([0.9, 0.6, 0.8])
    mean0, var0 = moments_reference(logits, rewards, 0.0)
    mean_b, var_b = moments_reference(logits, rewards, float(softmax(logits) @ rewards))
    np.testing.assert_allclose(mean0, mean_b, atol=1e-12)
    assert var_b < var0


def test_moments_unweighted_mean_named():
    def answer(logits, rewards, baseline):
        p = softmax(logits)
        grads = (rewards - baseline)[:, None] * (np.eye(len(p)) - p)
        return grads.mean(0), 0.0
    fails_with(ex.check_estimator_moments, answer, "equal weights", "probability p_j")


def test_moments_second_moment_named():
    def answer(logits, rewards, baseline):
        mean, var = moments_reference(logits, rewards, baseline)
        return mean, var + float(mean @ mean)
    fails_with(ex.check_estimator_moments, answer, "second moment")


def test_moments_per_coordinate_variance_named():
    def answer(logits, rewards, baseline):
        p = softmax(logits)
        grads = (rewards - baseline)[:, None] * (np.eye(len(p)) - p)
        mean = p @ grads
        return mean, p @ (grads - mean) ** 2
    fails_with(ex.check_estimator_moments, answer, "one entry per item", "trace")


def test_moments_variance_without_baseline_named():
    fails_with(ex.check_estimator_moments,
               lambda logits, rewards, baseline: moments_reference(logits, rewards, 0.0),
               "without a baseline")


def test_moments_not_a_pair_named():
    fails_with(ex.check_estimator_moments, lambda logits, rewards, baseline: np.zeros(3), "pair")


# -- entropy and temperature -------------------------------------------------------------------
def entropy_reference(logits, tau):
    log_p = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64) / tau, dim=-1)
    return -(log_p.exp() * log_p).sum(-1)


def test_entropy_reference_passes(capsys):
    ex.check_softmax_entropy(entropy_reference)
    assert "ex-adversarial-temperature passed" in capsys.readouterr().out


def test_entropy_naive_float32_overflow_named():
    def naive(logits, tau):
        e = torch.exp(torch.as_tensor(logits, dtype=torch.float32) / tau)
        p = e / e.sum(-1, keepdim=True)
        return -(p * p.log()).sum(-1)
    fails_with(ex.check_softmax_entropy, naive, "not all finite", "log-softmax")


def test_entropy_in_bits_named():
    fails_with(ex.check_softmax_entropy, lambda g, t: entropy_reference(g, t) / np.log(2), "bits")


def test_entropy_sign_named():
    fails_with(ex.check_softmax_entropy, lambda g, t: -entropy_reference(g, t), "negative")


def test_entropy_ignoring_temperature_named():
    fails_with(ex.check_softmax_entropy, lambda g, t: entropy_reference(g, 1.0), "same as at τ = 1")


def test_entropy_inverted_temperature_named():
    fails_with(ex.check_softmax_entropy, lambda g, t: entropy_reference(np.asarray(g) * t, 1.0),
               "temperature 1/τ")


def test_entropy_wrong_axis_shape_named():
    fails_with(ex.check_softmax_entropy, lambda g, t: entropy_reference(g, t).sum(), "shape")


# -- best response of the generative generator ------------------------------------------------------
def best_response_reference(user_vectors, radius):
    users = np.asarray(user_vectors, dtype=float)
    return radius * users / np.linalg.norm(users, axis=1, keepdims=True)


def test_best_response_reference_passes(capsys):
    ex.check_best_response(best_response_reference)
    assert "ex-adversarial-best-response passed" in capsys.readouterr().out


def test_best_response_torch_answer_passes():
    ex.check_best_response(lambda user_vectors, radius: radius * torch.nn.functional.normalize(
        torch.as_tensor(user_vectors), dim=1))


def test_best_response_mistakes_named():
    fails_with(ex.check_best_response, lambda user_vectors, radius: -best_response_reference(user_vectors, radius),
               "point away")
    fails_with(ex.check_best_response, lambda user_vectors, radius: best_response_reference(user_vectors, 1.0),
               "norm is 1")
    fails_with(ex.check_best_response, lambda user_vectors, radius: radius * np.asarray(user_vectors),
               "outside the ball")
    fails_with(ex.check_best_response, lambda user_vectors, radius: 0.5 * best_response_reference(user_vectors, radius),
               "not the best point")
    fails_with(ex.check_best_response, lambda user_vectors, radius: best_response_reference(user_vectors, radius)[:1],
               "shape")
