"""Train a model with a negative sampler and a loss, with early stopping on validation.

:class:`Trainer` handles both model kinds of :mod:`recneg.models`:

* **sequential** (``model.maxlen`` is an int, e.g. SASRec): one training example per
  user, the user's training sequence (last ``maxlen + 1`` items, time order) with
  input ``seq[:-1]`` and targets ``seq[1:]``, left-padded. The padded matrix is built
  once; a batch is a slice of it, trimmed to its longest sequence.
* **non-sequential** (``model.maxlen is None``, e.g. BPR-MF): one example per training
  (user, item) interaction.

For every batch the sampler draws ``num_negatives`` negatives (shared by a whole
sequence, or per position with ``per_position=True``); a sampler that ``needs_scorer``
gets a no-grad scorer over the batch's already computed hidden states. ``loss="ce"``
trains with the full softmax and no sampler.

**Methods with their own batch loss.** Where the negatives are not item ids — MixGCF's
interpolated embeddings, a generator's synthetic vectors — the method cannot hand items
to a loss. Such a method (the :class:`BatchLossMethod` protocol, e.g.
:class:`~recneg.samplers.MixGCFInterpolation`) takes the sampler's place and supplies
``batch_loss(model, batch)``; the trainer keeps the rest: batches, the optimiser, the
hooks, early stopping, the history and the touched-items record.

**Hooks.** Learning outside the recommender happens in hooks the trainer calls, never
inside a draw: ``on_epoch_start(epoch)`` before an epoch's first batch (a hardness
curriculum reads its epoch here), ``learn_from_batch(users, positives, drawn, scorer)``
after a sampler's draw and before the optimiser step (IRGAN's generator step), and
``on_epoch_end(epoch, record)`` after the epoch's validation, where ``record`` is the
epoch's history row and may gain columns (a generator's mean loss). Epochs count from 1.

**Touched items.** The trainer records which items receive a gradient signal as an
*output* item: every batch's positive targets and drawn negatives (with ``"ce"``, every
item). For a method with its own batch loss: the positive targets and the items the
method reports with ``batch.touch`` — MixGCF the candidates its synthetic negatives are
mixed from (their embeddings get the gradient ``(1 − λ)``), the generative ANG its real
uniform negatives (its synthetic vectors are detached and move no item). An item that is never touched keeps the output score its initialisation gave it,
so it must not be recommended on the strength of that score; validation and test
evaluation receive the record (``evaluate(..., touched=...)``) and report
``untouched_share@K``. For a sequential model the first item of each training
sequence is only an input, never a target, so an item can have training interactions
and still be untouched.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import losses
from ._errors import RecnegError, check_negatives_fit, check_positive_int, check_probability
from .data.interactions import Interactions, Split
from .evaluation import evaluate
from .samplers.base import NegativeSampler

__all__ = ["LOSSES", "Batch", "BatchLossMethod", "TrainConfig", "TrainResult", "Trainer", "replay_early_stopping",
           "sequence_matrix"]

LOSSES = ("bce", "bpr", "sampled-softmax", "gbce", "ce")


def _number(name: str, value, *, low: float, low_open: bool) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise RecnegError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(value) or math.isinf(value) or value < low or (low_open and value == low):
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        raise RecnegError(f"{name} must be a finite number {bound}, got {value}")
    return value


@dataclass
class TrainConfig:
    """Everything :class:`Trainer` needs besides the model and the sampler.

    Parameters
    ----------
    epochs : int, default 200
        Upper bound on training epochs (early stopping usually ends sooner).
    batch_size : int, default 128
        Sequences (sequential models) or interactions (MF) per batch.
    lr : float, default 1e-3
        Adam learning rate (Adam with betas (0.9, 0.98), as SASRec).
    weight_decay : float, default 0.0
        Adam's L2 penalty.
    loss : {"bce", "bpr", "sampled-softmax", "gbce", "ce"}, default "bce"
        See :mod:`recneg.losses`; ``"ce"`` is the full softmax and takes no sampler.
    num_negatives : int, default 1
        Negatives per sequence (shared) or per position (``per_position=True``).
    per_position : bool, default False
        Draw separate negatives for every position instead of one set per sequence
        (the large-scale study shares them, which is far cheaper).
    logq : bool, default False
        Subtract the sampler's ``log q`` from the negatives' logits (only with
        ``loss="sampled-softmax"``, Yi et al. RecSys'19).
    gbce_t : float, default 0.75
        Calibration ``t`` of gBCE.
    patience : int or None, default 5
        Stop after this many validations without improving ``valid_metric``; ``None``
        trains all ``epochs``. The best checkpoint is restored either way.
    min_epochs : int, default 0
        Early stopping may not end training before this epoch. SASRec trained with BCE
        first learns item popularity and can sit on that plateau for ten or more
        epochs before it learns from the sequences (seen on MovieLens-100K: validation
        flat from epoch 3 to 14, then rising to twice the plateau's NDCG); patience
        counted from the first epoch can end such a run on the plateau.
    eval_every : int, default 1
        Validate every this many epochs (and after the last one).
    valid_metric : str, default "ndcg@10"
        Metric of :func:`recneg.evaluation.evaluate` used for early stopping.
    ks : tuple of int, default (10,)
        Cut-offs reported for validation and test.
    max_train_seconds : float or None, default None
        Wall-clock budget for training (validation included); training stops at the
        first batch past it.
    eval_batch_size : int, default 256
    sort_by_length : bool, default True
        Batch sequences of similar length together (in random batch order), so that
        trimming each batch to its longest sequence skips most padding.
    device : str, torch.device or None
        ``None`` picks CUDA when available, else CPU.
    seed : int, default 0
        Seeds torch and numpy, the batch order and the sampler's draws.
    progress : bool, default True
        Show a tqdm bar over epochs.
    test_at_new_best : bool, default False
        Also evaluate the test split whenever validation reaches a new best
        (``TrainResult.new_best_tests``). Any patience keeps one of those checkpoints,
        so a run trained with a long patience then shows the test score that each
        shorter patience would have published. Selection still reads validation only;
        the extra evaluations leave training unchanged.

    Examples
    --------
    >>> TrainConfig(epochs=3, loss="sampled-softmax", logq=True).loss
    'sampled-softmax'
    >>> TrainConfig(epochs=-1)
    Traceback (most recent call last):
    ...
    recneg._errors.RecnegError: epochs must be positive, got -1; pass an integer >= 1
    """

    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss: str = "bce"
    num_negatives: int = 1
    per_position: bool = False
    logq: bool = False
    gbce_t: float = 0.75
    patience: int | None = 5
    min_epochs: int = 0
    eval_every: int = 1
    valid_metric: str = "ndcg@10"
    ks: tuple = (10,)
    max_train_seconds: float | None = None
    eval_batch_size: int = 256
    sort_by_length: bool = True
    device: Any = None
    seed: int = 0
    progress: bool = True
    test_at_new_best: bool = False

    def __post_init__(self) -> None:
        self.epochs = check_positive_int("epochs", self.epochs)
        self.batch_size = check_positive_int("batch_size", self.batch_size)
        self.lr = _number("lr", self.lr, low=0.0, low_open=True)
        self.weight_decay = _number("weight_decay", self.weight_decay, low=0.0, low_open=False)
        if self.loss not in LOSSES:
            raise RecnegError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        self.num_negatives = check_positive_int("num_negatives", self.num_negatives)
        self.per_position = bool(self.per_position)
        self.test_at_new_best = bool(self.test_at_new_best)
        self.logq = bool(self.logq)
        if self.logq and self.loss != "sampled-softmax":
            raise RecnegError(
                f"logq=True corrects a sampled softmax; use loss='sampled-softmax' (got {self.loss!r}) "
                "or logq=False"
            )
        self.gbce_t = check_probability("gbce_t", self.gbce_t)
        if self.patience is not None:
            self.patience = check_positive_int("patience", self.patience)
        self.min_epochs = check_positive_int("min_epochs", self.min_epochs, allow_zero=True)
        if self.min_epochs > self.epochs:
            raise RecnegError(f"min_epochs ({self.min_epochs}) exceeds epochs ({self.epochs}); "
                              "pass min_epochs <= epochs")
        self.eval_every = check_positive_int("eval_every", self.eval_every)
        if isinstance(self.ks, (int, np.integer)):
            self.ks = (self.ks,)
        self.ks = tuple(sorted({check_positive_int("ks", k) for k in self.ks}))
        if not self.ks:
            raise RecnegError("ks is empty; pass at least one cut-off, e.g. ks=(10,)")
        name, _, cutoff = str(self.valid_metric).partition("@")
        if name not in ("hr", "ndcg", "mrr") or (name != "mrr" and not cutoff.isdigit()):
            raise RecnegError(
                f"valid_metric must be 'ndcg@K', 'hr@K' or 'mrr', got {self.valid_metric!r}"
            )
        if cutoff:
            self.ks = tuple(sorted(set(self.ks) | {check_positive_int("valid_metric K", int(cutoff))}))
        if self.max_train_seconds is not None:
            self.max_train_seconds = _number("max_train_seconds", self.max_train_seconds, low=0.0, low_open=True)
        self.eval_batch_size = check_positive_int("eval_batch_size", self.eval_batch_size)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise RecnegError(f"seed must be an integer, got {self.seed!r}")
        self.seed = int(self.seed)
        if self.device is not None:
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise RecnegError(f"device must be e.g. 'cpu' or 'cuda', got {self.device!r}") from None

    def resolved_device(self) -> torch.device:
        if self.device is None:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes
    ----------
    model : torch.nn.Module
        The trained model with the best validation checkpoint restored.
    history : pandas.DataFrame
        One row per epoch: ``epoch``, ``train_loss``, ``seconds`` (training time of the
        epoch), ``eval_seconds``, ``elapsed_seconds`` (wall time since ``fit`` began,
        validation included), ``negatives_per_s`` (negatives scored per training
        second; for ``"ce"`` every other item counts), and ``valid_<metric>`` columns
        on validated epochs (NaN elsewhere).
    best_epoch : int
        Epoch of the restored checkpoint.
    valid : dict
        Validation metrics of the best checkpoint.
    test : dict
        :func:`~recneg.evaluation.evaluate` on ``split.test`` with the best checkpoint.
    stop_reason : str
        ``"epochs"``, ``"patience"`` or ``"time budget"``.
    train_seconds : float
        Wall time of the whole ``fit`` before the test evaluation.
    config : TrainConfig
    touched_items : numpy.ndarray of bool, shape (n_items + 1,)
        Items that received a gradient signal as a positive target or a drawn negative
        (all real items with ``loss="ce"``; for a method with its own batch loss, the
        positives and the items it reports, see the module notes) up to the restored
        checkpoint; entry 0
        (padding) is False. Passed to the validation and test evaluations as
        ``touched``.
    epochs_trained : int
        Epochs begun, including one cut short by the time budget.
    still_improving : bool
        True when training was stopped by the epoch cap or the time budget while
        validation was still improving: the run did not end by patience, and the
        best validation lies within the last ``patience`` validations (with
        ``patience=None``: the last validation was the best). False when early
        stopping ended the run, and when there were no validation rows (no evidence
        either way).
    new_best_tests : pandas.DataFrame or None
        With ``test_at_new_best``: one row per epoch at which validation reached a new
        best (``epoch`` and the test metrics there, as in ``test``); the last row is
        the restored checkpoint. ``None`` otherwise.
    """

    model: torch.nn.Module
    history: pd.DataFrame
    best_epoch: int
    valid: dict
    test: dict
    stop_reason: str
    train_seconds: float
    config: TrainConfig = field(repr=False)
    touched_items: np.ndarray = field(default=None, repr=False)
    epochs_trained: int = 0
    still_improving: bool = False
    new_best_tests: pd.DataFrame | None = field(default=None, repr=False)


def replay_early_stopping(valid_curve, patience: int, min_epochs: int = 0) -> tuple[int, int]:
    """Where :class:`Trainer` would have stopped on a validation curve: ``(best, stopped)``.

    A run trained with a long patience records its validation metric after every epoch;
    this replays the rule of :meth:`Trainer.fit` (a strictly higher value resets the count,
    and the run stops once ``patience`` validations in a row have not improved, but never
    before ``min_epochs``) with a shorter patience, so one run shows what a shorter one
    would have kept. Epochs count from 1; a curve that never triggers the rule returns its
    last epoch as ``stopped``.

    Parameters
    ----------
    valid_curve : sequence of float
        The validation metric after epochs 1, 2, ... (validated every epoch).
    patience : int
    min_epochs : int, default 0

    Examples
    --------
    >>> replay_early_stopping([0.1, 0.3, 0.2, 0.2, 0.4, 0.5], patience=2)
    (2, 4)
    >>> replay_early_stopping([0.1, 0.3, 0.2, 0.2, 0.4, 0.5], patience=2, min_epochs=5)
    (6, 6)
    """
    curve = np.asarray(valid_curve, dtype=float)
    if curve.ndim != 1 or len(curve) == 0:
        raise RecnegError(f"valid_curve must be a non-empty 1-d sequence, got shape {curve.shape}; "
                          "pass the metric after every epoch")
    if not np.isfinite(curve).all():
        epoch = int(np.flatnonzero(~np.isfinite(curve))[0]) + 1
        raise RecnegError(f"valid_curve has no finite value at epoch {epoch} ({curve[epoch - 1]}); "
                          "replay only a curve validated after every epoch")
    patience = check_positive_int("patience", patience)
    min_epochs = check_positive_int("min_epochs", min_epochs, allow_zero=True)
    best_value, best, stale = -math.inf, 0, 0
    for epoch, value in enumerate(curve, start=1):
        if value > best_value:
            best_value, best, stale = value, epoch, 0
        else:
            stale += 1
        if stale >= patience and epoch >= min_epochs:
            return best, epoch
    return best, len(curve)


def sequence_matrix(train: Interactions, maxlen: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The padded next-item training matrix of a sequential model.

    Each user with at least two training interactions gives one row: the last
    ``maxlen + 1`` items of the time-ordered sequence, input ``seq[:-1]`` and targets
    ``seq[1:]``, right-aligned (left-padded with 0).

    Returns
    -------
    users : LongTensor (R,)
    inputs, targets : LongTensor (R, maxlen)
    lengths : LongTensor (R,)
        Non-padding positions per row.

    Examples
    --------
    >>> import numpy as np
    >>> from recneg.data import Interactions
    >>> log = Interactions(np.array([0, 0, 0, 1]), np.array([3, 1, 2, 2]), np.arange(4),
    ...                    n_users=2, n_items=3)
    >>> users, inputs, targets, lengths = sequence_matrix(log, maxlen=3)
    >>> users.tolist(), inputs.tolist(), targets.tolist()
    ([0], [[0, 3, 1]], [[0, 1, 2]])
    """
    maxlen = check_positive_int("maxlen", maxlen)
    order = train.time_order()
    items = train.items[order]
    counts = np.bincount(train.users, minlength=train.n_users)
    ends = np.cumsum(counts)
    users = np.flatnonzero(counts >= 2)
    lengths = np.minimum(counts[users], maxlen + 1) - 1
    starts = ends[users] - lengths - 1
    inputs = np.zeros((len(users), maxlen), dtype=np.int64)
    targets = np.zeros((len(users), maxlen), dtype=np.int64)
    rows, j = np.nonzero(np.arange(maxlen)[None, :] < lengths[:, None])
    cols = maxlen - lengths[rows] + j
    inputs[rows, cols] = items[starts[rows] + j]
    targets[rows, cols] = items[starts[rows] + j + 1]
    return (torch.from_numpy(users), torch.from_numpy(inputs), torch.from_numpy(targets),
            torch.from_numpy(lengths))


@dataclass
class Batch:
    """One training batch, as a :class:`BatchLossMethod` sees it.

    Attributes
    ----------
    users : LongTensor, shape (B,)
        On the CPU, like every id tensor the samplers use.
    positives : LongTensor, shape (B,)
        The batch's positive items (CPU).
    num_negatives : int
        ``TrainConfig.num_negatives``.
    generator : torch.Generator
        The trainer's seeded generator; draw every random number of the batch from it.
    device : torch.device
        Where the model lives.
    touched : list of LongTensor
        Items the method's loss gives a gradient as output items, besides the positives;
        append with :meth:`touch`.
    negatives : int or None
        Negatives the loss scored, for ``negatives_per_s``; ``None`` counts
        ``num_negatives`` per positive.
    """

    users: torch.Tensor
    positives: torch.Tensor
    num_negatives: int
    generator: torch.Generator
    device: torch.device
    touched: list = field(default_factory=list)
    negatives: int | None = None

    def touch(self, items: torch.Tensor) -> None:
        """Record ``items`` (any shape; 0 = padding is ignored) as touched."""
        self.touched.append(torch.as_tensor(items).detach().reshape(-1).cpu())


@runtime_checkable
class BatchLossMethod(Protocol):
    """What :class:`Trainer` needs from a method that supplies its own batch loss.

    ``fit(train)`` learns from the training split (the trainer calls it unless the
    method's ``train_`` already is ``split.train``); ``batch_loss(model, batch)`` returns
    the loss of one :class:`Batch`, differentiable in the model's parameters. Optional:
    ``check_model(model)`` (raise for a model the method cannot train), ``loss_name``
    (the loss it minimises; ``TrainConfig.loss`` must equal it), ``on_epoch_start`` and
    ``on_epoch_end`` (see the module notes).
    """

    def fit(self, train: Interactions) -> Any: ...

    def batch_loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor: ...


@dataclass
class _Best:
    """The best validation so far and what goes with it."""

    value: float = -math.inf
    epoch: int = 0
    state: dict | None = None
    valid: dict = field(default_factory=dict)
    touched: torch.Tensor | None = None
    stale: int = 0


class Trainer:
    """Fit a model with a negative sampler and a loss; early-stop on validation.

    Parameters
    ----------
    model : torch.nn.Module
        A recneg model (``SASRec``, ``BPRMF``) or any module with ``forward``,
        ``score_items``, ``score_catalogue``, ``scorer_from_hidden``, ``score_all`` and
        ``maxlen``.
    sampler : NegativeSampler, BatchLossMethod or None
        A sampler, fitted on ``split.train`` by :meth:`fit` (unless it already is); or a
        method that supplies its own batch loss (:class:`BatchLossMethod`, e.g.
        :class:`~recneg.samplers.MixGCFInterpolation`). ``None`` only with ``loss="ce"``.
    config : TrainConfig, optional

    Examples
    --------
    >>> from recneg.data import SyntheticWorld, leave_one_out
    >>> from recneg.models import SASRec
    >>> split = leave_one_out(SyntheticWorld(n_users=60, n_items=40, random_state=0).generate())
    >>> model = SASRec(split.n_items, hidden=16, maxlen=20, random_state=0)
    >>> result = Trainer(model, None, TrainConfig(epochs=2, loss="ce", progress=False)).fit(split)
    >>> list(result.history.epoch), "ndcg@10" in result.test
    ([1, 2], True)
    """

    def __init__(self, model: torch.nn.Module, sampler: NegativeSampler | BatchLossMethod | None,
                 config: TrainConfig | None = None) -> None:
        config = TrainConfig() if config is None else config
        if not isinstance(config, TrainConfig):
            raise RecnegError(f"config must be a TrainConfig, got {type(config).__name__}")
        for method in ("forward", "score_items", "score_catalogue", "scorer_from_hidden", "score_all"):
            if not callable(getattr(model, method, None)):
                raise RecnegError(
                    f"model {type(model).__name__} has no {method}() method; train SASRec or "
                    "BPRMF (MostPopular needs no training: call .fit(split.train))"
                )
        if config.loss == "ce" and sampler is not None:
            raise RecnegError("loss='ce' is the full softmax and samples nothing; pass sampler=None")
        if config.loss != "ce" and sampler is None:
            raise RecnegError(
                f"loss={config.loss!r} needs a negative sampler; pass one (e.g. "
                "make_sampler('uniform')) or use loss='ce'"
            )
        self.method = None
        if sampler is not None and not isinstance(sampler, NegativeSampler):
            if not isinstance(sampler, BatchLossMethod):
                raise RecnegError(
                    f"sampler must be a NegativeSampler or a method with fit() and batch_loss(), "
                    f"got {type(sampler).__name__}"
                )
            self.method = sampler
            self._check_method(model, sampler, config)
        self.model = model
        self.sampler = sampler
        self.config = config
        self.sequential = getattr(model, "maxlen", None) is not None

    @staticmethod
    def _check_method(model, method, config: TrainConfig) -> None:
        name = type(method).__name__
        wanted = getattr(method, "loss_name", None)
        if wanted is not None and config.loss != wanted:
            raise RecnegError(f"{name} minimises the {wanted!r} loss; pass TrainConfig(loss={wanted!r})")
        if config.per_position or config.logq:
            raise RecnegError(f"{name} supplies its own loss; per_position and logq do not apply, leave them False")
        if getattr(model, "maxlen", None) is not None:
            raise RecnegError(f"{name} trains one (user, item) pair per example; use a non-sequential model such "
                              f"as BPRMF, not {type(model).__name__}")
        if callable(getattr(method, "check_model", None)):
            method.check_model(model)

    def _hook(self, name: str, *args) -> None:
        hook = getattr(self.sampler, name, None)
        if callable(hook):
            hook(*args)

    # -- batches ---------------------------------------------------------------------------
    def _prepare(self, split: Split) -> None:
        train = split.train
        if self.sequential:
            users, inputs, targets, lengths = sequence_matrix(train, int(self.model.maxlen))
            if len(users) == 0:
                raise RecnegError("no user has two training interactions; a sequential model has nothing to learn")
            self._data = (users, inputs, targets, lengths)
        else:
            if len(train) == 0:
                raise RecnegError("the training split is empty")
            self._data = (torch.as_tensor(train.users, dtype=torch.long),
                          torch.as_tensor(train.items, dtype=torch.long))
        self._n_examples = len(self._data[0])

    def _batches(self, gen: torch.Generator) -> list[torch.Tensor]:
        order = torch.randperm(self._n_examples, generator=gen)
        size = self.config.batch_size
        if self.sequential and self.config.sort_by_length:
            # Sort within chunks of 50 batches, then shuffle the batches: similar lengths
            # share a batch (little padding) while batch composition stays random.
            lengths = self._data[3]
            chunk = 50 * size
            pieces = []
            for start in range(0, len(order), chunk):
                part = order[start : start + chunk]
                part = part[torch.argsort(lengths[part], stable=True)]
                pieces.extend(part.split(size))
            shuffle = torch.randperm(len(pieces), generator=gen).tolist()
            return [pieces[i] for i in shuffle]
        return list(order.split(size))

    # -- one batch ---------------------------------------------------------------------------
    def _batch_loss(self, rows: torch.Tensor, device: torch.device, gen: torch.Generator) -> tuple[torch.Tensor, int]:
        """The loss of the batch ``rows`` and the number of negatives it scored."""
        if self.method is not None:
            return self._method_loss(rows, device, gen)
        cfg, model = self.config, self.model
        if self.sequential:
            users, inputs, targets, lengths = (t[rows] for t in self._data)
            width = int(lengths.max())
            inputs, targets = inputs[:, -width:], targets[:, -width:]
            hidden = model(inputs.to(device))
        else:
            users, targets = (t[rows] for t in self._data)
            hidden = model(users.to(device))
        targets_dev = targets.to(device)
        mask = targets_dev != 0
        n_positions = int(mask.sum())
        if cfg.loss == "ce":
            self._touched[1:] = True  # the full softmax has a gradient for every item
            logits = model.score_catalogue(hidden[mask])
            return losses.full_ce_loss(logits, targets_dev[mask]), n_positions * (model.n_items - 1)

        scorer = model.scorer_from_hidden(hidden)
        sample = self.sampler.sample(users, targets, cfg.num_negatives, per_position=cfg.per_position,
                                     scorer=scorer if self.sampler.needs_scorer else None, generator=gen)
        # Before the optimiser step, so a learning sampler is rewarded by the model that
        # was asked to tell its draws apart.
        self.sampler.learn_from_batch(users, targets, sample, scorer)
        self._touch(targets, sample.items)
        negatives = sample.items.to(device)
        pos_logits = model.score_items(hidden, targets_dev[..., None])[..., 0]
        neg_logits = model.score_items(hidden, negatives)
        weights = None if sample.weights is None else sample.weights.to(device)
        if cfg.loss == "bce":
            loss = losses.bce_loss(pos_logits, neg_logits, mask=mask, weights=weights)
        elif cfg.loss == "bpr":
            loss = losses.bpr_loss(pos_logits, neg_logits, mask=mask, weights=weights)
        elif cfg.loss == "gbce":
            loss = losses.gbce_loss(pos_logits, neg_logits, n_items=model.n_items, t=cfg.gbce_t,
                               mask=mask, weights=weights)
        else:
            loss = losses.sampled_softmax_loss(
                pos_logits, neg_logits,
                neg_log_prob=sample.log_prob.to(device) if cfg.logq else None,
                accidental_hits=losses.accidental_hits(negatives, targets_dev),
                weights=weights, mask=mask,
            )
        return loss, n_positions * cfg.num_negatives

    def _method_loss(self, rows: torch.Tensor, device: torch.device, gen: torch.Generator) -> tuple[torch.Tensor, int]:
        users, positives = (t[rows] for t in self._data)
        batch = Batch(users, positives, self.config.num_negatives, gen, device)
        loss = self.method.batch_loss(self.model, batch)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise RecnegError(f"{type(self.method).__name__}.batch_loss must return a scalar tensor, got {loss!r}")
        self._touch(positives, *batch.touched)
        scored = batch.negatives if batch.negatives is not None else len(positives) * self.config.num_negatives
        return loss, scored

    def _touch(self, *items: torch.Tensor) -> None:
        for part in items:
            self._touched[part.reshape(-1).to(self._touched.device)] = True
        self._touched[0] = False  # padding targets set it above; padding is not an item

    # -- validation ---------------------------------------------------------------------------
    def _validate(self, split: Split) -> dict:
        return evaluate(self.model, split.valid, split.train, ks=self.config.ks,
                        batch_size=self.config.eval_batch_size, touched=self._touched)

    def _validate_epoch(self, split: Split, epoch: int, last: bool, row: dict, best: _Best) -> None:
        """Validate after ``epoch`` when due, add the metrics to ``row`` and keep the best
        checkpoint in ``best``."""
        if len(split.valid) == 0:
            best.epoch = epoch  # nothing to select on: the last epoch is the result
            return
        if epoch % self.config.eval_every != 0 and not last:
            return
        valid = self._validate(split)
        row.update({f"valid_{k}": float(v) for k, v in valid.items()
                    if isinstance(v, (int, float)) and not k.startswith("n_")})
        value = float(valid[self.config.valid_metric])
        if value > best.value:
            best.value, best.epoch, best.valid, best.stale = value, epoch, valid, 0
            best.state = copy.deepcopy(self.model.state_dict())
            best.touched = self._touched.clone()
            if self.config.test_at_new_best and len(split.test):
                # the score this checkpoint would publish if a shorter patience kept it
                self._new_best_tests.append({"epoch": epoch, **self._test(split, best.touched)})
        else:
            best.stale += 1

    # -- one epoch -------------------------------------------------------------------------------
    def _train_epoch(self, epoch: int, optimizer, device: torch.device, gen: torch.Generator,
                     began: float) -> tuple[dict, bool]:
        """One pass over the batches; returns the epoch's history row and whether the
        time budget ran out during it."""
        cfg = self.config
        self.model.train()
        epoch_start = time.perf_counter()
        loss_sum, n_batches, n_negatives = 0.0, 0, 0
        out_of_time = False
        for rows_idx in self._batches(gen):
            loss, negatives = self._batch_loss(rows_idx, device, gen)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach())
            n_batches += 1
            n_negatives += negatives
            if cfg.max_train_seconds is not None and time.perf_counter() - began > cfg.max_train_seconds:
                out_of_time = True
                break
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - epoch_start
        row = {"epoch": epoch, "train_loss": loss_sum / max(n_batches, 1), "seconds": seconds,
               "negatives_per_s": n_negatives / seconds if seconds > 0 else math.nan}
        return row, out_of_time

    # -- fit -------------------------------------------------------------------------------------
    def _check_split(self, split: Split) -> None:
        if not isinstance(split, Split):
            raise RecnegError(f"fit expects a Split (e.g. leave_one_out(log)), got {type(split).__name__}")
        model = self.model
        if getattr(model, "n_items", split.n_items) != split.n_items:
            raise RecnegError(
                f"the model has {model.n_items} items but the split {split.n_items}; build the "
                "model with n_items=split.n_items"
            )
        if not self.sequential and getattr(model, "n_users", split.n_users) < split.n_users:
            raise RecnegError(
                f"the model has {model.n_users} users but the split {split.n_users}; build it "
                "with n_users=split.n_users"
            )
        if self.sampler is not None:  # before the first batch allocates k scores per position
            check_negatives_fit("num_negatives", self.config.num_negatives, split.n_items,
                                pool=f"items of {split.train.name}")

    def fit(self, split: Split) -> TrainResult:
        """Train on ``split.train``, early-stop on ``split.valid``, evaluate ``split.test``.

        Returns
        -------
        TrainResult
        """
        self._check_split(split)
        cfg, model = self.config, self.model
        device = cfg.resolved_device()
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        gen = torch.Generator().manual_seed(cfg.seed)
        if self.sampler is not None and getattr(self.sampler, "train_", None) is not split.train:
            self.sampler.fit(split.train)
        self._prepare(split)
        self._touched = torch.zeros(split.n_items + 1, dtype=torch.bool)
        self._new_best_tests = []
        model.to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98),
                                     weight_decay=cfg.weight_decay)
        best, stop_reason, rows = _Best(touched=self._touched.clone()), "epochs", []
        began = time.perf_counter()
        bar = tqdm(range(1, cfg.epochs + 1), desc="train", disable=not cfg.progress, leave=False)
        for epoch in bar:
            self._hook("on_epoch_start", epoch)
            row, out_of_time = self._train_epoch(epoch, optimizer, device, gen, began)
            eval_start = time.perf_counter()
            self._validate_epoch(split, epoch, epoch == cfg.epochs or out_of_time, row, best)
            row["eval_seconds"] = time.perf_counter() - eval_start
            row["elapsed_seconds"] = time.perf_counter() - began
            self._hook("on_epoch_end", epoch, row)
            rows.append(row)
            if cfg.progress:
                metric = f"valid_{cfg.valid_metric}"
                bar.set_postfix(loss=f"{row['train_loss']:.4f}",
                                **({cfg.valid_metric: f"{row[metric]:.4f}"} if metric in row else {}))
            if out_of_time:
                stop_reason = "time budget"
                break
            if cfg.patience is not None and best.stale >= cfg.patience and epoch >= cfg.min_epochs:
                stop_reason = "patience"
                break
        bar.close()
        return self._result(split, best, rows, stop_reason, time.perf_counter() - began)

    def _result(self, split: Split, best: _Best, rows: list, stop_reason: str, train_seconds: float) -> TrainResult:
        """Restore the best checkpoint, evaluate the test split and assemble the result."""
        cfg, model = self.config, self.model
        if best.state is not None:
            model.load_state_dict(best.state)
            touched = best.touched
        else:
            # No checkpoint was restored: the model is the last one.
            touched = self._touched
        # Not stopped by patience and the best validation is among the last `patience`
        # ones (stale counts validations since the best): early stopping never judged
        # the run converged. Without patience, only a best last validation counts.
        window = cfg.patience if cfg.patience is not None else 1
        still_improving = bool(len(split.valid) > 0 and best.state is not None and stop_reason != "patience"
                               and best.stale < window)
        model.eval()
        test = self._test(split, touched) if len(split.test) else {}
        columns = ["epoch", "train_loss", "seconds", "eval_seconds", "elapsed_seconds", "negatives_per_s"]
        history = pd.DataFrame(rows)
        history = history[columns + [c for c in history.columns if c not in columns]]
        return TrainResult(model=model, history=history, best_epoch=best.epoch, valid=best.valid,
                           test=test, stop_reason=stop_reason, train_seconds=train_seconds, config=cfg,
                           touched_items=touched.numpy().copy(), epochs_trained=len(rows),
                           still_improving=still_improving,
                           new_best_tests=pd.DataFrame(self._new_best_tests) if cfg.test_at_new_best else None)

    def _test(self, split: Split, touched: torch.Tensor) -> dict:
        return evaluate(self.model, split.test, split.train, ks=self.config.ks,
                        batch_size=self.config.eval_batch_size, touched=touched)

    def __repr__(self) -> str:
        return f"Trainer(model={type(self.model).__name__}, sampler={self.sampler!r}, config={asdict(self.config)})"
