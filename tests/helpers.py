"""Small fakes shared by the sampler tests (pytest puts tests/ on sys.path)."""

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
