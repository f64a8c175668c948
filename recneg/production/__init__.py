"""Negatives in production: streaming pools, cross-batch memory banks, drift monitoring,
calibration probes."""
from .calibration import auc, expected_calibration_error, margin_histogram, reliability_table, score_separation
from .catalogue_probe import catalogue_calibration, probability_for_loss, sampled_pairs
from .memory_bank import CrossBatchNegatives, EmbeddingMemoryBank
from .drift import DriftMonitor, cohort_shares, kl_divergence, popularity_bins, psi
from .reservoir import StreamingPoolSampler, UserReservoir, WeightedReservoir

__all__ = [
    "StreamingPoolSampler", "UserReservoir", "WeightedReservoir",
    "CrossBatchNegatives", "EmbeddingMemoryBank",
    "DriftMonitor", "cohort_shares", "kl_divergence", "popularity_bins", "psi",
    "auc", "expected_calibration_error", "margin_histogram", "reliability_table", "score_separation",
    "catalogue_calibration", "probability_for_loss", "sampled_pairs",
]
