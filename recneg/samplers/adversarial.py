"""Adversarial negative generation: a generator learns to propose negatives.

In the sampled adversarial family (Ma et al., arXiv 2409.07237, section 3.3) the
negative sampler is itself a model — a *generator* — trained against the recommender,
which plays the *discriminator*. IRGAN (Wang et al., SIGIR 2017) is the reference
method: the generator proposes items the recommender finds hard to tell from positives,
and is rewarded when the recommender scores its proposals highly.
"""

from __future__ import annotations

import math

import pandas as pd
import torch
from torch import nn

from .._errors import RecnegError, check_finite, check_positive_int, check_probability
from ..data.interactions import Interactions
from .base import NegativeSample, NegativeSampler, extra_targets, make_generator, output_shape
from .dynamic import duplicate_mask, score_candidates
from .static import UniformSampler

__all__ = ["IRGANSampler", "MFGenerator"]


class MFGenerator(nn.Module):
    """The generator's scoring model: ``g(u, i) = <p_u, q_i> + b_i`` (matrix factorisation).

    Item 0 is padding; its logit is masked by the sampler.
    """

    def __init__(self, n_users: int, n_items: int, dim: int, generator: torch.Generator, init_std: float = 0.1) -> None:
        super().__init__()
        self.user = nn.Parameter(torch.randn(n_users, dim, generator=generator) * init_std)
        item = torch.randn(n_items + 1, dim, generator=generator) * init_std
        item[0] = 0.0
        self.item = nn.Parameter(item)
        self.bias = nn.Parameter(torch.zeros(n_items + 1))

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        """Logits of every item for ``users``, shape ``(B, n_items + 1)``."""
        return self.user[users] @ self.item.T + self.bias


class IRGANSampler(NegativeSampler):
    """IRGAN: negatives from a generator trained by REINFORCE to fool the recommender.

    IRGAN (Wang et al., SIGIR 2017) casts negative sampling as a two-player game. The
    *discriminator* is the recommender being trained: it learns to score a user's
    positives above the items the generator proposes. The *generator* is a second model
    with its own user and item embeddings that defines a distribution over items,

    ``p_θ(j | u) = exp(g_θ(u, j)/τ) / Σ_{i allowed} exp(g_θ(u, i)/τ)``,

    and is trained to propose items the discriminator scores highly — i.e. hard
    negatives that track the recommender as it improves. Drawing an item is not
    differentiable, so the generator follows the policy gradient (REINFORCE,
    Williams 1992):

    ``∇_θ J = E_{j ~ p_θ}[(r(u, j) − b) · ∇_θ log p_θ(j | u)]``,

    where the reward ``r`` is the discriminator's score of the drawn negative (IRGAN's
    ``2·(σ(s) − ½)`` by default) and ``b`` a baseline. Subtracting a baseline — here an
    exponential moving average of past rewards — leaves the gradient unbiased and
    lowers its variance, which is what makes REINFORCE usable at all on a catalogue of
    thousands of items.

    How it plugs into training: :meth:`sample` draws negatives from ``p_θ`` (exactly,
    with ``torch.multinomial`` over the allowed items) and changes nothing else; it
    remembers the draw. The trainer then calls :meth:`learn_from_batch` with a no-grad
    scorer of the recommender: with ``auto_update`` on, the sampler scores its last draw
    and takes one generator step, before the recommender's own step. In a hand-written
    loop, call :meth:`learn_from_batch`, :meth:`update` with the rewards of the last
    draw, or :meth:`generator_step` with any (users, negatives, rewards). Every step records the generator's loss, mean reward, baseline
    and the entropy of ``p_θ`` in ``history_`` (:meth:`dynamics` returns it as a
    DataFrame, for training-dynamics plots): a collapsing entropy means the generator
    has converged on a few items, the mode collapse that GAN-based samplers are known
    for.

    Scale. The generator is matrix factorisation over users (the sampler interface
    passes user ids, so it works for sequential recommenders too; IRGAN pre-trains it,
    here it starts from random embeddings). Logits of the whole catalogue are one
    ``(B, d) × (d, n_items)`` product per batch — cheap on a CPU for catalogues of
    tens of thousands of items. For larger catalogues ``n_candidates`` restricts the
    draw to a uniform pool: negatives then follow the softmax over the pool, ``log_prob``
    still reports the full-softmax probability ``log p_θ(j | u)``, and the REINFORCE
    step uses the pool's softmax (the distribution the draw actually came from).

    Parameters
    ----------
    generator_dim : int, default 32
    temperature : float, default 1.0
    lr : float, default 0.01
        Adam learning rate of the generator.
    baseline : {"moving-average", "none"}, default "moving-average"
    baseline_decay : float, default 0.9
        Weight of the old value in the moving average.
    reward : {"irgan", "score"}, default "irgan"
        ``2·(σ(s) − ½)`` (bounded) or the raw score ``s``.
    n_candidates : int, optional
        Uniform pool size; ``None`` samples from the whole catalogue.
    auto_update : bool, default True
        Take a generator step in :meth:`learn_from_batch` (once per training batch);
        ``False`` freezes the generator under the trainer.
    l2 : float, default 0.0
        Weight decay of the generator's parameters.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0]), np.array([1]), np.arange(1), n_users=1, n_items=6)
    >>> irgan = IRGANSampler(generator_dim=4, lr=0.1, random_state=0).fit(train)
    >>> scores = torch.tensor([0.0, 0.0, -3.0, -3.0, 5.0, -3.0, -3.0])   # the recommender finds item 4 hard
    >>> before = float(irgan.probabilities(torch.tensor([0]))[0, 4])
    >>> for _ in range(60):
    ...     drawn = irgan.sample(torch.tensor([0]), torch.tensor([1]), 8)
    ...     irgan.learn_from_batch(torch.tensor([0]), torch.tensor([1]), drawn, scorer=lambda c: scores[c])
    >>> float(irgan.probabilities(torch.tensor([0]))[0, 4]) > before
    True
    >>> list(irgan.dynamics().columns)
    ['step', 'loss', 'mean_reward', 'baseline', 'entropy']
    """

    family = "adversarial"
    subfamily = "sampled ANG"
    variant = "IRGAN"
    #: drawing needs no scorer; learning gets one in :meth:`learn_from_batch`
    needs_scorer = False

    def __init__(self, generator_dim: int = 32, temperature: float = 1.0, lr: float = 0.01,
                 baseline: str = "moving-average", *, baseline_decay: float = 0.9, reward: str = "irgan",
                 n_candidates: int | None = None, auto_update: bool = True, l2: float = 0.0,
                 exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.generator_dim = check_positive_int("generator_dim", generator_dim)
        self.temperature = check_finite("temperature", temperature, positive=True)
        self.lr = check_finite("lr", lr, positive=True)
        if baseline not in ("moving-average", "none"):
            raise RecnegError(f"baseline must be 'moving-average' or 'none', got {baseline!r}")
        self.baseline = baseline
        self.baseline_decay = check_probability("baseline_decay", baseline_decay)
        if reward not in ("irgan", "score"):
            raise RecnegError(f"reward must be 'irgan' or 'score', got {reward!r}")
        self.reward = reward
        self.n_candidates = None if n_candidates is None else check_positive_int("n_candidates", n_candidates)
        self.auto_update = bool(auto_update)
        self.l2 = check_finite("l2", l2, positive=True, allow_zero=True)

    # -- fitting -----------------------------------------------------------------------
    def _fit(self, train: Interactions) -> None:
        init = make_generator(self.random_state)
        self.generator_ = MFGenerator(self.n_users_, self.n_items_, self.generator_dim, init)
        self.optimizer_ = torch.optim.Adam(self.generator_.parameters(), lr=self.lr, weight_decay=self.l2)
        self.uniform_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)
        self.baseline_value_: float | None = None
        self.history_: list[dict] = []
        self._last: tuple | None = None

    # -- the generator's distribution ---------------------------------------------------
    def _blocked(self, users: torch.Tensor, positives: torch.Tensor | None) -> torch.Tensor:
        """``(B, n_items + 1)`` mask of items the generator may not propose."""
        blocked = torch.zeros(len(users), self.n_items_ + 1, dtype=torch.bool)
        blocked[:, 0] = True
        if self.exclude_positives:
            blocked |= self.positives_.dense_mask(users)
            if positives is not None:
                extra = extra_targets(self, users, positives)
                blocked.scatter_(1, extra, True)  # column 0 (the padding of extra) is blocked anyway
        return blocked

    def _logits(self, users: torch.Tensor, positives: torch.Tensor | None) -> torch.Tensor:
        logits = self.generator_(users) / self.temperature
        return logits.masked_fill(self._blocked(users, positives), float("-inf"))

    def probabilities(self, users: torch.Tensor, positives: torch.Tensor | None = None) -> torch.Tensor:
        """``p_θ(j | u)`` over all items, shape ``(B, n_items + 1)`` (0 for excluded items)."""
        self._check_fitted()
        with torch.no_grad():
            return torch.softmax(self._logits(torch.as_tensor(users, dtype=torch.long), positives), dim=-1)

    def entropy(self, users: torch.Tensor) -> float:
        """Mean entropy (nats) of ``p_θ(· | u)`` over ``users``."""
        probs = self.probabilities(users)
        terms = torch.where(probs > 0, probs * probs.clamp_min(1e-300).log(), torch.zeros(()))
        return float(-terms.sum(-1).mean())

    # -- sampling ----------------------------------------------------------------------
    def _sample(self, users, positives, k, *, per_position, scorer, generator) -> NegativeSample:
        shape = output_shape(positives, k, per_position)
        per_row = math.prod(shape[1:])
        with torch.no_grad():
            log_p = torch.log_softmax(self._logits(users, positives), dim=-1)
        pool = None
        if self.n_candidates is None:
            flat = torch.multinomial(log_p.exp(), per_row, replacement=True, generator=generator)
        else:
            pool = self.uniform_._sample(users, positives, self.n_candidates, per_position=False, scorer=None,
                                         generator=generator).items
            pool_logits = log_p.gather(1, pool).masked_fill(duplicate_mask(pool), float("-inf"))
            pick = torch.multinomial(torch.softmax(pool_logits, dim=-1), per_row, replacement=True,
                                     generator=generator)
            flat = pool.gather(1, pick)
        items = flat.reshape(shape)
        log_prob = log_p.gather(1, flat).reshape(shape)
        # Remembered, not learned from: learn_from_batch and update need the pool.
        self._last = (users, positives, items, pool)
        return NegativeSample(items, log_prob.float())

    def learn_from_batch(self, users, positives, drawn, scorer) -> None:
        """One generator step on the last draw, rewarded by ``scorer`` (with
        ``auto_update``; the trainer calls this once per batch, before the recommender's
        step). ``users``, ``positives`` and ``drawn`` are the trainer's view of the batch;
        the step uses the sampler's own last draw, which is ``drawn`` unless the sampler
        sits inside a composite."""
        super().learn_from_batch(users, positives, drawn, scorer)
        if not self.auto_update or self._last is None:
            return
        _, last_positives, items, _ = self._last
        self.update(self.rewards_from_scores(score_candidates(scorer, items, last_positives)))

    def rewards_from_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """The generator's reward for negatives the discriminator scored ``scores``."""
        if self.reward == "irgan":
            return 2.0 * (torch.sigmoid(scores) - 0.5)
        return scores

    # -- training the generator ------------------------------------------------------------
    def generator_step(self, users: torch.Tensor, negatives: torch.Tensor, rewards: torch.Tensor, *,
                       mask: torch.Tensor | None = None, pools: torch.Tensor | None = None,
                       positives: torch.Tensor | None = None) -> dict:
        """One REINFORCE step of the generator.

        Minimises ``−Σ (r − b) · log p_θ(j | u) / n`` over the ``n`` (unmasked) drawn
        negatives, then moves the baseline ``b`` towards the batch's mean reward.

        Parameters
        ----------
        users : LongTensor, shape (B,)
        negatives : LongTensor, shape (B, ...)
            Items drawn from the generator for each user.
        rewards : Tensor, shape of ``negatives``
        mask : BoolTensor, optional
            False entries (e.g. padding positions) are ignored.
        pools : LongTensor, shape (B, P), optional
            The uniform pools the negatives were drawn from (``n_candidates`` mode).
        positives : LongTensor, optional
            The batch's targets, excluded from the distribution as at sampling time.

        Returns
        -------
        dict
            The record appended to ``history_``.
        """
        self._check_fitted()
        users = torch.as_tensor(users, dtype=torch.long)
        negatives = torch.as_tensor(negatives, dtype=torch.long)
        rewards = torch.as_tensor(rewards, dtype=torch.float32)
        if rewards.shape != negatives.shape or negatives.shape[0] != len(users):
            raise RecnegError(
                f"rewards {tuple(rewards.shape)} and negatives {tuple(negatives.shape)} must have the same "
                f"shape (B, ...) with B = len(users) = {len(users)}"
            )
        # REINFORCE: raise log p(j | u) of draws rewarded above the baseline, lower the rest.
        flat = negatives.reshape(len(users), -1)
        reward = rewards.reshape(len(users), -1)
        keep = torch.ones_like(flat, dtype=torch.bool) if mask is None else torch.as_tensor(mask).reshape(flat.shape)
        n = keep.sum().clamp_min(1)
        mean_reward = float((reward * keep).sum() / n)
        if self.baseline == "none":
            base = 0.0
        else:
            base = mean_reward if self.baseline_value_ is None else self.baseline_value_
        with torch.enable_grad():  # callers may sample inside torch.no_grad()
            loss = self._reinforce_loss(users, positives, flat, keep, reward - base, n, pools)
            self.optimizer_.zero_grad(set_to_none=True)
            loss.backward()
        self.optimizer_.step()
        if self.baseline == "moving-average":
            previous = mean_reward if self.baseline_value_ is None else self.baseline_value_
            self.baseline_value_ = self.baseline_decay * previous + (1 - self.baseline_decay) * mean_reward
        record = {"step": len(self.history_) + 1, "loss": float(loss.detach()), "mean_reward": mean_reward,
                  "baseline": float(base), "entropy": self.entropy(users)}
        self.history_.append(record)
        return record

    def _reinforce_loss(self, users, positives, flat, keep, advantage, n, pools) -> torch.Tensor:
        logits = self._logits(users, positives)
        if pools is None:
            log_p = torch.log_softmax(logits, dim=-1).gather(1, flat)
        else:
            pool_logits = logits.gather(1, pools).masked_fill(duplicate_mask(pools), float("-inf"))
            # Position of each negative in its pool (its first, unmasked occurrence).
            where = (flat.unsqueeze(-1) == pools.unsqueeze(1)).float().argmax(-1)
            log_p = torch.log_softmax(pool_logits, dim=-1).gather(1, where)
        impossible = keep & torch.isinf(log_p)
        if bool(impossible.any()):
            row, col = (int(v) for v in torch.nonzero(impossible)[0])
            raise RecnegError(
                f"negative item {int(flat[row, col])} cannot be drawn for user {int(users[row])} (it is excluded "
                "or outside the pool); pass negatives the generator can propose"
            )
        advantage = torch.where(keep, advantage, torch.zeros(()))
        log_p = torch.where(keep, log_p, torch.zeros(()))
        return -(advantage.detach() * log_p).sum() / n

    def update(self, reward: torch.Tensor) -> dict:
        """REINFORCE step with ``reward`` for the negatives of the last :meth:`sample`
        call (same shape as its ``items``); use when sampling without a scorer."""
        self._check_fitted()
        if self._last is None:
            raise RecnegError("update() needs a previous sample() call; draw negatives first")
        users, positives, items, pool = self._last
        reward = torch.as_tensor(reward, dtype=torch.float32)
        if reward.shape != items.shape:
            raise RecnegError(
                f"reward has shape {tuple(reward.shape)} but the last sample drew {tuple(items.shape)} negatives; "
                "pass one reward per negative"
            )
        mask = (positives > 0).unsqueeze(-1).expand(items.shape) if items.dim() == 3 else None
        # One step per draw: a second call without a new draw would learn from it twice.
        self._last = None
        return self.generator_step(users, items, reward, mask=mask, pools=pool, positives=positives)

    def dynamics(self) -> pd.DataFrame:
        """The generator's training record: one row per step with ``loss``,
        ``mean_reward``, ``baseline`` and ``entropy``."""
        self._check_fitted()
        return pd.DataFrame(self.history_, columns=["step", "loss", "mean_reward", "baseline", "entropy"])


from .registry import register_sampler  # noqa: E402  (registration needs the classes above)

register_sampler("irgan", IRGANSampler)
