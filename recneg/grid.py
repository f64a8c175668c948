"""Experiment grids declared in TOML files (``experiments/<name>.toml``).

A grid names the data *settings* (dataset, split, optional user sample), one model, the
training budget, the *arms* (a sampler with its parameters and, optionally, a small
hyper-parameter grid to tune on validation), the *losses* every arm is crossed with, and
the seeds. :func:`load_grid` reads and validates a file; :meth:`Grid.tuning_cells` and
:meth:`Grid.final_cells` list the training runs ("cells") that
:func:`recneg.runner.run_grid` executes. A cell's ``key`` hashes everything that
determines its result, so a cell whose configuration did not change is never re-run.

A minimal file::

    name = "example"
    seeds = [0, 1, 2, 3, 4]
    tune_seeds = [0]

    [model]
    name = "sasrec"
    hidden = 50
    maxlen = 50

    [train]
    epochs = 200
    patience = 10
    num_negatives = 16

    [[settings]]
    label = "ml-100k/leave-one-out"
    dataset = "ml-100k"
    split = "leave-one-out"

    [[arms]]
    label = "popularity"
    sampler = "popularity"
    params = { smoothing = 1.0 }
    tune = { alpha = [0.25, 0.5, 0.75, 1.0] }

``[[losses]]`` tables (``label`` plus training options such as ``loss`` and ``logq``)
cross every arm with several losses; without them every arm uses ``[train]``'s loss.
``probes = [...]`` measures every trained model further; the numbers become extra metrics
of the tidy table. ``"calibration"``: calibration over the whole catalogue
(:func:`recneg.production.catalogue_calibration`; its reliability bins go to the
provenance). ``"false_negatives"``: in synthetic settings, the share of the trained
sampler's draws that the user truly likes (:func:`recneg.diagnostics.false_negative_rate`;
``fnr``, ``fnr_uniform``, and ``fnr_weighted`` for samplers that weigh their draws).
``"trained_false_negatives"``: in synthetic settings, the share of the negatives training
actually drew that the user truly likes (a :class:`recneg.diagnostics.DrawRecorder` around
the sampler, which leaves the draws unchanged): ``fnr_trained`` over the epochs up to the
best one and ``fnr_trained_best`` in the best epoch alone — what a curriculum's schedule
changes. ``"history"``: the mean over the epochs up to the best one of every column a method adds
to the training history (e.g. a memory bank's ``bank_staleness``), as ``mean_<column>``.
``"sampled_protocols"``: the test split ranked again against 100 sampled unseen items instead
of the whole catalogue (:func:`recneg.evaluation.evaluate` with ``protocol="sampled"``,
seeded by the cell's seed), once with uniform and once with popularity-drawn items: every
test metric again as ``<metric>_sampled_uniform`` and ``<metric>_sampled_popularity``
(e.g. ``hr@10_sampled_uniform``) — the protocols whose model orders a chapter compares.
``"cold_start"``: in a setting with ``thin_items = { fraction = …, keep = … }`` (a random
cohort of items kept to their first ``keep`` training interactions,
:func:`recneg.cold_start.thin_item_cohort`), how the model ranks the test rows whose target
is a new item (:func:`recneg.cold_start.cohort_report`: ``new_hr@10``, ``new_mrr``,
``new_top_share@10``) and the new items' share of the negatives training drew
(``new_negative_share``).
``"true_preferences"``: in synthetic settings, top-10 accuracy against everything the user
truly likes (:func:`recneg.diagnostics.true_preference_metrics`): ``true_precision@10``,
``true_ndcg@10`` and ``true_popularity@10``.
On a synthetic setting a sampler parameter may name what the world knows and a real log
does not: ``params = { exposed = "@world.exposed" }`` (what each user was shown) or
``propensity = "@world.propensity"`` (the share of users shown each item); see
``recneg.runner.WORLD_INPUTS``.
An arm may carry ``train = {...}`` overrides, ``model = {...}`` (a whole model table with its
``name``, replacing ``[model]`` for that arm: e.g. a BPR-MF arm in a SASRec grid, so that one
grid compares models on one split), and ``shown_as_failure = "<cause>"`` when a
chapter presents it on purpose as a failure (see :mod:`recneg.results`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import tomllib
from pathlib import Path
from typing import Any, Mapping, Sequence

from ._errors import RecnegError, check_positive_int

__all__ = ["Arm", "Cell", "Grid", "LossVariant", "PROBES", "Setting", "SPLITS", "load_grid", "miniature", "parse_grid"]

SPLITS = ("leave-one-out", "temporal")
_TOP_KEYS = {"name", "description", "seeds", "tune_seeds", "tune_metric", "model", "train",
             "settings", "arms", "losses", "chapter", "probes"}
#: Measurements a grid may ask for after training, besides the test metrics.
PROBES = ("calibration", "false_negatives", "trained_false_negatives", "history", "sampled_protocols",
          "true_preferences", "cold_start")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _digest(value: Any, length: int = 16) -> str:
    return hashlib.sha256(_canonical(value).encode()).hexdigest()[:length]


@dataclasses.dataclass(frozen=True)
class Setting:
    """One dataset and split. ``max_users`` samples users (seed ``sample_seed``) and then
    re-filters the sample to its ``k_core`` so that every kept item is trainable."""

    label: str
    dataset: str
    split: str
    max_users: int | None = None
    sample_seed: int = 0
    k_core: int | None = None
    world: Mapping[str, Any] | None = None  # SyntheticWorld arguments for dataset "synthetic"
    # recneg.cold_start.thin_item_cohort arguments: a cohort of items kept to a few training rows
    thin_items: Mapping[str, Any] | None = None

    def as_dict(self) -> dict:
        found = dataclasses.asdict(self)
        if found["thin_items"] is None:
            del found["thin_items"]   # so the cell keys of grids written before the field stay valid
        return found


@dataclasses.dataclass(frozen=True)
class LossVariant:
    """A loss and the training options that go with it (e.g. ``logq``)."""

    label: str
    options: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Arm:
    """A sampler with fixed ``params`` and a ``tune`` grid (name -> candidate values)."""

    label: str
    sampler: str | None
    params: Mapping[str, Any]
    tune: Mapping[str, tuple]
    train: Mapping[str, Any]
    shown_as_failure: str | None = None
    model: Mapping[str, Any] | None = None  # replaces the grid's [model] for this arm

    def candidates(self) -> list[dict]:
        """Every sampler parameter combination of the tuning grid (fixed params included)."""
        names = sorted(self.tune)
        return [{**self.params, **dict(zip(names, values))}
                for values in itertools.product(*(self.tune[n] for n in names))]


@dataclasses.dataclass(frozen=True)
class Cell:
    """One training run: a setting, an arm with concrete parameters, a loss, a seed."""

    setting: Setting
    arm: Arm
    loss: LossVariant
    params: Mapping[str, Any]
    seed: int
    model: Mapping[str, Any]
    train: Mapping[str, Any]
    probes: tuple[str, ...] = ()  # not part of the key: they measure the trained model, never change it

    @property
    def key(self) -> str:
        """Hash of everything that determines the result (not of labels or phase)."""
        setting = {k: v for k, v in self.setting.as_dict().items() if k != "label"}
        return _digest({"setting": setting, "sampler": self.arm.sampler, "params": dict(self.params),
                        "model": dict(self.model), "train": dict(self.train), "seed": self.seed})

    @property
    def loss_label(self) -> str:
        """The loss this cell trains with: an arm that sets its own ``loss`` is labelled by it,
        not by the grid's ``[train]`` default or ``[[losses]]`` entry that it overrides."""
        return str(self.train["loss"]) if "loss" in self.arm.train else self.loss.label

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.setting.label} · {self.arm.label}({params}) · {self.loss_label} · seed {self.seed}"


@dataclasses.dataclass(frozen=True)
class Grid:
    """A parsed grid file; see the module docstring for the format."""

    name: str
    description: str
    seeds: tuple[int, ...]
    tune_seeds: tuple[int, ...]
    tune_metric: str
    model: Mapping[str, Any]
    train: Mapping[str, Any]
    settings: tuple[Setting, ...]
    arms: tuple[Arm, ...]
    losses: tuple[LossVariant, ...]
    config_hash: str
    source: str = ""
    probes: tuple[str, ...] = ()

    def cell(self, setting: Setting, arm: Arm, loss: LossVariant, params: Mapping, seed: int) -> Cell:
        train = {**self.train, **loss.options, **arm.train}
        model = dict(arm.model if arm.model is not None else self.model)
        return Cell(setting, arm, loss, dict(params), int(seed), model, train, self.probes)

    def tuning_cells(self) -> list[Cell]:
        """Runs that choose each arm's parameters on validation (arms with a tune grid)."""
        return [self.cell(s, a, l, p, seed)
                for s in self.settings for l in self.losses for a in self.arms if len(a.candidates()) > 1
                for p in a.candidates() for seed in self.tune_seeds]

    def final_cells(self, chosen: Mapping[tuple[str, str, str], Mapping]) -> list[Cell]:
        """The published runs: every seed with the chosen parameters.

        ``chosen`` maps ``(setting label, arm label, loss label)`` to parameters; an arm
        without a tune grid uses its fixed ``params``.
        """
        cells = []
        for s, l, a in itertools.product(self.settings, self.losses, self.arms):
            params = a.candidates()[0] if len(a.candidates()) == 1 else chosen.get((s.label, a.label, l.label))
            if params is not None:
                cells.extend(self.cell(s, a, l, params, seed) for seed in self.seeds)
        return cells

    def n_final_cells(self) -> int:
        return len(self.settings) * len(self.losses) * len(self.arms) * len(self.seeds)

    def stopping_rule(self, loss: LossVariant | None = None) -> dict:
        """``{"patience", "warm-up", "epoch cap"}`` of the grid's runs, with ``loss``'s
        overrides (an arm's own ``train`` table may override them further)."""
        train = {**self.train, **(loss.options if loss is not None else {})}
        return {"patience": train.get("patience"), "warm-up": train.get("min_epochs", 0), "epoch cap": train["epochs"]}


def _require(table: Mapping, key: str, where: str, kind=None):
    if key not in table:
        raise RecnegError(f"{where} has no {key!r}; add it (see recneg.grid's docstring for the format)")
    value = table[key]
    if kind is not None and not isinstance(value, kind):
        raise RecnegError(f"{where}.{key} must be a {kind.__name__}, got {value!r}")
    return value


def _seeds(value, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        raise RecnegError(f"{where} must be a non-empty list of integers, got {value!r}")
    if len(set(value)) != len(value):
        raise RecnegError(f"{where} repeats a seed: {value!r}")
    return tuple(value)


def _parse_setting(table: Mapping, i: int) -> Setting:
    where = f"settings[{i}]"
    split = _require(table, "split", where, str)
    if split not in SPLITS:
        raise RecnegError(f"{where}.split must be one of {', '.join(SPLITS)}; got {split!r}")
    unknown = set(table) - {f.name for f in dataclasses.fields(Setting)}
    if unknown:
        raise RecnegError(f"{where} has unknown key(s) {sorted(unknown)}")
    thin = table.get("thin_items")
    if thin is not None and (not isinstance(thin, dict) or set(thin) - {"fraction", "keep", "random_state"}):
        raise RecnegError(f"{where}.thin_items must be a table of fraction, keep and random_state; got {thin!r}")
    return Setting(label=_require(table, "label", where, str), dataset=_require(table, "dataset", where, str),
                   split=split, max_users=table.get("max_users"), sample_seed=int(table.get("sample_seed", 0)),
                   k_core=table.get("k_core"), world=table.get("world"), thin_items=thin)


def _check_train(options: Mapping, where: str) -> dict:
    from .training import TrainConfig

    allowed = {f.name for f in dataclasses.fields(TrainConfig)} - {"seed", "device", "progress"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise RecnegError(f"{where} has unknown training option(s) {unknown}; valid: {', '.join(sorted(allowed))}")
    return dict(options)


def _parse_arm(table: Mapping, i: int) -> Arm:
    where = f"arms[{i}]"
    unknown = set(table) - {"label", "sampler", "params", "tune", "train", "shown_as_failure", "model"}
    if unknown:
        raise RecnegError(f"{where} has unknown key(s) {sorted(unknown)}")
    tune = table.get("tune", {})
    for name, values in tune.items():
        if not isinstance(values, list) or not values:
            raise RecnegError(f"{where}.tune.{name} must be a non-empty list of values, got {values!r}")
    sampler = table.get("sampler")
    model = table.get("model")
    if model is not None:
        _require(model, "name", f"{where}.model", str)
    return Arm(label=_require(table, "label", where, str), sampler=sampler if sampler != "none" else None,
               params=dict(table.get("params", {})), tune={k: tuple(v) for k, v in tune.items()},
               train=_check_train(table.get("train", {}), f"{where}.train"), shown_as_failure=table.get("shown_as_failure"),
               model=dict(model) if model is not None else None)


def parse_grid(text: str, *, source: str = "<string>") -> Grid:
    """Parse the TOML text of a grid; see the module docstring for the format.

    Examples
    --------
    >>> grid = parse_grid('''
    ... name = "tiny"
    ... seeds = [0, 1]
    ... [model]
    ... name = "bpr-mf"
    ... [train]
    ... epochs = 3
    ... [[settings]]
    ... label = "world"
    ... dataset = "synthetic"
    ... split = "leave-one-out"
    ... [[arms]]
    ... label = "popularity"
    ... sampler = "popularity"
    ... tune = { alpha = [0.5, 1.0] }
    ... ''')
    >>> len(grid.tuning_cells()), grid.n_final_cells()
    (2, 2)
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RecnegError(f"{source} is not valid TOML: {error}") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise RecnegError(f"{source} has unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    name = _require(data, "name", source, str)
    model = dict(_require(data, "model", source, dict))
    _require(model, "name", f"{source} [model]", str)
    settings = tuple(_parse_setting(t, i) for i, t in enumerate(_require(data, "settings", source, list)))
    arms = tuple(_parse_arm(t, i) for i, t in enumerate(_require(data, "arms", source, list)))
    for kind, items in (("settings", settings), ("arms", arms)):
        labels = [x.label for x in items]
        if not labels or len(set(labels)) != len(labels):
            raise RecnegError(f"{source}: {kind} labels must be present and distinct, got {labels}")
    train = _check_train(data.get("train", {}), f"{source} [train]")
    losses = tuple(LossVariant(label=_require(t, "label", f"losses[{i}]", str),
                               options=_check_train({k: v for k, v in t.items() if k != "label"}, f"losses[{i}]"))
                   for i, t in enumerate(data.get("losses", [])))
    if not losses:
        losses = (LossVariant(label=str(train.get("loss", "bce")), options={}),)
    seeds = _seeds(data.get("seeds", [0]), f"{source}: seeds")
    tune_seeds = _seeds(data.get("tune_seeds", [seeds[0]]), f"{source}: tune_seeds")
    probes = data.get("probes", [])
    if not isinstance(probes, list) or any(p not in PROBES for p in probes):
        raise RecnegError(f"{source}: probes must be a list drawn from {list(PROBES)}, got {probes!r}")
    parsed = {k: v for k, v in data.items() if k not in ("description", "chapter")}
    return Grid(name=name, description=str(data.get("description", "")), seeds=seeds, tune_seeds=tune_seeds,
                tune_metric=str(data.get("tune_metric", "ndcg@10")), model=model, train=train,
                settings=settings, arms=arms, losses=losses, config_hash=_digest(parsed, 16), source=source,
                probes=tuple(probes))


def load_grid(path) -> Grid:
    """Read ``experiments/<name>.toml``; the grid's ``name`` must match the file name."""
    path = Path(path)
    if not path.is_file():
        raise RecnegError(f"grid file {str(path)!r} does not exist; grids live in experiments/<name>.toml")
    grid = parse_grid(path.read_text(encoding="utf-8"), source=str(path))
    if grid.name != path.stem:
        raise RecnegError(f"{path} declares name = {grid.name!r}; it must equal the file name {path.stem!r}")
    return grid


def miniature(grid: Grid, *, seeds=(0,), max_users: int | None = None, epochs: int | None = None,
              arms: Sequence[str] | None = None, losses: Sequence[str] | None = None, tune: bool = True) -> Grid:
    """A smaller copy of ``grid`` that runs the same code path: the chapters' live runs.

    Parameters
    ----------
    grid : Grid
    seeds : sequence of int
        Seeds of the final runs (also the tuning seeds).
    max_users : int, optional
        Sample this many users in every setting (re-filtered to its ``k_core`` if it has one).
    epochs : int, optional
        Cap on training epochs (early stopping still applies; a warm-up, ``min_epochs``,
        longer than the cap is shortened to it).
    arms : sequence of str, optional
        Labels of the arms to keep (default: all).
    losses : sequence of str, optional
        Labels of the losses to keep (default: all).
    tune : bool, default True
        Keep the tuning grids; ``False`` uses each arm's first candidate.

    Examples
    --------
    >>> small = miniature(parse_grid('''
    ... name = "big"
    ... seeds = [0, 1, 2, 3, 4]
    ... [model]
    ... name = "bpr-mf"
    ... [[settings]]
    ... label = "world"
    ... dataset = "synthetic"
    ... split = "leave-one-out"
    ... [[arms]]
    ... label = "uniform"
    ... sampler = "uniform"
    ... '''), seeds=[0], epochs=2)
    >>> small.name, small.seeds, small.train["epochs"]
    ('big-live', (0,), 2)
    """
    seeds = _seeds(list(seeds), "seeds")
    keep = _kept(grid.arms, arms, "arms", grid.name)
    kept_losses = _kept(grid.losses, losses, "losses", grid.name)
    if not tune:
        keep = [dataclasses.replace(a, params=a.candidates()[0], tune={}) for a in keep]
    settings = tuple(dataclasses.replace(s, max_users=max_users if max_users is not None else s.max_users)
                     for s in grid.settings)
    train = dict(grid.train) if epochs is None else {**grid.train, "epochs": check_positive_int("epochs", epochs)}
    # A warm-up longer than the cap would be refused: the live run may stop at its cap.
    train["min_epochs"] = min(train.get("min_epochs", 0), train["epochs"])
    if not train["min_epochs"]:
        del train["min_epochs"]
    small = dataclasses.replace(grid, name=f"{grid.name}-live", seeds=seeds, tune_seeds=seeds[:1],
                                settings=settings, arms=tuple(keep), losses=tuple(kept_losses), train=train)
    return dataclasses.replace(small, config_hash=_digest([small.name, small.seeds, [x.as_dict() for x in settings],
                                                          [dataclasses.asdict(a) for a in keep], train,
                                                          [dataclasses.asdict(x) for x in kept_losses]], 16))


def _kept(entries: Sequence, labels: Sequence[str] | None, kind: str, grid_name: str) -> list:
    """The ``entries`` (arms or losses) whose labels are listed; all when ``labels`` is None."""
    if labels is None:
        return list(entries)
    keep = [e for e in entries if e.label in set(labels)]
    if len(keep) != len(set(labels)):
        known = ", ".join(e.label for e in entries)
        raise RecnegError(f"{kind} {list(labels)} are not all in grid {grid_name!r}; its {kind} are {known}")
    return keep
