"""False negatives of plain and guarded DNS on the synthetic world (a script, not a test).

Each configuration of :class:`~recneg.samplers.DNSSampler` trains its own BPR-MF with the
BCE loss and ``k`` negatives per positive on a :class:`~recneg.data.SyntheticWorld`
(leave-one-out split); the trained sampler and model are then audited:

* ``fnr`` — :func:`recneg.diagnostics.false_negative_rate`: the share of drawn negatives
  the user truly likes (the guards' random injection moves it; the weight cap cannot,
  it changes no draw);
* ``weighted_fnr`` — the share of the negatives' *loss weight* that falls on false
  negatives (each negative weighs 1 without a cap), what the weight cap is for;
* ``hr@10`` — the world's test hit rate of the trained model.

Usage::

    python benchmarks/guarded_dns_fnr.py [--seeds 0 1] [--users 600] [--items 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from recneg.data import SyntheticWorld, leave_one_out
from recneg.diagnostics import false_negative_rate
from recneg.models import BPRMF
from recneg.samplers import DNSSampler
from recneg.training import TrainConfig, Trainer

CONFIGS = {
    "plain DNS": {},
    "DNS + injection (f=0.25)": {"uniform_fraction": 0.25},
    "DNS + cap (c=1)": {"loss_cap": 1.0},
    "DNS + cap (c=0.25)": {"loss_cap": 0.25},
    "DNS + both (f=0.25, c=0.25)": {"uniform_fraction": 0.25, "loss_cap": 0.25},
}


def weighted_fn_share(sampler, model, train, fn_mask, k, rounds, seed) -> float:
    """Share of the loss weight on false negatives, one random training positive per user per round."""
    gen = torch.Generator().manual_seed(seed)
    users = torch.as_tensor(np.unique(train.users))
    positives_of = train.user_item_set()
    fn_weight = total = 0.0
    for _ in range(rounds):
        pick = (torch.rand(len(users), generator=gen) * positives_of.counts[users]).long()
        positives = positives_of.items[positives_of.indptr[users] + pick]
        drawn = sampler.sample(users, positives, k, scorer=model.scorer(users), generator=gen)
        weights = torch.ones(drawn.items.shape) if drawn.weights is None else drawn.weights
        false = torch.from_numpy(fn_mask[users.numpy()[:, None], drawn.items.numpy()])
        fn_weight += float(weights[false].sum())
        total += float(weights.sum())
    return fn_weight / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--negatives", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    began = time.perf_counter()
    world = SyntheticWorld(n_users=args.users, n_items=args.items, random_state=0)
    split = leave_one_out(world.generate())
    fn_mask = world.false_negative_mask(split.train)
    rows = []
    for seed in args.seeds:
        for label, guards in CONFIGS.items():
            sampler = DNSSampler(n_candidates=args.candidates, random_state=seed, **guards)
            config = TrainConfig(epochs=args.epochs, batch_size=1024, lr=0.02, loss="bce",
                                 num_negatives=args.negatives, patience=None, eval_every=args.epochs,
                                 progress=False, seed=seed)
            result = Trainer(BPRMF(split.n_users, split.n_items, dim=32, random_state=seed), sampler,
                             config).fit(split)
            model = result.model.eval()
            with torch.no_grad():
                audit = false_negative_rate(sampler, world, split.train, num_negatives=args.negatives,
                                            n_rounds=args.rounds, scorer=model, random_state=seed)
                weighted = weighted_fn_share(sampler, model, split.train, fn_mask, args.negatives,
                                             args.rounds, seed)
            rows.append({"sampler": label, "seed": seed, "fnr": audit["rate"], "weighted_fnr": weighted,
                         "uniform_rate": audit["uniform_rate"], "hr@10": result.test["hr@10"]})
    table = pd.DataFrame(rows)
    print(f"synthetic world {args.users} users x {args.items} items, leave-one-out; BPR-MF (dim 32, "
          f"{args.epochs} epochs, BCE, k={args.negatives}, M={args.candidates}); seeds {args.seeds}; "
          f"uniform rate {table.uniform_rate.mean():.3f}")
    summary = table.groupby("sampler", sort=False)[["fnr", "weighted_fnr", "hr@10"]].agg(["mean", "std"])
    print(summary.round(3).to_string())
    print(f"{time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
