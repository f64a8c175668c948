"""The taxonomy is stated once: every exported sampler (and embedding method) is in the
registry's catalogue, under a family and sub-family spelled as in TAXONOMY."""

import inspect

import pytest

import recneg.samplers as samplers
from recneg._errors import RecnegError
from recneg.samplers import TAXONOMY, NegativeSampler, catalogue
from recneg.samplers.base import EmbeddingNegatives
from recneg.samplers.registry import _check_taxonomy


def _exported_classes():
    out = set()
    for name in samplers.__all__:
        obj = getattr(samplers, name)
        if inspect.isclass(obj) and issubclass(obj, (NegativeSampler, EmbeddingNegatives)) \
                and obj not in (NegativeSampler, EmbeddingNegatives, samplers.ItemDistributionSampler):
            out.add(obj.__name__)
    return out


def test_every_exported_sampler_is_catalogued_once():
    table = catalogue()
    assert _exported_classes() <= set(table["class"])
    assert not table["name"].duplicated().any()


def test_the_survey_has_five_families_and_seventeen_subfamilies():
    assert list(TAXONOMY) == ["static", "dynamic", "adversarial", "re-weighting", "knowledge-enhanced"]
    assert sum(len(subs) for subs in TAXONOMY.values()) == 17


def test_labels_are_spelled_one_way_and_in_the_survey_order():
    table = catalogue()
    assert set(table.family) <= set(TAXONOMY)
    for family, block in table.groupby("family"):
        assert set(block.subfamily) <= set(TAXONOMY[family])
    order = [(f, s) for f, subs in TAXONOMY.items() for s in subs]
    ranks = [order.index((f, s)) for f, s in zip(table.family, table.subfamily)]
    assert ranks == sorted(ranks)


def test_mixed_negative_sampling_is_dynamic_as_in_the_survey():
    table = catalogue().set_index("name")
    assert tuple(table.loc["mixed", ["family", "subfamily"]]) == ("dynamic", "mixed DNS")
    assert tuple(table.loc["in-batch", ["family", "subfamily"]]) == ("static", "popularity-based")


def test_a_misspelled_family_is_refused():
    class Misspelled(NegativeSampler):
        family = "reweighting"
        subfamily = "debiased IRW"

    with pytest.raises(RecnegError, match="TAXONOMY"):
        _check_taxonomy(Misspelled)
