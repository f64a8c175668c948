"""Full-ranking evaluation of SASRec on ML-100K: how long one validation pass takes.

Early stopping validates after every epoch, so on a split with many evaluation rows the
validation pass, not training, sets the cost of a grid: the global temporal split has
4,954 validation rows, each with its own history of up to 200 items. This script times
one full-ranking pass (``recneg.evaluation.evaluate``, as the trainer calls it) over the
validation rows of the leave-one-out and the temporal split, and the same pass through
the plain path that encodes every position of every window (``score_catalogue(forward(h)
[:, -1])``, what ``SASRec.score_all`` computed before it read the last position only and
dropped all-padding columns). It also reports the largest score difference between the
two paths and how many of HR@10, NDCG@10 and MRR differ.

The model is an untrained SASRec (hidden 50, 2 blocks, 1 head, maxlen 200): the cost of a
pass does not depend on the weights.

A second table times the ranking itself, which grows with the catalogue: on the case
study's Amazon Beauty sample (10,492 validation rows, 6,353 items, maxlen 50) the pass
through ``metrics.full_ranks_and_top_k`` (one mask, one comparison for the rank) against
the two separate calls it replaced (``full_ranks`` and ``top_k_items``), with the number of
result values (every metric ``evaluate`` returns) that differ between the two.

Usage::

    export RECNEG_DATA_DIR=/path/to/data       # holds ml-100k/u.data
    python benchmarks/bench_evaluate.py        # --repeats 5 --threads 1
"""

from __future__ import annotations

import argparse
import platform
import time

import math
from contextlib import contextmanager

import numpy as np
import torch

from recneg import metrics
from recneg.evaluation import evaluate
from recneg.grid import Setting, load_grid
from recneg.models import SASRec
from recneg.runner import load_setting


class PlainPath:
    """SASRec scored through every position of the padded window (the reference path)."""

    def __init__(self, model: SASRec) -> None:
        self.model, self.maxlen = model, model.maxlen

    def score_all(self, users, histories):
        return self.model.score_catalogue(self.model(histories)[:, -1])


@contextmanager
def separate_ranking():
    """Rank and list with the two calls that ``full_ranks_and_top_k`` replaced."""
    fused = metrics.full_ranks_and_top_k

    def separate(scores, targets, k, seen_rows=None, seen_items=None, *, item_mask=None):
        return (metrics.full_ranks(scores, targets, seen_rows, seen_items, item_mask=item_mask),
                metrics.top_k_items(scores, k, seen_rows, seen_items, item_mask=item_mask))

    metrics.full_ranks_and_top_k = separate
    try:
        yield
    finally:
        metrics.full_ranks_and_top_k = fused


def n_differing(a: dict, b: dict) -> int:
    same = lambda x, y: x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))  # noqa: E731
    return sum(not same(a[k], b[k]) for k in a) + len(a.keys() ^ b.keys())


def cpu_seconds(fn, repeats: int) -> tuple[float, float, object]:
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.thread_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.thread_time() - c)
    return float(np.median(walls)), float(np.median(cpus)), out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {platform.machine()}, medians of "
          f"{args.repeats} passes; CPU = this thread's CPU time")
    print(f"{'split':<14} {'rows':>5} {'plain CPU s':>11} {'recneg CPU s':>12} {'speed-up':>8} "
          f"{'max |score diff|':>16} {'metrics differing':>17}")
    for name in ("leave-one-out", "temporal"):   # the case study's two ML-100K settings
        split = load_setting(Setting(label=name, dataset="ml-100k", split=name))
        model = SASRec(split.n_items, hidden=50, n_blocks=2, n_heads=1, dropout=0.2, maxlen=200,
                       random_state=0).eval()
        run = lambda m: evaluate(m, split.valid, split.train, ks=(10,))  # noqa: E731
        _, plain_cpu, plain = cpu_seconds(lambda: run(PlainPath(model)), args.repeats)
        _, fast_cpu, fast = cpu_seconds(lambda: run(model), args.repeats)
        h = split.valid.padded_histories(200, np.arange(min(len(split.valid), 512)))
        with torch.no_grad():
            diff = (model.score_all(None, h) - PlainPath(model).score_all(None, h))[:, 1:].abs().max()
        differing = sum(plain[k] != fast[k] for k in ("hr@10", "ndcg@10", "mrr"))
        print(f"{name:<14} {len(split.valid):>5} {plain_cpu:>11.2f} {fast_cpu:>12.2f} "
              f"{plain_cpu / fast_cpu:>7.1f}x {float(diff):>16.1e} {differing:>14} of 3")

    print(f"\n{'setting':<24} {'rows':>6} {'items':>6} {'two calls CPU s':>15} {'fused CPU s':>11} "
          f"{'speed-up':>8} {'values differing':>16}")
    settings = [("ml-100k leave-one-out", "experiments/case_ml100k_loo.toml", 200),
                ("amazon-beauty sample", "experiments/case_beauty_loo.toml", 50)]
    for label, toml, maxlen in settings:
        split = load_setting(load_grid(toml).settings[0])
        model = SASRec(split.n_items, hidden=50, n_blocks=2, n_heads=1, dropout=0.2, maxlen=maxlen,
                       random_state=0).eval()
        run = lambda: evaluate(model, split.valid, split.train, ks=(10,))  # noqa: E731
        with separate_ranking():
            _, two_cpu, two = cpu_seconds(run, args.repeats)
        _, fused_cpu, fused = cpu_seconds(run, args.repeats)
        print(f"{label:<24} {len(split.valid):>6} {split.n_items:>6} {two_cpu:>15.2f} {fused_cpu:>11.2f} "
              f"{two_cpu / fused_cpu:>7.1f}x {n_differing(two, fused):>9} of {len(fused)}")


if __name__ == "__main__":
    main()
