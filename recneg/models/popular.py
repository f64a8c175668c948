"""The most-popular baseline: recommend the items with most training interactions."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._errors import RecnegError
from ..data.interactions import Interactions

__all__ = ["MostPopular"]


class MostPopular(nn.Module):
    """Score every item by its number of interactions in the training split.

    The same ranking for every user; it is the floor a personalised model must clear.
    Items with equal counts are ordered by a fixed random permutation (so that ties do
    not all count against the target, as ``recneg.evaluation`` counts them).

    Parameters
    ----------
    train : Interactions, optional
        The training split; when given the model is fitted at once (same as
        ``MostPopular().fit(train)``).
    random_state : int or None, default 0
        Seed of the tie-breaking permutation.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from recneg.data import Interactions
    >>> train = Interactions(np.array([0, 1, 1]), np.array([2, 2, 3]), np.arange(3),
    ...                      n_users=2, n_items=3)
    >>> model = MostPopular(train)
    >>> model.score_all(torch.tensor([0]), None).argmax(dim=1).tolist()
    [2]
    """

    maxlen = None

    def __init__(self, train: Interactions | None = None, *, random_state: int | None = 0) -> None:
        super().__init__()
        self.random_state = random_state
        self.register_buffer("scores", torch.empty(0))
        if train is not None:
            self.fit(train)

    def fit(self, train: Interactions) -> "MostPopular":
        """Count each item's training interactions."""
        if not isinstance(train, Interactions):
            raise RecnegError(f"MostPopular.fit expects the training Interactions, got {type(train).__name__}")
        counts = torch.as_tensor(train.item_counts(), dtype=torch.float64)
        rng = np.random.default_rng(self.random_state)
        # A tie-breaker below 1 never reorders items with different counts.
        tie_break = torch.as_tensor(rng.permutation(len(counts)) / (len(counts) + 1.0))
        scores = (counts + tie_break).float()
        scores[0] = float("-inf")
        self.scores = scores.to(self.scores.device)
        self.n_items = int(train.n_items)
        return self

    def _check_fitted(self) -> None:
        if self.scores.numel() == 0:
            raise RecnegError("MostPopular is not fitted; call .fit(split.train) first")

    def score_all(self, users: torch.Tensor, histories: torch.Tensor | None = None) -> torch.Tensor:
        """The popularity scores, repeated for each user: ``(B, n_items + 1)``."""
        self._check_fitted()
        return self.scores.expand(len(users), -1).clone()

    def scorer(self, users: torch.Tensor, histories: torch.Tensor | None = None):
        """No-grad scorer ``candidates -> popularity of each candidate``."""
        self._check_fitted()
        scores = self.scores

        def score(candidates: torch.Tensor) -> torch.Tensor:
            candidates = torch.as_tensor(candidates)
            return scores[candidates.to(scores.device)].to(candidates.device)

        return score
