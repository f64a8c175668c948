"""Negative samplers: one interface, five families."""
from .base import EmbeddingNegatives, NegativeSample, NegativeSampler, TrainingComponent, make_generator
from .static import InBatchSampler, ItemDistributionSampler, MixedSampler, PopularitySampler, UniformSampler
# dynamic before adaptive: the adaptive presets subclass DNSSampler, and dynamic's
# registration imports the registry, which imports adaptive.
from .dynamic import (AHNSSampler, DNSSampler, MixedNegatives, MixGCFInterpolation, SoftmaxHardSampler, SRNSSampler,
                      UserSimilaritySampler, bpr_loss_with_mixed_negatives)
from .adaptive import AdaptiveMixedSampler, AdaptiveSampler
from .registry import METHODS, SAMPLERS, TAXONOMY, catalogue, make_sampler, register_sampler
from .curriculum import HardnessCurriculum, RandomInjection, RankBandCurriculum, RankBandSampler
from .adversarial import IRGANSampler
from .generative import EmbeddingGenerator, GenerativeAdversarialNegatives, SyntheticNegatives
from . import exposure as _exposure  # noqa: F401  (registers "exposure" and "ipw")
from .reweighting import (DebiasedWeightingSampler, KnowledgeWeightedSampler, ScoreWeightedSampler, cap_weights)
from .knowledge import (AttributeSampler, KGWalkSampler, PredefinedNegativeSampler, SemanticSampler,
                        StratifiedSampler)

__all__ = [
    "NegativeSample", "NegativeSampler", "TrainingComponent", "EmbeddingNegatives", "make_generator",
    "UniformSampler", "PopularitySampler", "ItemDistributionSampler", "InBatchSampler", "MixedSampler",
    "AdaptiveSampler", "AdaptiveMixedSampler",
    "METHODS", "SAMPLERS", "TAXONOMY", "catalogue", "make_sampler", "register_sampler",
    "DNSSampler", "SoftmaxHardSampler", "AHNSSampler", "SRNSSampler", "UserSimilaritySampler",
    "MixGCFInterpolation", "MixedNegatives", "bpr_loss_with_mixed_negatives",
    "HardnessCurriculum", "RandomInjection", "RankBandCurriculum", "RankBandSampler", "cap_weights",
    "IRGANSampler", "GenerativeAdversarialNegatives", "EmbeddingGenerator", "SyntheticNegatives",
    "ScoreWeightedSampler", "DebiasedWeightingSampler", "KnowledgeWeightedSampler",
    "AttributeSampler", "StratifiedSampler", "KGWalkSampler", "SemanticSampler", "PredefinedNegativeSampler",
]
