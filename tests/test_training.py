"""Tests for recneg.training and recneg.experiment."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch

from recneg import RecnegError
from recneg.data import Interactions, SyntheticWorld, leave_one_out
from recneg.evaluation import evaluate
from recneg.experiment import RESULT_COLUMNS, compare_samplers, run_experiment
from recneg.models import BPRMF, MostPopular, SASRec
from recneg.samplers import NegativeSample, NegativeSampler, PopularitySampler, UniformSampler, make_sampler
from recneg.samplers.base import output_shape
from recneg.training import TrainConfig, Trainer, replay_early_stopping, sequence_matrix


class HardestOfPool(NegativeSampler):
    """Scores a uniform pool with the scorer and keeps the top k (records what it saw)."""

    family = "dynamic"
    needs_scorer = True

    def __init__(self, pool=6, **kwargs):
        super().__init__(**kwargs)
        self.pool = pool
        self.seen = []

    def _sample(self, users, positives, k, *, per_position, scorer, generator):
        shape = output_shape(positives, self.pool, per_position)
        pool = torch.randint(1, self.n_items_ + 1, shape, generator=generator)
        scores = scorer(pool)
        self.seen.append((tuple(positives.shape), tuple(pool.shape), tuple(scores.shape), scores.requires_grad))
        if not per_position and positives.dim() == 2:
            scores = scores.max(dim=1).values  # (B, P): hardest over positions
        top = scores.topk(k, dim=-1).indices
        items = pool.gather(-1, top)
        return NegativeSample(items, torch.zeros(items.shape))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small_split():
    return leave_one_out(SyntheticWorld(n_users=150, n_items=60, random_state=1).generate())


@pytest.fixture(scope="module")
def world_split():
    return leave_one_out(SyntheticWorld(n_users=300, n_items=100, random_state=0).generate())


def quiet(**kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("device", "cpu")
    return TrainConfig(**kwargs)


# -- configuration -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": -1}, "epochs must be positive, got -1"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0}, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, "lr"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"loss": "hinge"}, "loss must be one of"),
        ({"num_negatives": 0}, "num_negatives"),
        ({"logq": True, "loss": "bce"}, "logq=True"),
        ({"gbce_t": 1.5}, "gbce_t"),
        ({"patience": 0}, "patience"),
        ({"min_epochs": -1}, "min_epochs must be non-negative"),
        ({"epochs": 5, "min_epochs": 6}, r"min_epochs \(6\) exceeds epochs \(5\)"),
        ({"eval_every": 0}, "eval_every"),
        ({"valid_metric": "auc"}, "valid_metric"),
        ({"max_train_seconds": -5}, "max_train_seconds"),
        ({"seed": 1.5}, "seed"),
        ({"device": "warp-drive"}, "device"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(RecnegError, match=message):
        TrainConfig(**kwargs)


def test_config_adds_the_validation_cutoff_to_ks():
    assert TrainConfig(ks=(5,), valid_metric="hr@20").ks == (5, 20)
    assert TrainConfig(valid_metric="mrr", ks=3).ks == (3,)


def test_maxlen_zero_is_rejected():
    with pytest.raises(RecnegError, match="maxlen must be positive, got 0"):
        SASRec(n_items=10, maxlen=0)
    log = Interactions(np.array([0, 0]), np.array([1, 2]), np.arange(2), n_users=1, n_items=2)
    with pytest.raises(RecnegError, match="maxlen"):
        sequence_matrix(log, 0)


# -- training data -------------------------------------------------------------------------------
def test_sequence_matrix_is_time_ordered_truncated_and_right_aligned():
    log = Interactions(
        users=np.array([1, 0, 0, 0, 0, 0, 2, 2]),
        items=np.array([9, 5, 1, 4, 2, 3, 7, 8]),
        timestamps=np.array([0, 50, 10, 40, 20, 30, 1, 2]),
        n_users=3, n_items=9,
    )
    users, inputs, targets, lengths = sequence_matrix(log, maxlen=3)
    # User 0's sequence by time is 1, 2, 3, 4, 5: the last maxlen + 1 = 4 items are 2..5.
    # User 1 has one interaction and no (input, target) pair.
    assert users.tolist() == [0, 2]
    assert inputs.tolist() == [[2, 3, 4], [0, 0, 7]]
    assert targets.tolist() == [[3, 4, 5], [0, 0, 8]]
    assert lengths.tolist() == [3, 1]


# -- trainer contract -----------------------------------------------------------------------------
def test_trainer_rejects_inconsistent_arguments(small_split):
    model = SASRec(small_split.n_items, hidden=8, maxlen=5)
    with pytest.raises(RecnegError, match="pass sampler=None"):
        Trainer(model, UniformSampler(), quiet(loss="ce"))
    with pytest.raises(RecnegError, match="needs a negative sampler"):
        Trainer(model, None, quiet(loss="bce"))
    with pytest.raises(RecnegError, match="score_items"):
        Trainer(MostPopular(), None, quiet(loss="ce"))
    wrong = SASRec(small_split.n_items + 1, hidden=8, maxlen=5)
    with pytest.raises(RecnegError, match="n_items=split.n_items"):
        Trainer(wrong, None, quiet(loss="ce", epochs=1)).fit(small_split)
    with pytest.raises(RecnegError, match="Split"):
        Trainer(model, None, quiet(loss="ce", epochs=1)).fit(small_split.train)


@pytest.mark.parametrize(
    "loss, per_position",
    [(loss, per_position) for loss in ("bce", "bpr", "sampled-softmax", "gbce") for per_position in (False, True)]
    + [("ce", False)],
)
def test_every_loss_trains_a_sequential_model(small_split, loss, per_position):
    model = SASRec(small_split.n_items, hidden=8, maxlen=10, random_state=0)
    before = model.item_embedding.weight.detach().clone()
    sampler = None if loss == "ce" else UniformSampler(random_state=0)
    cfg = quiet(epochs=1, loss=loss, num_negatives=3, per_position=per_position,
                logq=loss == "sampled-softmax")
    result = Trainer(model, sampler, cfg).fit(small_split)
    history = result.history
    assert list(history.columns[:6]) == ["epoch", "train_loss", "seconds", "eval_seconds",
                                         "elapsed_seconds", "negatives_per_s"]
    assert np.isfinite(history.train_loss).all() and (history.negatives_per_s > 0).all()
    assert "valid_ndcg@10" in history and 0 <= result.test["ndcg@10"] <= 1
    assert not torch.equal(before, model.item_embedding.weight.detach())


@pytest.mark.parametrize("name", ["popularity", "in-batch", "mixed", "adaptive", "adaptive-mixed"])
def test_registered_samplers_train_sasrec(small_split, name):
    model = SASRec(small_split.n_items, hidden=8, maxlen=10, random_state=0)
    sampler = make_sampler(name, random_state=0)
    result = Trainer(model, sampler, quiet(epochs=1, num_negatives=4, batch_size=64)).fit(small_split)
    assert np.isfinite(result.history.train_loss).all() and 0 <= result.test["ndcg@10"] <= 1


def test_dynamic_sampler_gets_a_no_grad_scorer_of_the_batch(small_split):
    for per_position in (False, True):
        sampler = HardestOfPool(pool=6, random_state=0)
        model = SASRec(small_split.n_items, hidden=8, maxlen=10, random_state=0)
        Trainer(model, sampler, quiet(epochs=1, num_negatives=2, per_position=per_position,
                                      batch_size=64)).fit(small_split)
        assert sampler.seen
        for positives, pool, scores, requires_grad in sampler.seen:
            batch, width = positives
            assert pool == ((batch, width, 6) if per_position else (batch, 6))
            assert scores == (batch, width, 6) and not requires_grad


def test_dynamic_sampler_with_mf_scores_users(small_split):
    sampler = HardestOfPool(pool=5, random_state=0)
    model = BPRMF(small_split.n_users, small_split.n_items, dim=8, random_state=0)
    Trainer(model, sampler, quiet(epochs=1, loss="bpr", batch_size=512)).fit(small_split)
    assert all(scores == pool and len(pool) == 2 and not grad for _, pool, scores, grad in sampler.seen)


def test_training_is_reproducible_from_the_seed(small_split):
    def losses(seed):
        model = SASRec(small_split.n_items, hidden=8, maxlen=10, random_state=0)
        cfg = quiet(epochs=2, num_negatives=2, seed=seed)
        return Trainer(model, UniformSampler(random_state=123), cfg).fit(small_split).history.train_loss.tolist()

    assert losses(0) == losses(0)
    assert losses(0) != losses(1)


def test_time_budget_stops_training(small_split):
    model = SASRec(small_split.n_items, hidden=8, maxlen=10, random_state=0)
    result = Trainer(model, None, quiet(epochs=50, loss="ce", max_train_seconds=1e-6, batch_size=16)).fit(small_split)
    assert result.stop_reason == "time budget" and len(result.history) == 1
    # One validation, the best so far: cut off while still improving.
    assert result.epochs_trained == 1 and result.best_epoch == 1 and result.still_improving


# -- quality and early stopping ---------------------------------------------------------------------
def test_sasrec_beats_most_popular_on_a_sequential_world(world_split):
    split = world_split
    popular = MostPopular(split.train)
    model = SASRec(split.n_items, hidden=32, maxlen=25, dropout=0.1, random_state=0)
    cfg = quiet(epochs=15, batch_size=64, loss="sampled-softmax", num_negatives=16, lr=5e-3,
                patience=None)
    result = Trainer(model, UniformSampler(random_state=0), cfg).fit(split)
    for part, trained in (("valid", result.valid), ("test", result.test)):
        baseline = evaluate(popular, getattr(split, part), split.train)["ndcg@10"]
        # About 0.21 for most-popular; SASRec reaches about 0.35 at this seed.
        assert trained["ndcg@10"] > baseline + 0.05, (part, trained["ndcg@10"], baseline)


def test_bpr_mf_learns_beyond_its_initialisation(small_split):
    model = BPRMF(small_split.n_users, small_split.n_items, dim=16, random_state=0)
    start = evaluate(model, small_split.valid, small_split.train)["ndcg@10"]
    cfg = quiet(epochs=10, loss="bpr", batch_size=256, num_negatives=4, lr=1e-2, patience=None)
    result = Trainer(model, UniformSampler(random_state=0), cfg).fit(small_split)
    assert result.valid["ndcg@10"] > start + 0.1


def test_early_stopping_restores_the_best_checkpoint(small_split):
    model = SASRec(small_split.n_items, hidden=16, maxlen=15, dropout=0.0, random_state=0)
    cfg = quiet(epochs=25, batch_size=32, num_negatives=2, lr=3e-2, patience=3)
    result = Trainer(model, UniformSampler(random_state=0), cfg).fit(small_split)
    history = result.history
    assert result.stop_reason == "patience"
    best_row = history["valid_ndcg@10"].idxmax()
    assert result.best_epoch == history.epoch[best_row] < history.epoch.iloc[-1]
    assert len(history) == result.best_epoch + 3
    assert result.epochs_trained == len(history) and not result.still_improving
    restored = evaluate(result.model, small_split.valid, small_split.train)
    assert restored["ndcg@10"] == pytest.approx(history["valid_ndcg@10"].max(), abs=1e-12)
    assert result.valid["ndcg@10"] == pytest.approx(restored["ndcg@10"], abs=1e-12)


# -- touched items, epochs trained, still improving ----------------------------------------------
class FirstItemsOnly(NegativeSampler):
    """Draws negatives uniformly from items 1..m only: the others are never negatives."""

    family = "static"

    def __init__(self, m=5, **kwargs):
        super().__init__(exclude_positives=False, **kwargs)
        self.m = m

    def _sample(self, users, positives, k, *, per_position, scorer, generator):
        items = torch.randint(1, self.m + 1, output_shape(positives, k, per_position), generator=generator)
        return NegativeSample(items, torch.full(items.shape, -float(np.log(self.m))))


@pytest.fixture(scope="module")
def padded_split():
    """small_split's log with 40 more items that have no interaction at all."""
    log = SyntheticWorld(n_users=150, n_items=60, random_state=1).generate()
    wider = Interactions(log.users, log.items, log.timestamps, n_users=log.n_users,
                         n_items=log.n_items + 40, name="padded")
    return leave_one_out(wider)


@pytest.mark.parametrize("sampler", [FirstItemsOnly(m=5, random_state=0),
                                     PopularitySampler(alpha=1.0, random_state=0)])
def test_mf_touches_positives_and_drawn_negatives_only(padded_split, sampler):
    split = padded_split
    model = BPRMF(split.n_users, split.n_items, dim=8, random_state=0)
    result = Trainer(model, sampler, quiet(epochs=1, loss="bpr", batch_size=256, num_negatives=2)).fit(split)
    touched = result.touched_items
    assert touched.dtype == np.bool_ and touched.shape == (split.n_items + 1,) and not touched[0]
    counts = split.train.item_counts()
    # MF: every training interaction is a positive target, so trained == touched ...
    assert touched[counts > 0].all()
    # ... and neither sampler can ever draw the 40 items without interactions.
    assert not touched[61:].any()
    expected = counts > 0
    if isinstance(sampler, FirstItemsOnly):
        expected[1:6] = True
    assert np.array_equal(touched, expected)
    # Their random initial scores reach the top-10 once they are candidates.
    every = evaluate(result.model, split.test, split.train, candidates="all", touched=touched)
    assert every["untouched_share@10"] > 0
    assert result.test["untouched_share@10"] == 0.0 and result.test["candidates"] == "trained"
    assert "untouched_share@10" in result.valid


def test_sasrec_first_items_are_trained_but_can_stay_untouched(padded_split):
    split = padded_split
    model = SASRec(split.n_items, hidden=8, maxlen=200, random_state=0)
    result = Trainer(model, FirstItemsOnly(m=5, random_state=0),
                     quiet(epochs=1, batch_size=64, num_negatives=2)).fit(split)
    _, _, targets, _ = sequence_matrix(split.train, 200)
    expected = np.zeros(split.n_items + 1, dtype=bool)
    expected[targets[targets > 0].numpy()] = True
    expected[1:6] = True
    assert np.array_equal(result.touched_items, expected)
    # Some item occurs only first in its user's sequence: trained, yet never touched.
    assert ((split.train.item_counts() > 0) & ~result.touched_items).any()
    # The test evaluation got the record: it equals a fresh evaluation with it.
    again = evaluate(result.model, split.test, split.train, touched=result.touched_items)
    assert result.test["untouched_share@10"] == again["untouched_share@10"]


def test_full_softmax_touches_every_item(padded_split):
    model = SASRec(padded_split.n_items, hidden=8, maxlen=10, random_state=0)
    result = Trainer(model, None, quiet(epochs=1, loss="ce", batch_size=64)).fit(padded_split)
    assert result.touched_items[1:].all() and not result.touched_items[0]
    every = evaluate(result.model, padded_split.test, padded_split.train, candidates="all",
                     touched=result.touched_items)
    assert every["untouched_share@10"] == 0.0


class ScriptedValidation(Trainer):
    """Validation returns the next value of a script instead of evaluating."""

    def __init__(self, values, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.values = list(values)

    def _validate(self, split):
        return {"ndcg@10": self.values.pop(0)}


@pytest.mark.parametrize(
    "values, epochs, patience, stop_reason, best_epoch, still_improving",
    [
        ([0.1, 0.2, 0.3], 3, None, "epochs", 3, True),           # last validation best
        ([0.1, 0.3, 0.2], 3, None, "epochs", 2, False),          # no patience: best before the end
        ([0.1, 0.3, 0.2, 0.25], 4, 3, "epochs", 2, True),        # best within the last 3
        ([0.3, 0.2, 0.1, 0.0], 4, 3, "patience", 1, False),      # early stopping decided
        ([0.1, 0.3, 0.2, 0.2], 4, 2, "patience", 2, False),
    ],
)
def test_still_improving_and_epochs_trained(small_split, values, epochs, patience, stop_reason,
                                            best_epoch, still_improving):
    model = BPRMF(small_split.n_users, small_split.n_items, dim=4, random_state=0)
    trainer = ScriptedValidation(values, model, UniformSampler(random_state=0),
                                 quiet(epochs=epochs, patience=patience, loss="bpr", batch_size=1024))
    result = trainer.fit(small_split)
    assert (result.stop_reason, result.best_epoch) == (stop_reason, best_epoch)
    assert result.still_improving is still_improving
    assert result.epochs_trained == len(result.history) == len(values)


@pytest.mark.parametrize(
    "min_epochs, stop_epoch, best_epoch",
    [
        (0, 4, 2),    # patience 2 ends the run on the plateau
        (4, 4, 2),    # the warm-up is over when patience runs out: the same run
        (6, 8, 6),    # warm-up past the plateau: the later rise is found, then patience ends it
    ],
)
def test_min_epochs_keeps_early_stopping_off_an_initial_plateau(small_split, min_epochs, stop_epoch,
                                                                best_epoch):
    plateau_then_rise = [0.1, 0.3, 0.2, 0.2, 0.2, 0.5, 0.4, 0.4, 0.3, 0.3]
    model = BPRMF(small_split.n_users, small_split.n_items, dim=4, random_state=0)
    trainer = ScriptedValidation(plateau_then_rise, model, UniformSampler(random_state=0),
                                 quiet(epochs=10, patience=2, min_epochs=min_epochs, loss="bpr",
                                       batch_size=1024))
    result = trainer.fit(small_split)
    assert (result.stop_reason, result.epochs_trained, result.best_epoch) == ("patience", stop_epoch, best_epoch)


def _first_stop(curve, patience, min_epochs):
    """The early-stopping rule stated another way: at epoch e the best is the first epoch
    that reached max(curve[:e]), and the run stops at the first e >= min_epochs that lies
    ``patience`` or more epochs after its best."""
    for e in range(1, len(curve) + 1):
        best = int(np.argmax(curve[:e])) + 1
        if e - best >= patience and e >= min_epochs:
            return best, e
    return int(np.argmax(curve)) + 1, len(curve)


@settings(max_examples=300, deadline=None)
@given(curve=st.lists(st.sampled_from([0.0, 0.1, 0.1, 0.2, 0.5]), min_size=1, max_size=30),
       patience=st.integers(1, 6), min_epochs=st.integers(0, 12))
def test_replay_early_stopping_matches_the_rule_on_ties_and_repeats(curve, patience, min_epochs):
    assert replay_early_stopping(curve, patience, min_epochs) == _first_stop(curve, patience, min_epochs)


@pytest.mark.parametrize("seed", range(12))
def test_replay_early_stopping_is_where_the_trainer_stops(small_split, seed):
    # Discrete values, so ties and repeated bests are common: only a strictly higher value
    # is an improvement, in the trainer and in the replay.
    rng = np.random.default_rng(seed)
    curve = list(rng.choice([0.1, 0.2, 0.2, 0.3], size=12))
    patience, min_epochs = int(rng.integers(1, 5)), int(rng.integers(0, 8))
    model = BPRMF(small_split.n_users, small_split.n_items, dim=4, random_state=0)
    trainer = ScriptedValidation(curve, model, UniformSampler(random_state=0),
                                 quiet(epochs=12, patience=patience, min_epochs=min_epochs, loss="bpr",
                                       batch_size=1024))
    result = trainer.fit(small_split)
    assert replay_early_stopping(curve, patience, min_epochs) == (result.best_epoch, result.epochs_trained)


def test_test_at_new_best_leaves_training_alone_and_records_each_new_best(small_split):
    def fit(record):
        model = SASRec(small_split.n_items, hidden=8, maxlen=10, random_state=0)
        cfg = quiet(epochs=8, patience=None, num_negatives=2, seed=3, test_at_new_best=record)
        return Trainer(model, UniformSampler(random_state=5), cfg).fit(small_split)

    plain, recorded = fit(False), fit(True)
    assert plain.new_best_tests is None
    # the extra test evaluations change nothing that training or selection sees
    assert plain.history.train_loss.tolist() == recorded.history.train_loss.tolist()
    curve = recorded.history["valid_ndcg@10"].to_numpy()
    assert curve.tolist() == plain.history["valid_ndcg@10"].tolist() and plain.test == recorded.test
    records = [e for e in range(1, len(curve) + 1) if curve[e - 1] > curve[: e - 1].max(initial=-np.inf)]
    table = recorded.new_best_tests
    assert table.epoch.tolist() == records and records[-1] == recorded.best_epoch
    assert table.iloc[-1]["hr@10"] == recorded.test["hr@10"] and table.iloc[-1]["ndcg@10"] == recorded.test["ndcg@10"]


def test_test_at_new_best_on_tied_validation_scores(small_split):
    # ties and repeats: only a strictly higher value is a new best, so a shorter patience
    # always keeps one of the recorded epochs
    curve = [0.1, 0.2, 0.2, 0.3, 0.3, 0.1]
    model = BPRMF(small_split.n_users, small_split.n_items, dim=4, random_state=0)
    trainer = ScriptedValidation(curve, model, UniformSampler(random_state=0),
                                 quiet(epochs=6, patience=None, loss="bpr", batch_size=1024, test_at_new_best=True))
    table = trainer.fit(small_split).new_best_tests
    assert table.epoch.tolist() == [1, 2, 4]
    for patience in (1, 2, 3):
        assert replay_early_stopping(curve, patience)[0] in set(table.epoch)
    assert table["hr@10"].between(0, 1).all()


@pytest.mark.parametrize("curve, patience, message", [
    ([], 2, r"non-empty 1-d sequence, got shape \(0,\)"), ([0.1, float("nan")], 2, "no finite value at epoch 2"),
    ([[0.1]], 2, r"got shape \(1, 1\)"), ([0.1, 0.2], 0, "patience"),
])
def test_replay_early_stopping_rejects_bad_input(curve, patience, message):
    with pytest.raises(RecnegError, match=message):
        replay_early_stopping(curve, patience)


# -- experiments ------------------------------------------------------------------------------------
def test_run_experiment_returns_tidy_rows(small_split):
    table = run_experiment(small_split, model="sasrec", sampler=UniformSampler(random_state=0),
                           loss="bce", seeds=(0, 1), epochs=1, num_negatives=2,
                           model_params={"hidden": 8, "maxlen": 10})
    assert list(table.columns) == RESULT_COLUMNS
    assert set(table.seed) == {0, 1} and set(table.protocol) == {"full"}
    ndcg = table[table.metric == "ndcg@10"]
    assert len(ndcg) == 2 and ndcg.value.between(0, 1).all()
    assert (ndcg.dataset == "synthetic").all() and (ndcg.split == "leave-one-out").all()
    assert (ndcg.sampler == "uniform").all() and (ndcg.epochs == 1).all()


def test_run_experiment_most_popular_and_sampled_protocol(small_split):
    table = run_experiment(small_split, model="most-popular", protocol="sampled", n_sampled=20)
    row = table.set_index("metric").loc["hr@10"]
    assert row.protocol == "sampled-uniform-20" and row.loss == "none" and row.epochs == 0
    full = run_experiment(small_split, model="most-popular").set_index("metric").loc["hr@10"]
    assert row.value > full.value  # ranking against 20 negatives is easier than against all


def test_run_experiment_rejects_bad_options(small_split):
    with pytest.raises(RecnegError, match="unknown training option"):
        run_experiment(small_split, epochz=3)
    with pytest.raises(RecnegError, match="model must be one of"):
        run_experiment(small_split, model="gru4rec")
    with pytest.raises(RecnegError, match="seeds is empty"):
        run_experiment(small_split, seeds=())
    with pytest.raises(RecnegError, match="bad model parameters"):
        run_experiment(small_split, model="sasrec", sampler=None, loss="ce", model_params={"width": 3})


def test_compare_samplers_stacks_named_runs(small_split):
    table = compare_samplers(
        small_split,
        ["uniform", {"name": "popularity", "alpha": 0.5, "label": "pop-0.5"}, {"name": "adaptive"}],
        seeds=(3,), model="bpr-mf", loss="bpr", epochs=1, model_params={"dim": 8},
    )
    ndcg = table[table.metric == "ndcg@10"].set_index("sampler")
    assert sorted(ndcg.index) == ["adaptive", "pop-0.5", "uniform"]
    assert ndcg.loc["pop-0.5", "sampler_params"] == '{"alpha": 0.5}'
    assert (ndcg.seed == 3).all() and (ndcg.model == "bpr-mf").all()


def test_run_experiment_with_sampler_names_and_full_softmax(small_split):
    named = run_experiment(small_split, sampler="popularity", sampler_params={"alpha": 0.75},
                           epochs=1, model_params={"hidden": 8, "maxlen": 10})
    assert set(named.sampler) == {"popularity"}
    ce = run_experiment(small_split, sampler=None, loss="ce", epochs=1, model_params={"hidden": 8, "maxlen": 10})
    assert set(ce.sampler) == {"none"} and set(ce.loss) == {"ce"}
    with pytest.raises(RecnegError, match="unknown sampler"):
        run_experiment(small_split, sampler="telepathic", epochs=1)


def test_compare_samplers_rejects_specs_without_name(small_split):
    with pytest.raises(RecnegError, match="has no 'name'"):
        compare_samplers(small_split, [{"alpha": 0.5}])
    with pytest.raises(RecnegError, match="samplers is empty"):
        compare_samplers(small_split, [])


def test_more_negatives_than_items_fail_before_training():
    from recneg.data import SyntheticWorld, leave_one_out
    from recneg.models import BPRMF
    from recneg.samplers import UniformSampler

    split = leave_one_out(SyntheticWorld(n_users=30, n_items=20, random_state=0).generate())
    model = BPRMF(split.n_users, split.n_items, dim=4, random_state=0)
    config = TrainConfig(epochs=1, loss="bpr", num_negatives=99999, progress=False)
    with pytest.raises(RecnegError, match=r"num_negatives 99999 exceeds the 20 items") as error:
        Trainer(model, UniformSampler(random_state=0), config).fit(split)
    assert "\n" not in str(error.value)


# -- methods with their own batch loss, and the hooks ----------------------------------------------
class UniformBPR:
    """A custom method: BPR against uniform items, written against the Batch protocol.
    ``sign=-1`` trains the model the wrong way round (validation can only get worse)."""

    loss_name = "bpr"

    def __init__(self, sign=1.0):
        self.sign = sign
        self.batches = 0

    def fit(self, train):
        self.n_items_ = train.n_items
        return self

    def batch_loss(self, model, batch):
        self.batches += 1
        negatives = torch.randint(1, self.n_items_ + 1, (len(batch.users), batch.num_negatives),
                                  generator=batch.generator)
        batch.touch(negatives)
        user_vectors = model.user_embedding(batch.users.to(batch.device))
        pos = (user_vectors * model.item_embedding(batch.positives.to(batch.device))).sum(-1)
        neg = (user_vectors.unsqueeze(1) * model.item_embedding(negatives.to(batch.device))).sum(-1)
        return self.sign * torch.nn.functional.softplus(neg - pos.unsqueeze(1)).mean()


def test_a_custom_batch_loss_trains_through_the_trainer(small_split):
    model = BPRMF(small_split.n_users, small_split.n_items, dim=16, random_state=0)
    untrained = evaluate(model, small_split.test, small_split.train)["ndcg@10"]
    method = UniformBPR()
    result = Trainer(model, method, quiet(epochs=6, loss="bpr", lr=0.02, batch_size=256, patience=None)).fit(
        small_split)
    assert method.batches == 6 * -(-len(small_split.train) // 256)
    assert result.test["ndcg@10"] > untrained + 0.05
    assert list(result.history.epoch) == list(range(1, 7)) and result.history.negatives_per_s.gt(0).all()


def test_early_stopping_works_for_a_custom_batch_loss(small_split):
    model = BPRMF(small_split.n_users, small_split.n_items, dim=16, random_state=0)
    result = Trainer(model, UniformBPR(sign=-1.0),
                     quiet(epochs=30, loss="bpr", lr=0.05, batch_size=256, patience=2)).fit(small_split)
    assert result.stop_reason == "patience" and result.epochs_trained == result.best_epoch + 2
    assert not result.still_improving
    best = result.history.set_index("epoch").loc[result.best_epoch, "valid_ndcg@10"]
    assert result.valid["ndcg@10"] == pytest.approx(best)


def test_a_method_must_fit_the_model_and_the_config(small_split):
    mf = BPRMF(small_split.n_users, small_split.n_items, dim=8, random_state=0)
    with pytest.raises(RecnegError, match="minimises the 'bpr' loss"):
        Trainer(mf, UniformBPR(), quiet(loss="bce"))
    with pytest.raises(RecnegError, match="per_position and logq do not apply"):
        Trainer(mf, UniformBPR(), quiet(loss="bpr", per_position=True))
    with pytest.raises(RecnegError, match="use a non-sequential model"):
        Trainer(SASRec(small_split.n_items, hidden=8, maxlen=5), UniformBPR(), quiet(loss="bpr"))
    with pytest.raises(RecnegError, match="NegativeSampler or a method"):
        Trainer(mf, object(), quiet(loss="bpr"))


class RecordingUniform(UniformSampler):
    """Uniform negatives; records every hook call and adds a history column."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.events = []

    def on_epoch_start(self, epoch):
        self.events.append(("start", epoch))

    def learn_from_batch(self, users, positives, drawn, scorer):
        assert drawn.items.shape == (len(users), 2) and callable(scorer)
        self.events.append(("batch", len(self.events)))

    def on_epoch_end(self, epoch, record):
        assert record["epoch"] == epoch and "valid_ndcg@10" in record
        record["hook_column"] = 10 * epoch
        self.events.append(("end", epoch))


def test_epoch_hooks_are_called_in_order(small_split):
    sampler = RecordingUniform(random_state=0)
    model = BPRMF(small_split.n_users, small_split.n_items, dim=8, random_state=0)
    result = Trainer(model, sampler, quiet(epochs=3, loss="bpr", batch_size=512, num_negatives=2,
                                           patience=None)).fit(small_split)
    per_epoch = -(-len(small_split.train) // 512)
    kinds = [kind for kind, _ in sampler.events]
    assert kinds == (["start"] + ["batch"] * per_epoch + ["end"]) * 3
    assert [e for kind, e in sampler.events if kind != "batch"] == [1, 1, 2, 2, 3, 3]
    assert list(result.history["hook_column"]) == [10, 20, 30]


def test_the_curriculum_follows_the_trainer_epochs(small_split):
    from recneg.samplers import DNSSampler, HardnessCurriculum

    curriculum = HardnessCurriculum(UniformSampler(), DNSSampler(n_candidates=3), schedule="step",
                                    ramp_epochs=2, random_state=0)
    seen = []
    original = curriculum.on_epoch_start
    curriculum.on_epoch_start = lambda epoch: (original(epoch), seen.append(curriculum.split(4)))
    model = BPRMF(small_split.n_users, small_split.n_items, dim=8, random_state=0)
    Trainer(model, curriculum, quiet(epochs=4, loss="bpr", batch_size=512, num_negatives=4, patience=None)).fit(
        small_split)
    assert seen == [(4, 0), (4, 0), (0, 4), (0, 4)]     # schedule epochs 0, 1 easy; 2, 3 hard


def test_mixgcf_trains_through_the_trainer_and_touches_its_candidates(padded_split):
    from recneg.samplers import MixGCFInterpolation

    split = padded_split
    model = BPRMF(split.n_users, split.n_items, dim=8, random_state=0)
    result = Trainer(model, MixGCFInterpolation(n_candidates=4, random_state=0),
                     quiet(epochs=2, loss="bpr", batch_size=256, patience=None)).fit(split)
    touched = result.touched_items
    trained = split.train.item_counts() > 0
    assert touched[trained].all() and not touched[0]
    # candidates are uniform over the catalogue: some of the 40 items without
    # interactions are mixed from, and so touched
    assert touched[61:].any() and result.epochs_trained == 2


@pytest.mark.parametrize("n_real", [0, 2])
def test_generative_negatives_train_through_the_trainer(padded_split, n_real):
    from recneg.samplers import GenerativeAdversarialNegatives

    split = padded_split
    model = BPRMF(split.n_users, split.n_items, dim=8, random_state=0)
    gan = GenerativeAdversarialNegatives(noise_dim=4, hidden=8, n_real=n_real, random_state=0)
    result = Trainer(model, gan, quiet(epochs=2, loss="bpr", batch_size=256, patience=None)).fit(split)
    history = result.history
    for column in ("generator_loss", "synthetic_score", "alignment", "noise_similarity", "radius",
                   "positive_score"):
        assert history[column].notna().all(), column
    per_epoch = -(-len(split.train) // 256)
    assert len(gan.dynamics()) == 2 * per_epoch
    expected_mean = gan.dynamics().generator_loss.iloc[per_epoch:].mean()
    assert history.generator_loss.iloc[1] == pytest.approx(expected_mean)
    touched = result.touched_items
    trained = split.train.item_counts() > 0
    if n_real == 0:   # synthetic vectors move no item: only the positives are touched
        assert np.array_equal(touched[1:], trained[1:])
    else:
        assert touched[trained].all() and touched[61:].any()
