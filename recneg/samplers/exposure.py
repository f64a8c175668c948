"""Exposure-aware negatives: "not interacted" is not "disliked" when the item was never shown.

An implicit log says what a user clicked; what the user *saw* decides what the missing
clicks mean. An item shown and not clicked is evidence of dislike; an item never shown is
no evidence at all (Liang et al., WWW 2016). Two ways to use exposure, both here:

* :class:`ExposureSampler` draws negatives only among the items each user was shown and
  did not interact with (the survey's *predefined* static negatives, with impressions as
  the explicit feedback);
* :class:`InversePropensityLoss` keeps uniform negatives and re-weights the clicks by
  the inverse of their exposure propensity, the unbiased estimator of Saito et al.
  (WSDM 2020); :func:`popularity_propensity` is that paper's estimate of the propensity
  when impressions are not logged.

Both are in the registry's table of methods (``"exposure"`` and ``"ipw"``), not in
``SAMPLERS``, whose every entry builds from its name alone: ``make_sampler`` cannot
supply the exposure matrix or the world's propensities. Pass them, or let an experiment
grid name them as ``"@world.exposed"`` and ``"@world.propensity"`` on a synthetic setting
(:mod:`recneg.runner` resolves them). ``propensity="popularity"`` estimates them from the
training counts when the sampler is fitted.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from .._errors import RecnegError, check_finite, check_probability
from ..data.interactions import Interactions
from .base import NegativeSample, NegativeSampler, TrainingComponent, extra_targets, output_shape
from .knowledge import _row_blocked, uniform_in_rows
from .static import UniformSampler

__all__ = ["ExposureSampler", "InversePropensityLoss", "popularity_propensity"]


class ExposureSampler(NegativeSampler):
    """Negatives drawn uniformly among the items each user was shown but did not interact with.

    Parameters
    ----------
    exposed : array-like of bool, shape (n_users, n_items + 1)
        ``exposed[u, i]`` is True when user ``u`` was shown item ``i`` (an impression
        log, or :meth:`recneg.data.SyntheticWorld.exposed_mask`); column 0 is padding.
    exclude_positives : bool, default True
        Never return the user's training items nor the batch's targets.
    random_state : int, torch.Generator or None

    Notes
    -----
    ``log_prob = −log m_u`` with ``m_u`` the user's allowed exposed items. A user with no
    such item gets uniform negatives (and the uniform sampler's ``log_prob``).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> log = Interactions(np.array([0, 1]), np.array([1, 2]), np.arange(2), n_users=2, n_items=5)
    >>> exposed = np.zeros((2, 6), dtype=bool)
    >>> exposed[0, [1, 3, 4]] = True                  # user 0 saw items 1, 3 and 4, clicked 1
    >>> s = ExposureSampler(exposed, random_state=0).fit(log)
    >>> sorted(set(s.sample(torch.tensor([0]), torch.tensor([1]), 20).items[0].tolist()))
    [3, 4]
    """

    family = "static"
    subfamily = "predefined"

    def __init__(self, exposed, *, exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        exposed = np.asarray(exposed)
        if exposed.ndim != 2 or exposed.dtype != bool:
            raise RecnegError(
                f"exposed must be a boolean (n_users, n_items + 1) matrix, got dtype {exposed.dtype} "
                f"and shape {exposed.shape}; pass e.g. world.exposed_mask(range(world.n_users))"
            )
        self.exposed = exposed

    def _fit(self, train: Interactions) -> None:
        wanted = (train.n_users, train.n_items + 1)
        if self.exposed.shape != wanted:
            raise RecnegError(
                f"exposed has shape {self.exposed.shape} but the training log needs {wanted} "
                "(users x items + padding); pass the exposure of this log's id spaces"
            )
        self.exposed_ = torch.from_numpy(self.exposed.copy())
        self.exposed_[:, 0] = False
        self.uniform_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)

    def __repr__(self) -> str:
        return (f"ExposureSampler(exposed=<{self.exposed.shape[0]} x {self.exposed.shape[1]}>, "
                f"exclude_positives={self.exclude_positives})")

    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        shape = output_shape(positives, k, per_position)
        extra = extra_targets(self, users, positives)
        allowed = self.exposed_[users] & ~_row_blocked(self, users, extra)
        index, count = uniform_in_rows(allowed, math.prod(shape[1:]), generator)
        items = index.reshape(shape)
        view = (len(users),) + (1,) * (len(shape) - 1)
        log_prob = (-count.double().clamp_min(1).log()).reshape(view).expand(shape)
        missing = (count == 0).reshape(view).expand(shape)
        if bool(missing.any()):
            uniform = self.uniform_._draw_allowed(users, positives, shape, generator, extra)
            items = torch.where(missing, uniform, items)
            log_prob = torch.where(missing, self.uniform_.conditional_log_prob(users, items, extra), log_prob)
        return NegativeSample(items, log_prob.float())


def popularity_propensity(train: Interactions, power: float = 0.5, clip: float = 0.0) -> np.ndarray:
    """Exposure propensity estimated from popularity: ``π_i = (c_i / max_j c_j) ** power``.

    ``c_i`` is item ``i``'s training count. A power of the relative item popularity is the
    kind of estimate Saito et al. (WSDM 2020) turn to when the log has no impressions: an
    item clicked often was probably shown often.

    Parameters
    ----------
    train : Interactions
        Counts come from the training split only.
    power : float, default 0.5
        ``> 0``.
    clip : float, default 0.0
        Lower bound on the propensity, in [0, 1); items never clicked get ``clip``.

    Returns
    -------
    np.ndarray of float64, shape (n_items + 1,)
        Entry 0 (padding) is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import Interactions
    >>> log = Interactions(np.array([0, 1, 1, 0, 1]), np.array([1, 1, 1, 2, 2]), np.arange(5), n_users=2, n_items=3)
    >>> popularity_propensity(log, power=1.0, clip=0.1).round(3).tolist()   # counts 3, 2, 0
    [0.0, 1.0, 0.667, 0.1]
    """
    power = check_finite("power", power, positive=True)
    clip = check_probability("clip", clip)
    if clip == 1.0:
        raise RecnegError("clip must be below 1, got 1; a propensity of 1 everywhere weighs nothing")
    counts = np.asarray(train.item_counts(), dtype=np.float64)
    if counts[1:].max(initial=0.0) <= 0:
        raise RecnegError("the training log has no interactions; propensities need counts")
    theta = np.maximum((counts / counts[1:].max()) ** power, clip)
    theta[0] = 0.0
    return theta


class InversePropensityLoss(TrainingComponent):
    """Uniform negatives with inverse-propensity weights on the clicks (Rel-MF).

    A click ``Y = O · R`` needs exposure ``O`` and relevance ``R``. With exposure
    propensity ``π_ui = P(O = 1)``, Saito et al. (WSDM 2020) weigh each observed pair
    so that the log loss estimates, without bias, the loss on *relevance*:
    ``(Y/π) ℓ⁺(s) + (1 − Y/π) ℓ⁻(s)``. An unobserved item (``Y = 0``) stays a negative of
    weight 1, here drawn uniformly; a click counts ``1/π`` times as a positive and
    ``1 − 1/π`` (≤ 0) times as a negative, so rarely shown items that were clicked
    anyway pull hardest. Propensities are clipped from below at ``clip`` (the estimator's
    variance grows as ``1/π``). For :class:`~recneg.training.Trainer` with
    ``TrainConfig(loss="bce")`` and a model with embedding tables (e.g. ``BPRMF``).

    Parameters
    ----------
    propensity : array-like, shape (n_items + 1,) or (n_users, n_items + 1), or "popularity"
        Per item, or per user and item; values in (0, 1] (entry 0 is ignored).
        ``"popularity"`` estimates them when fitted, with :func:`popularity_propensity`.
    clip : float, default 0.05
        Lower bound applied to the propensities, in (0, 1].
    power : float, default 0.5
        Exponent of the popularity estimate (only with ``propensity="popularity"``).
    random_state : int, torch.Generator or None

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import SyntheticWorld, leave_one_out
    >>> from recneg.models import BPRMF
    >>> from recneg.training import TrainConfig, Trainer
    >>> split = leave_one_out(SyntheticWorld(n_users=40, n_items=30, random_state=0).generate())
    >>> method = InversePropensityLoss(popularity_propensity(split.train), clip=0.1, random_state=0)
    >>> config = TrainConfig(epochs=1, loss="bce", progress=False)
    >>> result = Trainer(BPRMF(40, 30, dim=8, random_state=0), method, config).fit(split)
    >>> bool(np.isfinite(result.history.train_loss).all())
    True
    """

    family = "re-weighting"
    subfamily = "debiased IRW"
    loss_name = "bce"

    def __init__(self, propensity, clip: float = 0.05, *, power: float = 0.5, random_state=None) -> None:
        super().__init__(exclude_positives=True, random_state=random_state)
        self.clip = check_probability("clip", clip)
        if self.clip == 0:
            raise RecnegError("clip must be > 0, got 0; an inverse propensity of a zero propensity is infinite")
        self.power = check_finite("power", power, positive=True)
        if isinstance(propensity, str):
            if propensity != "popularity":
                raise RecnegError(f"propensity must be an array or \"popularity\", got {propensity!r}")
            self.propensity = propensity
            return
        propensity = np.asarray(propensity, dtype=np.float64)
        if propensity.ndim not in (1, 2):
            raise RecnegError(f"propensity must have shape (n_items + 1,) or (n_users, n_items + 1), "
                              f"got {propensity.shape}")
        real = propensity[..., 1:]
        if not np.isfinite(real).all() or (real < 0).any() or (real > 1).any():
            raise RecnegError("propensity values must be finite probabilities in [0, 1]; clip small ones with clip=")
        self.propensity = propensity

    def _fit(self, train: Interactions) -> None:
        # Estimated here, from the training counts only, never from validation or test.
        propensity = (popularity_propensity(train, power=self.power) if isinstance(self.propensity, str)
                      else self.propensity)
        width = propensity.shape[-1]
        if width != train.n_items + 1 or (propensity.ndim == 2 and propensity.shape[0] != train.n_users):
            raise RecnegError(f"propensity of shape {propensity.shape} does not match the training log's "
                              f"{train.n_users} users and {train.n_items} items (+ padding)")
        self.propensity_ = torch.from_numpy(np.maximum(propensity, self.clip))
        self.uniform_ = UniformSampler().fit(train)

    def __repr__(self) -> str:
        shown = (repr(self.propensity) if isinstance(self.propensity, str)
                 else f"<shape {self.propensity.shape}>")
        return f"InversePropensityLoss(propensity={shown}, clip={self.clip})"

    def batch_loss(self, model, batch) -> torch.Tensor:
        """The Rel-MF log loss of one batch of (user, clicked item) pairs."""
        drawn = self.uniform_.sample(batch.users, batch.positives, batch.num_negatives, generator=batch.generator)
        batch.touch(drawn.items)
        if self.propensity_.dim() == 1:
            theta = self.propensity_[batch.positives]
        else:
            theta = self.propensity_[batch.users, batch.positives]
        inverse = (1.0 / theta).to(batch.device, torch.float32)
        hidden = model(batch.users.to(batch.device))
        pos = model.score_items(hidden, batch.positives.to(batch.device)[:, None])[:, 0]
        neg = model.score_items(hidden, drawn.items.to(batch.device))
        # -log σ(s) = softplus(-s) and -log(1 - σ(s)) = softplus(s)
        clicks = inverse * F.softplus(-pos) + (1.0 - inverse) * F.softplus(pos)
        return (clicks + F.softplus(neg).sum(-1)).mean()


from .registry import register_method  # noqa: E402  (registration needs the classes above)

register_method("exposure", ExposureSampler)
register_method("ipw", InversePropensityLoss)
