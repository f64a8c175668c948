"""Negatives in production: streaming pools, drift monitoring, calibration probes."""
from .drift import DriftMonitor, cohort_shares, kl_divergence, popularity_bins, psi
from .reservoir import StreamingPoolSampler, UserReservoir, WeightedReservoir

__all__ = [
    "StreamingPoolSampler", "UserReservoir", "WeightedReservoir",
    "DriftMonitor", "cohort_shares", "kl_divergence", "popularity_bins", "psi",
]
