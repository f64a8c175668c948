"""Small fakes shared by the tests (pytest puts tests/ on sys.path)."""

from __future__ import annotations

import torch


def mf_scorer(table: torch.Tensor, users: torch.Tensor):
    """A non-sequential fake model over a score ``table`` (users x items):
    ``(B, P) -> (B, P)`` and ``(B, L, P) -> (B, L, P)``."""
    rows = table[users]

    def scorer(candidates):
        if candidates.dim() == 2:
            return rows.gather(1, candidates)
        return rows.unsqueeze(1).expand(-1, candidates.shape[1], -1).gather(2, candidates)

    return scorer


#: A grid small enough to train in a test: a synthetic world, BPR-MF, two arms, one tuned.
TINY_GRID = """
name = "{name}"
description = "a tiny grid for the tests"
seeds = [0, 1]
tune_seeds = [0]

[model]
name = "bpr-mf"
dim = 8

[train]
epochs = 3
patience = 2
batch_size = 256
lr = 0.01

[[settings]]
label = "world"
dataset = "synthetic"
split = "leave-one-out"
world = {{ n_users = 60, n_items = 40, random_state = 0 }}

[[arms]]
label = "uniform"
sampler = "uniform"

[[arms]]
label = "popularity"
sampler = "popularity"
params = {{ smoothing = 1.0 }}
tune = {{ alpha = [0.0, 1.0] }}
"""
