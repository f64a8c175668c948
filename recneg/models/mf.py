"""BPR-MF: matrix factorisation trained for pairwise ranking (Rendle et al., UAI 2009), and its
cosine variant with a temperature, the usual encoder of contrastive (InfoNCE) training."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .._errors import RecnegError, check_finite, check_positive_int
from ._common import make_scorer, score_against

__all__ = ["BPRMF", "CosineMF"]


class BPRMF(nn.Module):
    """Matrix factorisation: the score of item ``i`` for user ``u`` is ``<p_u, q_i>``.

    Rendle et al. (UAI 2009) train it with the BPR loss on (user, positive, negative)
    triples; in recneg the loss and the sampler are chosen by the
    :class:`~recneg.training.Trainer`, so the same model also trains with sampled
    softmax or full cross-entropy.

    Parameters
    ----------
    n_users : int
        Users are ``0..n_users - 1``.
    n_items : int
        Items are ``1..n_items``; ``0`` is padding and its embedding stays zero.
    dim : int, default 64
        Embedding dimension.
    init_std : float, default 0.1
        Standard deviation of the Gaussian initial embeddings.
    random_state : int or None, default None
        Seed of the initialisation.

    Attributes
    ----------
    maxlen : None
        The model is not sequential: evaluation passes it the last history item only,
        and :meth:`score_all` ignores the histories.

    Examples
    --------
    >>> import torch
    >>> model = BPRMF(n_users=3, n_items=5, dim=4, random_state=0)
    >>> model.score_all(torch.tensor([0, 2]), None).shape
    torch.Size([2, 6])
    >>> score = model.scorer(torch.tensor([0, 2]))
    >>> score(torch.tensor([[1, 2, 3], [4, 5, 1]])).shape
    torch.Size([2, 3])
    """

    maxlen = None

    def __init__(self, n_users: int, n_items: int, dim: int = 64, init_std: float = 0.1,
                 random_state: int | None = None) -> None:
        super().__init__()
        self.n_users = check_positive_int("n_users", n_users)
        self.n_items = check_positive_int("n_items", n_items)
        self.dim = check_positive_int("dim", dim)
        self.init_std = check_finite("init_std", init_std, positive=True)
        self.random_state = random_state
        self.user_embedding = nn.Embedding(self.n_users, self.dim)
        self.item_embedding = nn.Embedding(self.n_items + 1, self.dim, padding_idx=0)
        with torch.random.fork_rng(devices=[]):
            if random_state is not None:
                torch.manual_seed(int(random_state))
            nn.init.normal_(self.user_embedding.weight, std=self.init_std)
            nn.init.normal_(self.item_embedding.weight, std=self.init_std)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def extra_repr(self) -> str:
        return f"n_users={self.n_users}, n_items={self.n_items}, dim={self.dim}"

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        """User vectors, shape ``(B, dim)`` — the "hidden states" of this model."""
        users = torch.as_tensor(users, device=self.user_embedding.weight.device)
        if users.numel() and (int(users.min()) < 0 or int(users.max()) >= self.n_users):
            raise RecnegError(
                f"user ids {int(users.min())}..{int(users.max())} lie outside "
                f"0..{self.n_users - 1}; build the model with the split's n_users"
            )
        return self.user_embedding(users.long())

    def score_items(self, hidden: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of ``items`` (B, k) or (B, L, k) for user vectors ``hidden`` (B, dim)."""
        return score_against(hidden, self.item_embedding(items.to(hidden.device)), items)

    def score_catalogue(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every item, ``(B, n_items + 1)``, with column 0 set to ``-inf``."""
        scores = hidden @ self.item_embedding.weight.T
        scores[..., 0] = float("-inf")
        return scores

    def score_all(self, users: torch.Tensor, histories: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of every item, shape ``(B, n_items + 1)``; ``histories`` is ignored."""
        return self.score_catalogue(self.forward(users))

    def scorer(self, users: torch.Tensor, histories: torch.Tensor | None = None):
        """No-grad scorer ``candidates (B, P) -> (B, P)`` (or (B, L, P) -> (B, L, P))."""
        with torch.no_grad():
            hidden = self.forward(users)
        return self.scorer_from_hidden(hidden)

    def scorer_from_hidden(self, hidden: torch.Tensor):
        """No-grad scorer over user vectors the caller already computed (detached)."""
        return make_scorer(hidden.detach(), self.item_embedding)


class CosineMF(BPRMF):
    """Matrix factorisation with cosine scores over a temperature: ``cos(p_u, q_i) / τ``.

    Contrastive recommenders score with normalised embeddings and divide by a
    temperature ``τ`` (Wu et al., TOIS 2024): with a sampled softmax the loss is then
    InfoNCE, and ``τ`` alone decides how sharply the loss concentrates on the negatives
    that score close to the positive. Scores are bounded by ``±1/τ``, so unlike
    :class:`BPRMF` the model cannot make a temperature irrelevant by growing its
    embeddings.

    Parameters
    ----------
    n_users, n_items, dim, init_std, random_state
        As in :class:`BPRMF`.
    temperature : float, default 0.1
        ``τ > 0``.

    Examples
    --------
    >>> import torch
    >>> model = CosineMF(n_users=2, n_items=4, dim=3, temperature=0.5, random_state=0)
    >>> float(model.score_all(torch.tensor([0])).detach()[0, 1:].abs().max()) <= 2.0 + 1e-6   # |cos| / 0.5
    True
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 64, temperature: float = 0.1,
                 init_std: float = 0.1, random_state: int | None = None) -> None:
        super().__init__(n_users, n_items, dim=dim, init_std=init_std, random_state=random_state)
        self.temperature = check_finite("temperature", temperature, positive=True)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, temperature={self.temperature:g}"

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        """Unit user vectors divided by the temperature, shape ``(B, dim)``."""
        return F.normalize(super().forward(users), dim=-1) / self.temperature

    def _item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        # The padding row is zero and stays zero: normalize() divides by max(norm, eps).
        return F.normalize(self.item_embedding(items), dim=-1)

    def score_items(self, hidden: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of ``items`` (B, k) or (B, L, k) for the hidden states (B, dim)."""
        return score_against(hidden, self._item_vectors(items.to(hidden.device)), items)

    def score_catalogue(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every item, ``(B, n_items + 1)``, with column 0 set to ``-inf``."""
        scores = hidden @ F.normalize(self.item_embedding.weight, dim=-1).T
        scores[..., 0] = float("-inf")
        return scores

    def scorer_from_hidden(self, hidden: torch.Tensor):
        """No-grad scorer over user vectors the caller already computed (detached)."""
        return make_scorer(hidden.detach(), self._item_vectors)
