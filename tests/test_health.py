"""Tests of recneg.health: the popularity floor and the three run-health flags."""

import math

import numpy as np
import pytest
import torch

from recneg import RecnegError
from recneg.data import Interactions, SyntheticWorld, leave_one_out
from recneg.evaluation import evaluate
from recneg.health import FLAGS, RunHealth, assess, assess_result, health_line, popularity_floor
from recneg.models import BPRMF, MostPopular
from recneg.samplers import PopularitySampler
from recneg.training import TrainConfig, Trainer


@pytest.fixture(scope="module")
def split():
    return leave_one_out(SyntheticWorld(n_users=120, n_items=50, random_state=2).generate())


@pytest.fixture(scope="module")
def padded_split():
    """A log with 30 items that have no interaction at all."""
    log = SyntheticWorld(n_users=120, n_items=50, random_state=2).generate()
    return leave_one_out(Interactions(log.users, log.items, log.timestamps, n_users=log.n_users,
                                      n_items=log.n_items + 30, name="padded"))


HEALTHY = {"hr@10": 0.30, "coverage@10": 0.4, "untouched_share@10": 0.0, "mean_pop@10": 20.0,
           "protocol": "full", "candidates": "trained"}
FLOOR = {"hr@10": 0.20, "protocol": "full", "candidates": "trained"}
CONVERGED = dict(epochs_trained=30, best_epoch=25, stop_reason="patience", still_improving=False)


# -- popularity floor -------------------------------------------------------------------
@pytest.mark.parametrize("candidates", ["trained", "all"])
def test_popularity_floor_is_most_popular_evaluated_on_test(padded_split, candidates):
    floor = popularity_floor(padded_split, ks=(5, 10), candidates=candidates)
    direct = evaluate(MostPopular(padded_split.train), padded_split.test, padded_split.train,
                      ks=(5, 10), candidates=candidates)
    assert floor.keys() == direct.keys()
    for key, value in direct.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(floor[key]), key
        else:
            assert floor[key] == value, key
    assert floor["candidates"] == candidates and floor["protocol"] == "full"


def test_popularity_floor_default_is_trained_candidates_at_10(split):
    floor = popularity_floor(split)
    assert floor["candidates"] == "trained" and "hr@10" in floor and 0 < floor["hr@10"] < 1
    with pytest.raises(RecnegError, match="Split"):
        popularity_floor(split.train)


# -- assess on hand-built inputs ----------------------------------------------------------
def test_a_healthy_run_raises_no_flag():
    health = assess(HEALTHY, FLOOR, **CONVERGED)
    assert health.flags == () and not health.flagged
    assert (health.hr10, health.floor_hr10, health.coverage10, health.mean_pop10) == (0.30, 0.20, 0.4, 20.0)
    assert (health.epochs_trained, health.best_epoch, health.stop_reason) == (30, 25, "patience")


def test_below_most_popular_is_flagged():
    health = assess({**HEALTHY, "hr@10": 0.19}, FLOOR, **CONVERGED)
    assert health.flags == ("below-most-popular",) and health.flagged
    # Equal to the floor is not below it.
    assert assess({**HEALTHY, "hr@10": 0.20}, FLOOR, **CONVERGED).flags == ()


def test_untouched_items_are_flagged_above_the_limit():
    assert assess({**HEALTHY, "untouched_share@10": 0.06}, FLOOR, **CONVERGED).flags == ("untouched-items",)
    assert assess({**HEALTHY, "untouched_share@10": 0.05}, FLOOR, **CONVERGED).flags == ()
    lenient = assess({**HEALTHY, "untouched_share@10": 0.06}, FLOOR, **CONVERGED, untouched_limit=0.1)
    assert lenient.flags == ()
    strict = assess({**HEALTHY, "untouched_share@10": 0.01}, FLOOR, **CONVERGED, untouched_limit=0.0)
    assert strict.flags == ("untouched-items",)


def test_not_converged_is_flagged():
    stopped = dict(epochs_trained=200, best_epoch=198, stop_reason="epochs", still_improving=True)
    assert assess(HEALTHY, FLOOR, **stopped).flags == ("not-converged",)
    budget = dict(stopped, stop_reason="time budget", epochs_trained=17, best_epoch=17)
    assert assess(HEALTHY, FLOOR, **budget).flags == ("not-converged",)


def test_all_three_flags_in_a_stable_order():
    bad = {**HEALTHY, "hr@10": 0.05, "untouched_share@10": 0.73}
    health = assess(bad, FLOOR, epochs_trained=200, best_epoch=200, stop_reason="epochs",
                    still_improving=True)
    assert health.flags == FLAGS == ("below-most-popular", "untouched-items", "not-converged")
    row = health.as_dict()
    assert row["flags"] == "below-most-popular,untouched-items,not-converged"
    assert row["untouched_share10"] == 0.73 and set(row) == {
        "hr10", "floor_hr10", "coverage10", "untouched_share10", "mean_pop10", "epochs_trained",
        "best_epoch", "stop_reason", "still_improving", "flags"}


def test_nan_figures_raise_no_flag():
    empty = {**HEALTHY, "hr@10": math.nan, "untouched_share@10": math.nan}
    assert assess(empty, FLOOR, **CONVERGED).flags == ()


def test_run_health_is_frozen():
    health = assess(HEALTHY, FLOOR, **CONVERGED)
    with pytest.raises(AttributeError):
        health.flags = ("x",)
    assert isinstance(health, RunHealth)


@pytest.mark.parametrize(
    "run, floor, kwargs, message",
    [
        ({k: v for k, v in HEALTHY.items() if k != "hr@10"}, FLOOR, {}, "test_metrics has no 'hr@10'"),
        (HEALTHY, {"protocol": "full"}, {}, "floor_metrics has no 'hr@10'"),
        ({k: v for k, v in HEALTHY.items() if k != "untouched_share@10"}, FLOOR, {}, "untouched_share@10"),
        ({**HEALTHY, "candidates": "all"}, FLOOR, {}, "candidates='all' but the floor with 'trained'"),
        ({**HEALTHY, "protocol": "sampled-uniform-100"}, FLOOR, {}, "protocol"),
        (HEALTHY, FLOOR, {"untouched_limit": 1.5}, "untouched_limit"),
        (HEALTHY, FLOOR, {"still_improving": "yes"}, "still_improving must be True or False"),
    ],
)
def test_bad_inputs_raise_one_line_errors(run, floor, kwargs, message):
    with pytest.raises(RecnegError, match=message) as info:
        assess(run, floor, **{**CONVERGED, **kwargs})
    assert "\n" not in str(info.value)


# -- on real runs --------------------------------------------------------------------------
def test_assess_result_reads_a_train_result(padded_split):
    model = BPRMF(padded_split.n_users, padded_split.n_items, dim=8, random_state=0)
    cfg = TrainConfig(epochs=2, loss="bpr", batch_size=512, patience=None, progress=False, device="cpu")
    result = Trainer(model, PopularitySampler(alpha=1.0, random_state=0), cfg).fit(padded_split)
    floor = popularity_floor(padded_split)
    health = assess_result(result, floor)
    assert health.hr10 == result.test["hr@10"] and health.floor_hr10 == floor["hr@10"]
    assert (health.epochs_trained, health.best_epoch, health.stop_reason) == (2, result.best_epoch, "epochs")
    assert health.still_improving is result.still_improving
    assert ("not-converged" in health.flags) is result.still_improving
    # The trained-candidate default keeps the 30 never-seen items out of the lists ...
    assert health.untouched_share10 == 0.0
    # ... while the whole catalogue lets their initial scores in, and assess flags it.
    every = evaluate(result.model, padded_split.test, padded_split.train, candidates="all",
                     touched=result.touched_items)
    floor_all = popularity_floor(padded_split, candidates="all")
    flagged = assess(every, floor_all, epochs_trained=2, best_epoch=2, stop_reason="epochs",
                     still_improving=False)
    assert every["untouched_share@10"] > 0.05 and "untouched-items" in flagged.flags
    with pytest.raises(RecnegError, match="TrainResult"):
        assess_result(result.test, floor)


def _health(hr10, floor, *, untouched=0.0, epochs=10, best=5, stop="patience", improving=False):
    return assess({"hr@10": hr10, "untouched_share@10": untouched}, {"hr@10": floor},
                  epochs_trained=epochs, best_epoch=best, stop_reason=stop, still_improving=improving)


def test_health_line_names_ties_capped_runs_and_every_floor():
    # a run that ties the floor is not flagged by assess but has not beaten the floor either
    runs = {("uniform", 0): _health(0.12, 0.09),
            ("uniform", 1): _health(0.09, 0.09, untouched=0.031),
            ("popularity", 0): _health(0.10, 0.07, epochs=30, best=30, stop="epochs", improving=True)}
    line = health_line(runs, label="ml-100k, leave-one-out")
    assert line.startswith("ml-100k, leave-one-out: 3 runs; epochs trained 10–30, best epoch 5–30;")
    assert "stopped by patience ×2, epochs ×1" in line
    assert "still improving at the cap: 1 (popularity (seed 0))" in line
    assert "(HR@10 0.0700 / 0.0900): 1 (uniform (seed 1))" in line
    assert line.endswith("largest untouched share of the top-10 slots: 3.1%.")
    healthy = health_line({"a": _health(0.2, 0.1), "b": _health(0.3, 0.1)})
    assert "still improving at the cap: none" in healthy and "floor (HR@10 0.1000): none" in healthy


def test_health_line_refuses_no_runs():
    with pytest.raises(RecnegError, match="no runs"):
        health_line({})


def test_health_line_of_one_run_reads_as_one():
    line = health_line({("uniform", 0): _health(0.12, 0.09, epochs=15, best=10)})
    assert line.startswith("1 run; epochs trained 15, best epoch 10;")
