"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018).

The architecture follows the authors' reference implementation (and its widely used
PyTorch port): item embeddings scaled by ``sqrt(d)`` plus learned positional
embeddings, ``n_blocks`` blocks of causal self-attention and a point-wise feed-forward
network, a final LayerNorm, and output scores that reuse the item embedding matrix.

Two details differ from a plain transformer and are kept on purpose:

* **Pre-LN with the reference's residuals.** A block computes
  ``q = LN(x); x = q + Attn(q, x, x); y = LN(x); x = y + FFN(y)`` — the residual
  branches start from the *normalised* input, as in the reference code.
* **Padding.** Histories are left-padded with item 0. Padded positions are zeroed after
  every block and are masked out as attention keys, and positions are counted from the
  *right* end of the window (the most recent item has position 0). With a window of
  exactly ``maxlen`` this is the reference's position scheme; the masking makes the
  outputs of real positions independent of how much padding precedes them, so a batch
  can be trimmed to its longest history without changing any score.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .._errors import RecnegError, check_positive_int
from ._common import check_dropout, check_item_ids, init_parameters, make_scorer, score_against

__all__ = ["SASRec"]


class _CausalSelfAttention(nn.Module):
    """Single- or multi-head attention where queries come from the normalised input."""

    def __init__(self, hidden: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)
        self.dropout = dropout

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        # queries may be fewer than keys: inference asks only for the last position
        batch, length, hidden = queries.shape
        head_dim = hidden // self.n_heads

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, x.shape[1], self.n_heads, head_dim).transpose(1, 2)

        attended = F.scaled_dot_product_attention(
            heads(self.query(queries)),
            heads(self.key(keys)),
            heads(self.value(keys)),
            attn_mask=bias[:, None],
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(attended.transpose(1, 2).reshape(batch, length, hidden))


class _PointWiseFeedForward(nn.Module):
    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.inner = nn.Linear(hidden, hidden)
        self.outer = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.outer(self.dropout(F.relu(self.inner(x)))))


class _Block(nn.Module):
    def __init__(self, hidden: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-8)
        self.attention = _CausalSelfAttention(hidden, n_heads, dropout)
        self.forward_norm = nn.LayerNorm(hidden, eps=1e-8)
        self.feed_forward = _PointWiseFeedForward(hidden, dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        normed = self.attention_norm(x)
        if last_only:  # the last position still attends to every earlier one
            normed, bias = normed[:, -1:], bias[:, -1:]
        x = normed + self.attention(normed, x, bias)
        return self.feed_forward(self.forward_norm(x))


class SASRec(nn.Module):
    """Self-attentive sequential recommender (Kang & McAuley, ICDM 2018).

    Parameters
    ----------
    n_items : int
        Number of items; ids are ``1..n_items`` and ``0`` is padding.
    hidden : int, default 50
        Embedding and hidden size ``d`` (also the feed-forward width, as in the paper).
    n_blocks : int, default 2
        Number of self-attention blocks.
    n_heads : int, default 1
        Attention heads; must divide ``hidden``.
    dropout : float, default 0.2
        Dropout on embeddings, attention weights and feed-forward outputs.
    maxlen : int, default 200
        Longest history the model reads; longer histories keep their last ``maxlen``
        items. Positional embeddings exist for ``maxlen`` positions.
    random_state : int or None, default None
        Seed of the weight initialisation (Xavier-normal, as the reference).

    Attributes
    ----------
    maxlen : int
    item_embedding : nn.Embedding
        ``(n_items + 1, hidden)``; row 0 (padding) stays zero. Also the output layer.

    Examples
    --------
    >>> import torch
    >>> model = SASRec(n_items=20, hidden=8, maxlen=5, random_state=0)
    >>> histories = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 6]])
    >>> model(histories).shape
    torch.Size([2, 5, 8])
    >>> scores = model.score_all(torch.tensor([0, 1]), histories)
    >>> scores.shape, bool(torch.isinf(scores[:, 0]).all())
    (torch.Size([2, 21]), True)
    """

    def __init__(
        self,
        n_items: int,
        hidden: int = 50,
        n_blocks: int = 2,
        n_heads: int = 1,
        dropout: float = 0.2,
        maxlen: int = 200,
        random_state: int | None = None,
    ) -> None:
        super().__init__()
        self.n_items = check_positive_int("n_items", n_items)
        self.hidden = check_positive_int("hidden", hidden)
        self.n_blocks = check_positive_int("n_blocks", n_blocks)
        self.n_heads = check_positive_int("n_heads", n_heads)
        if self.hidden % self.n_heads:
            raise RecnegError(
                f"n_heads={n_heads} does not divide hidden={hidden}; pick n_heads among the "
                "divisors of hidden"
            )
        self.dropout = check_dropout(dropout)
        self.maxlen = check_positive_int("maxlen", maxlen)
        self.random_state = random_state

        self.item_embedding = nn.Embedding(self.n_items + 1, self.hidden, padding_idx=0)
        self.position_embedding = nn.Embedding(self.maxlen, self.hidden)
        self.embedding_dropout = nn.Dropout(self.dropout)
        self.blocks = nn.ModuleList(
            _Block(self.hidden, self.n_heads, self.dropout) for _ in range(self.n_blocks)
        )
        self.final_norm = nn.LayerNorm(self.hidden, eps=1e-8)
        init_parameters(self, random_state)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def extra_repr(self) -> str:
        return (
            f"n_items={self.n_items}, hidden={self.hidden}, n_blocks={self.n_blocks}, "
            f"n_heads={self.n_heads}, dropout={self.dropout}, maxlen={self.maxlen}"
        )

    # -- encoder -------------------------------------------------------------------------
    def _check_histories(self, histories) -> torch.Tensor:
        histories = torch.as_tensor(histories, device=self.item_embedding.weight.device)
        if histories.dim() != 2:
            raise RecnegError(
                f"histories must have shape (batch, length), got {tuple(histories.shape)}; "
                "left-pad them with 0 (EvalSet.padded_histories does)"
            )
        check_item_ids(histories, self.n_items, "histories")
        if histories.shape[1] > self.maxlen:
            # Only the most recent maxlen items are read; right-anchored positions make
            # dropping the oldest columns exactly what a shorter window would see.
            histories = histories[:, -self.maxlen :]
        return histories.long()

    def forward(self, histories: torch.Tensor) -> torch.Tensor:
        """Hidden states of every position.

        Parameters
        ----------
        histories : LongTensor, shape (B, L)
            Left-padded item ids (0 = padding), oldest first. ``L`` may be shorter than
            ``maxlen``; a longer ``L`` keeps the last ``maxlen`` columns.

        Returns
        -------
        Tensor, shape (B, L', d) with ``L' = min(L, maxlen)``
            Position ``t`` has read items ``0..t`` only (causal). Padded positions are 0.
        """
        return self._encode(self._check_histories(histories), last_only=False)

    def _encode(self, histories: torch.Tensor, last_only: bool) -> torch.Tensor:
        """The blocks over checked histories; with ``last_only`` the final block computes
        the last position alone, ``(B, 1, d)``, which is all that scoring the next item reads."""
        length = histories.shape[1]
        valid = histories != 0
        positions = torch.arange(length - 1, -1, -1, device=histories.device)
        x = self.item_embedding(histories) * math.sqrt(self.hidden)
        x = x + self.position_embedding(positions)[None]
        x = self.embedding_dropout(x) * valid[..., None]
        causal = torch.ones(length, length, dtype=torch.bool, device=histories.device).tril_()
        eye = torch.eye(length, dtype=torch.bool, device=histories.device)
        # A padded query may attend to itself only: it needs one allowed key (an empty
        # row would give NaN) and its output is zeroed anyway.
        allowed = causal[None] & (valid[:, None, :] | eye[None])
        # One additive mask for all blocks: attention would otherwise convert the
        # boolean mask again in every block.
        bias = torch.zeros(allowed.shape, dtype=x.dtype, device=x.device).masked_fill_(~allowed, float("-inf"))
        for i, block in enumerate(self.blocks):
            last = last_only and i == len(self.blocks) - 1
            if last:
                valid = valid[:, -1:]
            x = block(x, bias, last_only=last) * valid[..., None]
        return self.final_norm(x) * valid[..., None]

    # -- scoring -------------------------------------------------------------------------
    def score_items(self, hidden: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Dot-product scores of ``items`` against hidden states.

        Parameters
        ----------
        hidden : Tensor, shape (B, L, d) or (B, d)
        items : LongTensor, shape (B, L, k) or (B, k)
            Per-position candidates, or candidates shared by all positions. Score one
            item per position (e.g. the positive targets ``(B, L)``) as
            ``score_items(hidden, targets[..., None])[..., 0]``.

        Returns
        -------
        Tensor
            (B, L, k) when ``hidden`` is (B, L, d); (B, k) when it is (B, d) and the
            items are (B, k).
        """
        return score_against(hidden, self.item_embedding(items.to(hidden.device)), items)

    def score_catalogue(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every item, ``(..., n_items + 1)``, with column 0 set to ``-inf``."""
        scores = hidden @ self.item_embedding.weight.T
        scores[..., 0] = float("-inf")
        return scores

    def score_all(self, users: torch.Tensor, histories: torch.Tensor) -> torch.Tensor:
        """Scores of every item for the next interaction, shape ``(B, n_items + 1)``.

        ``users`` is ignored (SASRec reads only the history); column 0 is ``-inf``. Equal to
        ``score_catalogue(forward(histories)[:, -1])`` up to float rounding, at a fraction of
        the cost: columns that are padding in every row are dropped (the masking and
        right-anchored positions make them irrelevant) and the last block computes the last
        position only.
        """
        histories = self._check_histories(histories)
        real = (histories != 0).any(dim=0).nonzero()
        first = int(real[0]) if len(real) else max(histories.shape[1] - 1, 0)
        return self.score_catalogue(self._encode(histories[:, first:], last_only=True)[:, -1])

    def scorer(self, users: torch.Tensor, histories: torch.Tensor):
        """A no-grad scorer over the hidden states of ``histories`` (see :meth:`scorer_from_hidden`)."""
        with torch.no_grad():
            hidden = self.forward(histories)
        return self.scorer_from_hidden(hidden)

    def scorer_from_hidden(self, hidden: torch.Tensor):
        """A no-grad scorer from hidden states the caller already has.

        The trainer passes the hidden states of its current batch, so a dynamic sampler
        scores candidates without a second forward pass. They are detached: mining
        negatives must not add to the computation graph.

        Returns
        -------
        callable
            ``candidates (B, P) or (B, L, P) -> scores (B, L, P)`` under
            ``torch.no_grad()``, on the candidates' device.
        """
        return make_scorer(hidden.detach(), self.item_embedding)
