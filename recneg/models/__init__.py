"""Recommendation models: SASRec, BPR-MF (and its cosine variant) and the most-popular baseline.

Every model has ``score_all(users, histories) -> (B, n_items + 1)``,
``scorer(users, histories)`` (a no-grad closure for dynamic samplers) and ``maxlen``.
"""
from .mf import BPRMF, CosineMF
from .popular import MostPopular
from .sasrec import SASRec

__all__ = ["BPRMF", "CosineMF", "MostPopular", "SASRec"]
