"""Run training experiments and collect their results as tidy tables.

:func:`run_experiment` trains one (model, sampler, loss) configuration for one or more
seeds and returns one row per (seed, metric); :func:`compare_samplers` does this for a
list of samplers on the same split. The tables feed the CLI's ``compare`` command and
the book's notebooks, and always name the ranking protocol of their numbers.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from ._errors import RecnegError
from .data.interactions import Split
from .evaluation import evaluate
from .models import BPRMF, CosineMF, MostPopular, SASRec
from .training import TrainConfig, Trainer

__all__ = ["MODELS", "RESULT_COLUMNS", "build_model", "compare_samplers", "run_experiment"]

MODELS = ("sasrec", "bpr-mf", "cosine-mf", "most-popular")
RESULT_COLUMNS = [
    "dataset", "split", "model", "sampler", "sampler_params", "loss", "seed", "metric", "value",
    "protocol", "epochs", "best_epoch", "train_seconds",
]
_CONFIG_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)} - {"seed", "loss"}


def build_model(name: str, split: Split, *, random_state: int | None = 0, **params):
    """Construct a model by name for ``split``'s id spaces.

    Parameters
    ----------
    name : {"sasrec", "bpr-mf", "cosine-mf", "most-popular"}
    split : Split
    random_state : int or None
        Seed of the initialisation.
    **params
        Constructor arguments, e.g. ``hidden=50, maxlen=200`` for SASRec, ``dim=64`` for
        BPR-MF, ``dim=32, temperature=0.25`` for cosine MF (InfoNCE with a sampled softmax).

    Examples
    --------
    >>> from recneg.data import SyntheticWorld, leave_one_out
    >>> split = leave_one_out(SyntheticWorld(n_users=20, n_items=30, random_state=0).generate())
    >>> build_model("sasrec", split, hidden=8, maxlen=10).maxlen
    10
    """
    try:
        if name == "sasrec":
            return SASRec(split.n_items, random_state=random_state, **params)
        if name == "bpr-mf":
            return BPRMF(split.n_users, split.n_items, random_state=random_state, **params)
        if name == "cosine-mf":
            return CosineMF(split.n_users, split.n_items, random_state=random_state, **params)
        if name == "most-popular":
            return MostPopular(random_state=random_state, **params).fit(split.train)
    except TypeError as error:
        raise RecnegError(f"bad model parameters for {name!r}: {error}") from None
    raise RecnegError(f"model must be one of {', '.join(MODELS)}; got {name!r}")


def _make_sampler(name, params: Mapping[str, Any], seed: int):
    if name is None:
        return None
    from .samplers.base import NegativeSampler

    if isinstance(name, NegativeSampler):
        return name
    from .samplers.registry import make_sampler

    params = dict(params)
    params.setdefault("random_state", seed)
    return make_sampler(name, **params)


def _params_label(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, default=str) if params else ""


def run_experiment(
    split: Split,
    *,
    model: str = "sasrec",
    sampler="uniform",
    sampler_params: Mapping[str, Any] | None = None,
    loss: str = "bce",
    seeds: Iterable[int] = (0,),
    protocol: str = "full",
    n_sampled: int = 100,
    model_params: Mapping[str, Any] | None = None,
    label: str | None = None,
    **config: Any,
) -> pd.DataFrame:
    """Train and test one configuration for each seed; return tidy result rows.

    Parameters
    ----------
    split : Split
        From :func:`~recneg.data.leave_one_out` or :func:`~recneg.data.global_temporal_split`.
    model : {"sasrec", "bpr-mf", "most-popular"}, default "sasrec"
        ``"most-popular"`` is not trained (sampler and loss are ignored).
    sampler : str, NegativeSampler or None, default "uniform"
        A name understood by :func:`recneg.samplers.make_sampler`, a sampler
        instance (reused for every seed), or ``None`` with ``loss="ce"``.
    sampler_params : dict, optional
        Constructor arguments of the sampler (``random_state`` defaults to the seed).
    loss : str, default "bce"
        See :class:`~recneg.training.TrainConfig`.
    seeds : iterable of int, default (0,)
        One training run per seed (model initialisation, batches, negatives).
    protocol : {"full", "sampled"}, default "full"
        Ranking protocol of the reported test metrics (validation always uses full
        ranking); ``"sampled"`` ranks against ``n_sampled`` uniform negatives.
    n_sampled : int, default 100
    model_params : dict, optional
        Constructor arguments of the model (e.g. ``{"hidden": 50, "maxlen": 200}``).
    label : str, optional
        Name for the ``sampler`` column (default: the sampler's name).
    **config
        :class:`~recneg.training.TrainConfig` fields (``epochs``, ``num_negatives``,
        ``lr``, ``patience``, ...); ``progress`` defaults to False here.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RESULT_COLUMNS`: ``dataset, split, model, sampler,
        sampler_params, loss, seed, metric, value, protocol, epochs, best_epoch,
        train_seconds`` — one row per seed and test metric.

    Examples
    --------
    >>> from recneg.data import SyntheticWorld, leave_one_out
    >>> split = leave_one_out(SyntheticWorld(n_users=40, n_items=30, random_state=0).generate())
    >>> table = run_experiment(split, model="sasrec", sampler=None, loss="ce", epochs=1,
    ...                        model_params={"hidden": 8, "maxlen": 10})
    >>> table.query("metric == 'ndcg@10'")[["model", "sampler", "loss", "protocol"]].values.tolist()
    [['sasrec', 'none', 'ce', 'full']]
    """
    _check_experiment(split, model, config)
    seeds = list(seeds)
    if not seeds:
        raise RecnegError("seeds is empty; pass at least one seed, e.g. seeds=(0,)")
    sampler_params, model_params = dict(sampler_params or {}), dict(model_params or {})
    config.setdefault("progress", False)
    trained = model != "most-popular"
    if isinstance(sampler, str) or sampler is None:
        sampler_name = "none" if sampler is None or not trained else sampler
    else:
        sampler_name = getattr(sampler, "name", type(sampler).__name__)
    labels = {"dataset": split.train.name, "split": split.protocol, "model": model, "sampler": label or sampler_name,
              "sampler_params": _params_label(sampler_params) if trained else "",
              "loss": loss if trained else "none"}
    frames = [_run_seed(split, model, sampler, sampler_params, model_params, loss, seed, protocol, n_sampled,
                        config, labels) for seed in seeds]
    return pd.concat(frames, ignore_index=True)[RESULT_COLUMNS]


def _check_experiment(split, model: str, config: Mapping[str, Any]) -> None:
    if not isinstance(split, Split):
        raise RecnegError(f"run_experiment expects a Split, got {type(split).__name__}")
    unknown = sorted(set(config) - _CONFIG_FIELDS)
    if unknown:
        raise RecnegError(
            f"unknown training option(s) {', '.join(unknown)}; valid ones: {', '.join(sorted(_CONFIG_FIELDS))}"
        )
    if model not in MODELS:
        raise RecnegError(f"model must be one of {', '.join(MODELS)}; got {model!r}")


def _run_seed(split, model, sampler, sampler_params, model_params, loss, seed, protocol, n_sampled, config,
              labels) -> pd.DataFrame:
    """Train (unless MostPopular) and test one seed; the tidy rows of its test metrics."""
    built = build_model(model, split, random_state=seed, **model_params)
    epochs, best_epoch, seconds, metrics = 0, 0, 0.0, None
    if model != "most-popular":
        cfg = TrainConfig(loss=loss, seed=seed, **config)
        result = Trainer(built, _make_sampler(sampler, sampler_params, seed), cfg).fit(split)
        epochs, best_epoch, seconds = len(result.history), result.best_epoch, result.train_seconds
        metrics = result.test if protocol == "full" else None
    if metrics is None:
        metrics = evaluate(built, split.test, split.train, ks=tuple(config.get("ks", (10,))), protocol=protocol,
                           n_sampled=n_sampled, random_state=seed)
    values = {k: float(v) for k, v in metrics.items() if k not in ("protocol", "candidates")}
    return pd.DataFrame({**labels, "seed": seed, "metric": list(values), "value": list(values.values()),
                         "protocol": metrics["protocol"], "epochs": epochs, "best_epoch": best_epoch,
                         "train_seconds": seconds})


def compare_samplers(
    split: Split,
    samplers: Sequence[str | Mapping[str, Any]],
    *,
    seeds: Iterable[int] = (0,),
    **kwargs: Any,
) -> pd.DataFrame:
    """:func:`run_experiment` for each sampler on the same split, stacked.

    Parameters
    ----------
    split : Split
    samplers : list of str or dict
        A sampler name, or a dict ``{"name": ..., "label": ..., **params}`` (``label``
        names the rows, default the name; other keys are constructor arguments).
    seeds : iterable of int
    **kwargs
        Passed to :func:`run_experiment` (``model``, ``loss``, ``epochs``, ...).

    Returns
    -------
    pandas.DataFrame
        The rows of every run, columns :data:`RESULT_COLUMNS`.

    Examples
    --------
    >>> from recneg.data import SyntheticWorld, leave_one_out
    >>> split = leave_one_out(SyntheticWorld(n_users=40, n_items=30, random_state=0).generate())
    >>> table = compare_samplers(split, ["uniform", {"name": "popularity", "alpha": 0.75,
    ...                          "label": "pop-0.75"}], epochs=1, model_params={"hidden": 8, "maxlen": 10})
    >>> sorted(table.sampler.unique())
    ['pop-0.75', 'uniform']
    """
    if isinstance(samplers, (str, Mapping)):
        samplers = [samplers]
    if not samplers:
        raise RecnegError("samplers is empty; pass e.g. ['uniform', 'popularity']")
    seeds = list(seeds)
    frames = []
    for spec in samplers:
        if isinstance(spec, str):
            name, params, label = spec, {}, spec
        elif isinstance(spec, Mapping):
            params = dict(spec)
            if "name" not in params:
                raise RecnegError(f"sampler spec {dict(spec)!r} has no 'name'; e.g. {{'name': 'popularity', 'alpha': 0.75}}")
            name = params.pop("name")
            label = params.pop("label", name)
        else:
            raise RecnegError(f"each sampler must be a name or a dict with 'name', got {spec!r}")
        frames.append(run_experiment(split, sampler=name, sampler_params=params, label=label,
                                     seeds=seeds, **kwargs))
    return pd.concat(frames, ignore_index=True)
