"""Cross-batch negatives: a FIFO memory bank of recently encoded item embeddings.

In-batch negatives are free — a two-tower model encodes the batch's positive items
anyway — but there are only as many as the batch is large, and a larger batch costs
memory and encoding time. Cross-batch negative sampling (CBNS; Wang, Zhu & He,
"Cross-Batch Negative Sampling for Training Two-Tower Recommenders", SIGIR 2021) reuses
the item embeddings of the *recent* batches: a first-in-first-out memory bank keeps the
last ``M`` encoded positives, and every batch is trained with a sampled softmax over its
in-batch negatives plus the bank. The paper's justification is *embedding stability*:
after a warm-up, an encoder's output for the same item changes little from one batch to
the next, so an embedding encoded a few batches ago is a usable stand-in for today's.

The stand-in is stale all the same: the bank holds the embeddings as the model was when
they were encoded, and they receive no gradient. CBNS never re-encodes the bank (an entry
leaves it after ``M / B`` batches, which bounds its age); this module adds a refresh
period, ``refresh_every``, that re-encodes every stored item with the current model every
that many batches — ``1`` keeps the bank exactly fresh, ``None`` is CBNS — and measures
the staleness the loss actually saw, so that the trade-off between encoding cost and
stale negatives can be plotted.

Both the bank's items and the in-batch negatives are positives of training batches, so
they are drawn in proportion to the items' training popularity ``q(j) = c_j / N``; the
sampled softmax subtracts ``log q`` from every logit (Yi et al., RecSys 2019), as
:func:`recneg.losses.sampled_softmax_loss` does, and removes accidental hits: a candidate
equal to the row's positive, or (with ``exclude_positives``) one of the user's training
items.

* :class:`EmbeddingMemoryBank` — the FIFO memory itself (items, vectors, and the step each
  vector was encoded at);
* :class:`CrossBatchNegatives` — the training method: in-batch + bank negatives with a
  sampled softmax, trained by :class:`recneg.training.Trainer` in place of a sampler.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .._errors import RecnegError, check_positive_int
from ..data.interactions import Interactions
from ..losses import sampled_softmax_loss
from ..samplers.base import EmbeddingNegatives, is_excluded
from ..samplers.registry import register_method

__all__ = ["CrossBatchNegatives", "EmbeddingMemoryBank"]


class EmbeddingMemoryBank:
    """A first-in-first-out memory of ``capacity`` item embeddings.

    :meth:`enqueue` appends a batch of (item, vector) pairs and drops the oldest entries
    beyond ``capacity``; :meth:`refresh` re-encodes every stored item with an encoder;
    :meth:`staleness` compares the stored vectors with an encoder's current ones. An item
    may be stored several times (once per batch it was a positive in), as in CBNS, so the
    bank is a popularity-weighted sample of recent items.

    Parameters
    ----------
    capacity : int
        Entries kept, ``M``.
    dim : int
        Embedding dimension.
    device : str or torch.device, optional

    Attributes
    ----------
    items_ : LongTensor, shape (capacity,)
        Item id per slot (0 = empty slot).
    vectors_ : Tensor, shape (capacity, dim)
    encoded_at_ : LongTensor, shape (capacity,)
        The step at which each slot's vector was computed (``-1`` = empty).

    Examples
    --------
    >>> bank = EmbeddingMemoryBank(capacity=3, dim=2)
    >>> bank.enqueue(torch.tensor([5, 6]), torch.ones(2, 2), step=0)
    >>> bank.enqueue(torch.tensor([7, 8]), torch.zeros(2, 2), step=1)
    >>> bank.items().tolist(), len(bank)          # oldest first; item 5 was dropped
    ([6, 7, 8], 3)
    """

    def __init__(self, capacity: int, dim: int, *, device=None) -> None:
        self.capacity = check_positive_int("capacity", capacity)
        self.dim = check_positive_int("dim", dim)
        self.items_ = torch.zeros(self.capacity, dtype=torch.long, device=device)
        self.vectors_ = torch.zeros(self.capacity, self.dim, device=device)
        self.encoded_at_ = torch.full((self.capacity,), -1, dtype=torch.long, device=device)
        self.head_ = 0  # the slot the next entry is written to
        self.size_ = 0

    def __len__(self) -> int:
        return self.size_

    def slots(self) -> torch.Tensor:
        """Indices of the filled slots, oldest entry first."""
        start = self.head_ - self.size_
        return (start + torch.arange(self.size_, device=self.items_.device)) % self.capacity

    def items(self) -> torch.Tensor:
        """Stored item ids, oldest first, shape ``(len(self),)``."""
        return self.items_[self.slots()]

    def vectors(self) -> torch.Tensor:
        """Stored vectors, oldest first, shape ``(len(self), dim)`` (no gradient)."""
        return self.vectors_[self.slots()]

    def ages(self, step: int) -> torch.Tensor:
        """Steps since each stored vector was encoded, oldest first."""
        return step - self.encoded_at_[self.slots()]

    def enqueue(self, items: torch.Tensor, vectors: torch.Tensor, step: int) -> None:
        """Append ``items`` ``(n,)`` with their ``vectors`` ``(n, dim)``, encoded at ``step``;
        the oldest entries leave when the bank is full."""
        items = torch.as_tensor(items)
        if items.dim() != 1 or items.dtype not in (torch.int32, torch.int64):
            raise RecnegError(f"items must be a 1-D integer tensor of item ids, got shape {tuple(items.shape)} "
                              f"and dtype {items.dtype}")
        if vectors.shape != (len(items), self.dim):
            raise RecnegError(f"vectors must have shape (len(items), dim) = ({len(items)}, {self.dim}), "
                              f"got {tuple(vectors.shape)}")
        if len(items) and int(items.min()) < 1:
            raise RecnegError(f"item id {int(items.min())} is not an item (ids start at 1; 0 is padding)")
        if not bool(torch.isfinite(vectors).all()):
            raise RecnegError("vectors hold NaN or infinite values; encode finite embeddings")
        if len(items) > self.capacity:  # only the newest `capacity` entries would survive
            items, vectors = items[-self.capacity:], vectors[-self.capacity:]
        n = len(items)
        slots = (self.head_ + torch.arange(n, device=self.items_.device)) % self.capacity
        self.items_[slots] = items.to(self.items_)
        self.vectors_[slots] = vectors.detach().to(self.vectors_)
        self.encoded_at_[slots] = int(step)
        self.head_ = (self.head_ + n) % self.capacity
        self.size_ = min(self.size_ + n, self.capacity)

    def refresh(self, encode: Callable[[torch.Tensor], torch.Tensor], step: int) -> None:
        """Re-encode every stored item with ``encode`` (item ids -> vectors) at ``step``."""
        slots = self.slots()
        with torch.no_grad():
            self.vectors_[slots] = encode(self.items_[slots]).detach().to(self.vectors_)
        self.encoded_at_[slots] = int(step)

    def staleness(self, encode: Callable[[torch.Tensor], torch.Tensor]) -> dict:
        """How far the stored vectors are from ``encode``'s current ones.

        Returns
        -------
        dict
            ``relative_l2``: mean of ``‖stored − current‖ / ‖current‖``; ``cosine_distance``:
            mean of ``1 − cos(stored, current)``; ``n``: entries compared. NaN when empty.
        """
        if self.size_ == 0:
            return {"relative_l2": math.nan, "cosine_distance": math.nan, "n": 0}
        stored = self.vectors().double()
        with torch.no_grad():
            current = encode(self.items()).detach().to(stored)
        norm = current.norm(dim=1).clamp_min(1e-12)
        relative = (stored - current).norm(dim=1) / norm
        # 1 − cos(a, b) = ½‖a/‖a‖ − b/‖b‖‖²: exactly 0 for identical vectors, where the
        # quotient form leaves rounding noise.
        unit_gap = stored / stored.norm(dim=1, keepdim=True).clamp_min(1e-12) - current / norm.unsqueeze(1)
        cosine_distance = 0.5 * (unit_gap ** 2).sum(1)
        return {"relative_l2": float(relative.mean()), "cosine_distance": float(cosine_distance.mean()),
                "n": self.size_}

    def __repr__(self) -> str:
        return f"EmbeddingMemoryBank(capacity={self.capacity}, dim={self.dim}, size={self.size_})"


class CrossBatchNegatives(EmbeddingNegatives):
    """Cross-batch negatives (CBNS): in-batch negatives plus a FIFO bank of recent ones.

    For a batch of ``B`` (user, positive) pairs the candidates are the batch's ``B``
    positives, encoded now and trained through, and the ``M`` items of the memory bank
    with their stored — possibly stale — vectors, which receive no gradient. Each user's
    loss is the sampled softmax of its positive against those ``B + M`` candidates, with
    the popularity logQ correction on every logit (``logq=True``) and accidental hits
    removed (the row's positive itself, and the user's training items when
    ``exclude_positives``). After the loss the batch's positives enter the bank, oldest
    out. Every ``refresh_every`` batches, before the loss, the whole bank is re-encoded
    with the current model.

    The method needs a model with ``user_embedding`` and ``item_embedding`` tables (e.g.
    :class:`recneg.models.BPRMF`, whose two tables are the two towers); it trains with
    :class:`recneg.training.Trainer` and ``TrainConfig(loss="sampled-softmax")``, and
    ``num_negatives`` does not apply (the negatives are the batch and the bank). Only the
    positives are touched items: bank vectors are constants.

    **Staleness.** Before each batch's loss the bank is compared with the model's current
    embeddings of the same items (:meth:`EmbeddingMemoryBank.staleness`). The epoch's
    means go into the trainer's history through :meth:`on_epoch_end`: ``bank_staleness``
    (mean relative L2 distance), ``bank_cosine_distance`` and ``bank_age`` (mean batches
    since an entry was encoded); ``history_`` keeps one row per batch. With
    ``refresh_every=1`` the staleness is exactly 0.

    Parameters
    ----------
    bank_size : int, default 1024
        Entries ``M`` of the memory bank.
    refresh_every : int or None, default None
        Re-encode the bank every this many batches; ``None`` never does (CBNS).
    logq : bool, default True
        Subtract ``log q(j)``, the item's training popularity share, from every logit.
    exclude_positives : bool, default True
        Remove the user's training items from the candidates (the row's own positive is
        always removed).
    random_state : int, torch.Generator or None
        Unused by the draws (there are none); kept for the common interface.

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import SyntheticWorld, leave_one_out
    >>> from recneg.models import BPRMF
    >>> from recneg.training import TrainConfig, Trainer
    >>> split = leave_one_out(SyntheticWorld(n_users=60, n_items=40, random_state=0).generate())
    >>> method = CrossBatchNegatives(bank_size=64, refresh_every=4)
    >>> config = TrainConfig(epochs=2, batch_size=32, loss="sampled-softmax", progress=False)
    >>> result = Trainer(BPRMF(split.n_users, split.n_items, dim=8, random_state=0), method, config).fit(split)
    >>> len(method.bank_), bool((result.history.bank_staleness >= 0).all())
    (64, True)
    """

    family = "static"
    subfamily = "popularity-based"
    variant = "cross-batch memory bank (CBNS)"
    loss_name = "sampled-softmax"

    #: columns of ``history_``
    HISTORY_COLUMNS = ("step", "bank_size", "bank_staleness", "bank_cosine_distance", "bank_age")

    def __init__(self, bank_size: int = 1024, refresh_every: int | None = None, *, logq: bool = True,
                 exclude_positives: bool = True, random_state=None) -> None:
        super().__init__(exclude_positives=exclude_positives, random_state=random_state)
        self.bank_size = check_positive_int("bank_size", bank_size)
        self.refresh_every = None if refresh_every is None else check_positive_int("refresh_every", refresh_every)
        self.logq = bool(logq)

    def _fit(self, train: Interactions) -> None:
        counts = self.item_counts_
        # Items that were never a positive never enter the batch or the bank: -inf is unused.
        self.log_q_ = torch.log(counts / counts.sum())
        self.bank_ = None
        self.step_ = 0
        self.history_ = []
        self._epoch_start = 0

    def _bank_for(self, model) -> EmbeddingMemoryBank:
        table = model.item_embedding
        if self.bank_ is None or self.bank_.dim != table.embedding_dim:
            self.bank_ = EmbeddingMemoryBank(self.bank_size, table.embedding_dim, device=table.weight.device)
        return self.bank_

    def staleness(self, model) -> dict:
        """:meth:`EmbeddingMemoryBank.staleness` of the bank against ``model``'s item table."""
        self._check_fitted()
        if self.bank_ is None:
            return {"relative_l2": math.nan, "cosine_distance": math.nan, "n": 0}
        return self.bank_.staleness(lambda ids: model.item_embedding(ids.to(model.item_embedding.weight.device)))

    def _record(self, model, bank: EmbeddingMemoryBank) -> None:
        stale = self.staleness(model)
        age = float(bank.ages(self.step_).double().mean()) if len(bank) else math.nan
        self.history_.append((self.step_, len(bank), stale["relative_l2"], stale["cosine_distance"], age))

    def candidates(self, users: torch.Tensor, positives: torch.Tensor, bank: EmbeddingMemoryBank) -> tuple:
        """The candidate items ``(B + M,)`` (batch positives, then the bank oldest first) and
        the accidental hits ``(B, B + M)`` (True = removed from the row's softmax)."""
        items = torch.cat([positives, bank.items().cpu()])
        grid = items.unsqueeze(0).expand(len(users), -1)
        hits = grid == positives.unsqueeze(1)
        if self.exclude_positives:
            hits |= is_excluded(self, users, positives, grid)
        return items, hits

    def batch_loss(self, model, batch) -> torch.Tensor:
        """The sampled softmax of one trainer :class:`~recneg.training.Batch` over in-batch
        and bank negatives; then the batch's positives enter the bank."""
        self._check_fitted()
        users, positives = batch.users.cpu(), batch.positives.cpu()
        device = model.item_embedding.weight.device
        bank = self._bank_for(model)
        if self.refresh_every is not None and self.step_ % self.refresh_every == 0 and len(bank):
            bank.refresh(lambda ids: model.item_embedding(ids.to(device)), self.step_)
        self._record(model, bank)
        items, hits = self.candidates(users, positives, bank)
        user_vectors = model.user_embedding(users.to(device))
        positive_vectors = model.item_embedding(positives.to(device))
        candidate_vectors = torch.cat([positive_vectors, bank.vectors()])
        logits = user_vectors @ candidate_vectors.T
        pos_logits = logits.diagonal()
        log_q = self.log_q_.to(device=device, dtype=logits.dtype)
        neg_log_prob = log_q[items.to(device)].expand_as(logits) if self.logq else None
        pos_log_prob = log_q[positives.to(device)] if self.logq else None
        loss = sampled_softmax_loss(pos_logits, logits, neg_log_prob=neg_log_prob, pos_log_prob=pos_log_prob,
                                    accidental_hits=hits.to(device))
        batch.negatives = int((~hits).sum())
        bank.enqueue(positives.to(device), positive_vectors.detach(), self.step_)
        self.step_ += 1
        return loss

    def on_epoch_start(self, epoch: int) -> None:
        """Mark where the epoch's rows of ``history_`` begin."""
        super().on_epoch_start(epoch)
        self._check_fitted()
        self._epoch_start = len(self.history_)

    def on_epoch_end(self, epoch: int, record: dict) -> None:
        """Add the epoch's mean ``bank_staleness``, ``bank_cosine_distance`` and
        ``bank_age`` (over the batches that had a non-empty bank) to ``record``."""
        super().on_epoch_end(epoch, record)
        rows = [row for row in self.history_[self._epoch_start:] if row[1] > 0]
        for column in self.HISTORY_COLUMNS[2:]:
            index = self.HISTORY_COLUMNS.index(column)
            record[column] = sum(row[index] for row in rows) / len(rows) if rows else math.nan

    def __repr__(self) -> str:
        return (f"CrossBatchNegatives(bank_size={self.bank_size}, refresh_every={self.refresh_every}, "
                f"logq={self.logq}, exclude_positives={self.exclude_positives})")


register_method("cross-batch", CrossBatchNegatives)
