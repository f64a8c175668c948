"""Requests the file-based sampling refuses before allocating anything (issue #10), its
shortfall report, and the errors for bad files (the CLI side is in test_fuzz_inputs.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recneg import RecnegError
from recneg.scale.files import read_interactions
from recneg.scale.memory import memory_negatives, memory_sample
from recneg.scale.sample import run_sample
from recneg.scale.spec import SampleSpec


def test_memory_engine_reports_its_shortfall():
    log = pd.DataFrame({"user": [1, 1, 2, 3], "item": [2, 3, 2, 4]})
    columns, shortfall = memory_sample(log, SampleSpec(2, method="uniform"))
    assert (shortfall.groups, shortfall.short, shortfall.fewest) == (3, 1, 1)
    assert shortfall.table.to_dict("list") == {"user": [1], "negatives": [1]}
    assert shortfall.describe() == "1 of 3 users got fewer than 2 negatives (fewest: 1, for user 1)"
    assert len(columns["negative"]) == 5
    _, per_event = memory_sample(log, SampleSpec(2, method="uniform", per="interaction"))
    assert per_event.table.to_dict("list") == {"user": [1, 1], "item": [2, 3], "occurrence": [0, 0],
                                               "negatives": [1, 1]}
    with pytest.raises(RecnegError, match="k 4 exceeds the 3 distinct items in the log; pass k 3 or fewer"):
        memory_negatives(log, 4)


def test_strict_run_writes_nothing_and_a_clean_run_writes_no_sidecar(tmp_path):
    src = tmp_path / "log.csv"
    pd.DataFrame({"user": [1, 1, 2, 3], "item": [2, 3, 2, 4]}).to_csv(src, index=False)
    with pytest.raises(RecnegError, match=r"1 of 3 users .* --strict is set, so nothing was written; "
                                          r"pass --k 1 or less, or drop --strict"):
        run_sample(src, tmp_path / "neg.parquet", k=2, engine="memory", strict=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]
    summary = run_sample(src, tmp_path / "neg.parquet", k=1, engine="memory", strict=True)
    assert summary.shortfall.short == 0 and summary.shortfall_path is None
    assert "fewer than" not in summary.line()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv", "neg.parquet"]


def test_parquet_errors_name_the_row(tmp_path):
    path = tmp_path / "log.parquet"
    pd.DataFrame({"user": [1, 2, 3], "item": [2.0, np.nan, 4.0]}).to_parquet(path)
    with pytest.raises(RecnegError) as info:
        read_interactions(path, ["user", "item"], ids={"user": "user", "item": "item"})
    assert str(info.value) == (f"item column 'item', row 2 of {path}: the item id is missing (1 row in all); "
                               "fill or drop those rows")
    pd.DataFrame({"user": [1], "item": [2]}).to_parquet(path)
    with pytest.raises(RecnegError, match="has no column 'segment'"):
        read_interactions(path, ["user", "item", "segment"])
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(RecnegError, match=f"cannot read {path} as parquet"):
        read_interactions(path, ["user", "item"])


def test_csv_line_numbers_skip_blank_lines(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("\nuser,item\n1,2\n\n   \n2,3\n3,oops\n")
    with pytest.raises(RecnegError, match=f"item column 'item', line 7 of {path}: 'oops' is not an integer id"):
        read_interactions(path, ["user", "item"], ids={"user": "user", "item": "item"})


def test_mixed_context_values_are_distinct_contexts_or_a_one_line_error():
    log = pd.DataFrame({"user": [1, 2, 3], "item": [1, 2, 3], "week": [1, 2, "three"]})
    try:
        neg = memory_negatives(log, 1, method="context", context_cols=("week",))
    except RecnegError as error:  # pandas versions that refuse to sort mixed values
        assert str(error) == ("context column 'week', row 3: 'three' is a str but row 1 holds a number (1); "
                              "cast the column to one type")
    else:
        assert len(neg) == 3 and set(neg["week"].astype(str)) == {"1", "2", "three"}
