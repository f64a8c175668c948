"""Datasets, preprocessing, splits and the synthetic world."""
from .datasets import cache_dir, list_datasets, load_dataset
from .interactions import EvalSet, Interactions, Split, UserItemSet
from .preprocess import RemappedIds, compact, filter_by_rating, k_core, remap_ids
from .splits import global_temporal_split, leave_one_out
from .synthetic import SyntheticWorld

__all__ = [
    "EvalSet", "Interactions", "RemappedIds", "Split", "SyntheticWorld", "UserItemSet",
    "cache_dir", "compact", "filter_by_rating", "global_temporal_split", "k_core",
    "leave_one_out", "list_datasets", "load_dataset", "remap_ids",
]
