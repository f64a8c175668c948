"""Negatives in production: streaming pools, drift monitoring, calibration probes."""
from .reservoir import StreamingPoolSampler, UserReservoir, WeightedReservoir

__all__ = ["StreamingPoolSampler", "UserReservoir", "WeightedReservoir"]
