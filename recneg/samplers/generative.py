"""Generative adversarial negative generation: a generator *synthesises* negative embeddings.

The survey (Ma et al., arXiv 2409.07237, section 3.3) splits adversarial negative
generation in two. *Sampled* ANG (IRGAN, :mod:`recneg.samplers.adversarial`) trains a
generator that picks real items. *Generative* ANG trains a generator whose output is a
vector in the item-embedding space that need not belong to any item (GAN-style
generators such as PURE, Zhou et al., KDD 2021). Because the negative is a continuous
function of the generator's parameters, the generator learns by ordinary
back-propagation through the recommender's score: no REINFORCE, no sampling variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .._errors import RecnegError, check_finite, check_positive_int, check_probability
from ..data.interactions import Interactions
from ..losses import bpr_loss
from .base import EmbeddingNegatives
from .static import UniformSampler

__all__ = ["EmbeddingGenerator", "GenerativeAdversarialNegatives", "SyntheticNegatives"]


class EmbeddingGenerator(nn.Module):
    """``G(e_u, z)``: a two-layer MLP from a user vector and Gaussian noise to an
    item-space vector, scaled into the ball of radius ``radius``.

    The radius keeps synthetic negatives at the scale of real item embeddings: without
    it the generator wins the game by growing its output's norm along the user vector,
    and every positive loses to it.
    """

    def __init__(self, dim: int, noise_dim: int, hidden: int, generator: torch.Generator) -> None:
        super().__init__()
        self.dim, self.noise_dim = dim, noise_dim
        self.hidden = nn.Linear(dim + noise_dim, hidden)
        self.out = nn.Linear(hidden, dim)
        with torch.no_grad():  # seeded initialisation, independent of the global RNG
            for layer in (self.hidden, self.out):
                bound = 1 / math.sqrt(layer.in_features)
                layer.weight.copy_(torch.empty_like(layer.weight).uniform_(-bound, bound, generator=generator))
                layer.bias.zero_()

    def forward(self, user_vectors: torch.Tensor, noise: torch.Tensor, radius: float) -> torch.Tensor:
        """``user_vectors`` (B, d) and ``noise`` (B, k, z) → synthetic vectors (B, k, d)."""
        users = user_vectors.unsqueeze(1).expand(-1, noise.shape[1], -1)
        raw = self.out(torch.relu(self.hidden(torch.cat([users, noise], dim=-1))))
        norm = raw.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return raw * (radius / torch.maximum(norm, torch.full_like(norm, radius)))


@dataclass
class SyntheticNegatives:
    """The negatives of one discriminator step of :class:`GenerativeAdversarialNegatives`.

    Attributes
    ----------
    vectors : Tensor, shape (B, k, d)
        Synthetic negative embeddings (detached from the generator).
    real_items : LongTensor, shape (B, n_real)
        Uniform real negatives trained alongside them (empty when ``n_real=0``).
    """

    vectors: torch.Tensor
    real_items: torch.Tensor


class GenerativeAdversarialNegatives(EmbeddingNegatives):
    """Generative ANG: a GAN generator synthesises negative embeddings for MF/BPR.

    The game has two players. The **generator** ``G_θ(e_u, z)`` maps a user vector
    and noise ``z ~ N(0, I)`` to a vector ``ẽ`` in item space, kept within the radius
    ``r`` of real items (the ``norm_quantile`` quantile of the item-embedding norms). The
    **discriminator** is the recommender with score ``s(u, i) = <e_u, e_i>``; it sees a
    synthetic vector as a negative item with score ``<e_u, ẽ>``. They take turns:

    - generator step (non-saturating GAN loss, recommender frozen):
      ``min_θ  −log σ(<e_u, G_θ(e_u, z)>)`` — propose vectors the recommender scores
      like positives;
    - recommender step (BPR, generator frozen):
      ``min_φ  −log σ(s(u, pos) − <e_u, ẽ>)`` over the synthetic negatives, plus the
      usual BPR term for ``n_real`` uniform real negatives.

    Two consequences follow from the negative not being an item, and the chapter
    measures both. First, a synthetic negative moves the user and the positive but **no
    other item**: with ``n_real=0`` items the user never interacted with are never pushed
    down, so recneg mixes in real uniform negatives by default. Second, the
    generator's best response to a frozen recommender is deterministic — the point of
    the ball closest to the user's direction, ``r · e_u/‖e_u‖`` — so a free generator
    tends to ignore its noise (mode collapse). ``history_`` records, per step, the
    cosine between the synthetic vector and the user (``alignment``) and between two
    synthetic vectors of the same user drawn with different noise
    (``noise_similarity``, 1 means the noise is ignored).

    With :class:`~recneg.training.Trainer` (``TrainConfig(loss="bpr")``) each batch is one
    round (:meth:`batch_loss`), and every history row gains the epoch's means of the
    generator's record (``generator_loss``, ``synthetic_score``, ``alignment``,
    ``noise_similarity``, ``radius``) and ``positive_score``, the recommender's mean
    score of the batches' positives. The items it touches are the positives and the real
    negatives; synthetic vectors move no item.

    Which real items does a synthetic negative stand for? :meth:`nearest_items` returns,
    for each synthetic vector, the item the user has not interacted with whose
    embedding is closest in cosine; the false-negative audit of the synthetic world
    counts those.

    Parameters
    ----------
    noise_dim : int, default 16
    hidden : int, default 64
        Width of the generator's hidden layer.
    lr : float, default 1e-3
        Adam learning rate of the generator.
    n_real : int, default 1
        Uniform real negatives per (user, positive) pair in each recommender step.
    norm_quantile : float, default 0.5
        Quantile of the current item-embedding norms used as the radius ``r``.
    generator_steps : int, default 1
        Generator steps before each recommender step in :meth:`bpr_loss`.
    exclude_positives : bool, default True
        Real negatives and :meth:`nearest_items` skip the user's training items.
    random_state : int, torch.Generator or None

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> from recneg.models import BPRMF
    >>> train = Interactions(np.array([0, 0, 1]), np.array([1, 2, 3]), np.arange(3), n_users=2, n_items=6)
    >>> model = BPRMF(n_users=2, n_items=6, dim=8, random_state=0)
    >>> gan = GenerativeAdversarialNegatives(noise_dim=4, hidden=16, random_state=0).fit(train)
    >>> optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    >>> loss = gan.bpr_loss(model, torch.tensor([0, 0, 1]), torch.tensor([1, 2, 3]), num_negatives=2)
    >>> loss.backward(); optimiser.step()
    >>> list(gan.dynamics().columns)
    ['step', 'generator_loss', 'synthetic_score', 'alignment', 'noise_similarity', 'radius']
    >>> gan.nearest_items(model, torch.tensor([0, 1]), num_negatives=3).shape
    torch.Size([2, 3])
    """

    family = "adversarial"
    subfamily = "generative ANG"

    def __init__(self, noise_dim: int = 16, hidden: int = 64, lr: float = 1e-3, *, n_real: int = 1,
                 norm_quantile: float = 0.5, generator_steps: int = 1, exclude_positives: bool = True,
                 random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.noise_dim = check_positive_int("noise_dim", noise_dim)
        self.hidden = check_positive_int("hidden", hidden)
        self.lr = check_finite("lr", lr, positive=True)
        if isinstance(n_real, bool) or not isinstance(n_real, int) or n_real < 0:
            raise RecnegError(f"n_real must be an integer >= 0, got {n_real!r}")
        self.n_real = n_real
        self.norm_quantile = check_probability("norm_quantile", norm_quantile)
        if self.norm_quantile == 0:
            raise RecnegError("norm_quantile must be > 0 (a radius of 0 leaves the generator nothing to propose), got 0")
        self.generator_steps = check_positive_int("generator_steps", generator_steps)

    # -- fitting ---------------------------------------------------------------------------
    def _fit(self, train: Interactions) -> None:
        """Fit the uniform sampler of real negatives; the generator network is built at
        its first use, when the embedding size is known."""
        self.uniform_ = UniformSampler(exclude_positives=self.exclude_positives).fit(train)
        self.network_: EmbeddingGenerator | None = None
        self.optimizer_: torch.optim.Optimizer | None = None
        self.history_: list[dict] = []
        self._epoch_first_step, self._positive_scores = 0, []

    def _network(self, dim: int) -> EmbeddingGenerator:
        if self.network_ is None:
            self.network_ = EmbeddingGenerator(dim, self.noise_dim, self.hidden, self._generator)
            self.optimizer_ = torch.optim.Adam(self.network_.parameters(), lr=self.lr)
        elif self.network_.dim != dim:
            raise RecnegError(
                f"the generator was built for embeddings of size {self.network_.dim}, got {dim}; "
                "use one GenerativeAdversarialNegatives per model"
            )
        return self.network_

    # -- the generator ---------------------------------------------------------------------
    def radius(self, item_table: torch.Tensor) -> float:
        """``r``: the ``norm_quantile`` quantile of the item-embedding norms (padding row 0 excluded)."""
        with torch.no_grad():
            return float(torch.quantile(item_table[1:].norm(dim=-1), self.norm_quantile))

    def generate(self, user_vectors: torch.Tensor, num_negatives: int = 1, *, radius: float,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Synthetic negatives ``G_θ(e_u, z)``, shape ``(B, num_negatives, d)``; differentiable
        with respect to the generator (and to ``user_vectors`` unless detached)."""
        self._check_fitted()
        k = check_positive_int("num_negatives", num_negatives)
        if user_vectors.dim() != 2:
            raise RecnegError(f"user_vectors must have shape (B, d), got {tuple(user_vectors.shape)}")
        network = self._network(user_vectors.shape[1])
        gen = self._generator if generator is None else generator
        noise = torch.randn(user_vectors.shape[0], k, self.noise_dim, generator=gen).to(user_vectors)
        return network(user_vectors, noise, radius)

    def generator_step(self, user_vectors: torch.Tensor, item_table: torch.Tensor, num_negatives: int = 1) -> dict:
        """One step of the generator against a frozen recommender:
        ``min_θ mean −log σ(<e_u, G_θ(e_u, z)>)``. Returns the record appended to ``history_``."""
        self._check_fitted()
        users = user_vectors.detach()
        r = self.radius(item_table)
        with torch.enable_grad():  # callers may run inside torch.no_grad()
            fake = self.generate(users, num_negatives, radius=r)
            scores = (fake * users.unsqueeze(1)).sum(-1)
            loss = -F.logsigmoid(scores).mean()
            self.optimizer_.zero_grad(set_to_none=True)
            loss.backward()
        self.optimizer_.step()
        with torch.no_grad():
            pair = self.generate(users, 2, radius=r)
            record = {
                "step": len(self.history_) + 1,
                "generator_loss": float(loss.detach()),
                "synthetic_score": float(scores.detach().mean()),
                "alignment": float(F.cosine_similarity(fake.detach(), users.unsqueeze(1), dim=-1).mean()),
                "noise_similarity": float(F.cosine_similarity(pair[:, 0], pair[:, 1], dim=-1).mean()),
                "radius": r,
            }
        self.history_.append(record)
        return record

    # -- the recommender's side --------------------------------------------------------------
    def negatives(self, user_vectors: torch.Tensor, item_table: torch.Tensor, users: torch.Tensor,
                  positives: torch.Tensor, num_negatives: int = 1,
                  generator: torch.Generator | None = None) -> SyntheticNegatives:
        """Synthetic negatives (no gradient to the generator) and the uniform real ones."""
        self._check_fitted()
        with torch.no_grad():
            vectors = self.generate(user_vectors.detach(), num_negatives, radius=self.radius(item_table),
                                    generator=generator)
        if self.n_real:
            gen = self._generator if generator is None else generator
            real = self.uniform_.sample(users, positives, self.n_real, generator=gen).items
        else:
            real = torch.empty(len(users), 0, dtype=torch.long)
        return SyntheticNegatives(vectors, real)

    def _discriminator(self, model, users, positives, num_negatives, generator):
        """The recommender's loss, the negatives it was computed against and the positives' scores."""
        users = torch.as_tensor(users, dtype=torch.long)
        positives = torch.as_tensor(positives, dtype=torch.long)
        device = model.item_embedding.weight.device
        user_vectors = model.user_embedding(users.to(device))
        positive_scores = (user_vectors * model.item_embedding(positives.to(device))).sum(-1)
        drawn = self.negatives(user_vectors, model.item_embedding.weight, users, positives, num_negatives, generator)
        negative_scores = (user_vectors.unsqueeze(1) * drawn.vectors).sum(-1)
        if drawn.real_items.shape[1]:
            real_scores = (user_vectors.unsqueeze(1) * model.item_embedding(drawn.real_items.to(device))).sum(-1)
            negative_scores = torch.cat([negative_scores, real_scores], dim=1)
        return bpr_loss(positive_scores, negative_scores), drawn, positive_scores.detach()

    def discriminator_loss(self, model, users: torch.Tensor, positives: torch.Tensor, num_negatives: int = 1,
                           generator: torch.Generator | None = None) -> torch.Tensor:
        """BPR loss (:func:`recneg.losses.bpr_loss`) of the recommender
        (``user_embedding``/``item_embedding`` tables, e.g. :class:`recneg.models.BPRMF`)
        against ``num_negatives`` synthetic and ``n_real`` real negatives per pair,
        averaged over all of them. The generator is frozen."""
        return self._discriminator(model, users, positives, num_negatives, generator)[0]

    def _generator_steps(self, model, users: torch.Tensor, num_negatives: int) -> None:
        users = torch.as_tensor(users, dtype=torch.long).to(model.item_embedding.weight.device)
        for _ in range(self.generator_steps):
            self.generator_step(model.user_embedding(users), model.item_embedding.weight, num_negatives)

    def bpr_loss(self, model, users: torch.Tensor, positives: torch.Tensor, num_negatives: int = 1,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """One round of the game: ``generator_steps`` generator steps on the batch's users,
        then the recommender's loss (:meth:`discriminator_loss`) for the caller to minimise."""
        self._generator_steps(model, users, num_negatives)
        return self.discriminator_loss(model, users, positives, num_negatives, generator)

    # -- the trainer's side ----------------------------------------------------------------------
    def batch_loss(self, model, batch) -> torch.Tensor:
        """One round of the game on a trainer's :class:`~recneg.training.Batch`, as
        :meth:`bpr_loss`; the real negatives are reported as touched."""
        self._generator_steps(model, batch.users, batch.num_negatives)
        loss, drawn, positive_scores = self._discriminator(model, batch.users, batch.positives,
                                                           batch.num_negatives, batch.generator)
        batch.touch(drawn.real_items)
        batch.negatives = len(batch.users) * (batch.num_negatives + self.n_real)
        self._positive_scores.append(float(positive_scores.mean()))
        return loss

    def on_epoch_start(self, epoch: int) -> None:
        """Start the epoch's summary (see :meth:`on_epoch_end`)."""
        super().on_epoch_start(epoch)
        self._check_fitted()
        self._epoch_first_step, self._positive_scores = len(self.history_), []

    def on_epoch_end(self, epoch: int, record: dict) -> None:
        """Add the epoch's means of the generator's record and ``positive_score`` to the
        trainer's history row ``record``."""
        super().on_epoch_end(epoch, record)
        steps = pd.DataFrame(self.history_[self._epoch_first_step:], columns=self._COLUMNS)
        record.update({column: float(steps[column].mean()) for column in self._COLUMNS[1:]})
        record["positive_score"] = float(np.mean(self._positive_scores)) if self._positive_scores else math.nan

    # -- what the synthetic negatives stand for --------------------------------------------------
    def nearest_items(self, model, users: torch.Tensor, num_negatives: int = 1,
                      generator: torch.Generator | None = None) -> torch.LongTensor:
        """For each of ``num_negatives`` synthetic vectors per user, the item closest in
        cosine among those the user has not interacted with in training (if
        ``exclude_positives``); shape ``(B, num_negatives)``."""
        self._check_fitted()
        users = torch.as_tensor(users, dtype=torch.long)
        with torch.no_grad():
            table = model.item_embedding.weight
            fake = self.generate(model.user_embedding(users), num_negatives, radius=self.radius(table),
                                 generator=generator)
            cosine = F.normalize(fake, dim=-1) @ F.normalize(table, dim=-1).T        # (B, k, n_items + 1)
            blocked = torch.zeros(len(users), table.shape[0], dtype=torch.bool)
            blocked[:, 0] = True
            if self.exclude_positives:
                blocked |= self.uniform_.positives_.dense_mask(users)
            return cosine.masked_fill(blocked.unsqueeze(1), float("-inf")).argmax(-1)

    _COLUMNS = ["step", "generator_loss", "synthetic_score", "alignment", "noise_similarity", "radius"]

    def dynamics(self) -> pd.DataFrame:
        """One row per generator step: ``generator_loss``, mean ``synthetic_score``
        ``<e_u, ẽ>``, ``alignment`` cos(ẽ, e_u), ``noise_similarity`` and ``radius``."""
        self._check_fitted()
        return pd.DataFrame(self.history_, columns=self._COLUMNS)

    def __repr__(self) -> str:
        return (f"GenerativeAdversarialNegatives(noise_dim={self.noise_dim}, hidden={self.hidden}, lr={self.lr}, "
                f"n_real={self.n_real}, norm_quantile={self.norm_quantile})")


from .registry import register_method  # noqa: E402  (registration needs the classes above)

register_method("generative-adversarial", GenerativeAdversarialNegatives)
