"""Loading the real datasets, and the errors for bad files."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from recneg import RecnegError
from recneg.data import Interactions, list_datasets, load_dataset
from recneg.data.datasets import DATASETS


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message.strip() == message
    return message


def _genres(log: Interactions, item: int) -> list[str]:
    return [n for n, flag in zip(log.attribute_names, log.item_attributes[item]) if flag]


def _item_of(log: Interactions, original_id) -> int:
    (hits,) = np.nonzero(log.original_item_ids == original_id)
    assert len(hits) == 1
    return int(hits[0])


# -- registry ----------------------------------------------------------------------------
def test_list_datasets_describes_every_dataset(data_dir):
    table = list_datasets()
    assert set(table["name"]) == {"ml-100k", "ml-1m", "ml-latest-small", "amazon-beauty",
                                  "synthetic"}
    assert {"description", "url", "licence", "has_timestamps", "has_attributes",
            "available", "location"} <= set(table.columns)
    row = table.set_index("name")
    assert row.loc["ml-100k", "url"] == (
        "https://files.grouplens.org/datasets/movielens/ml-100k.zip")
    assert bool(row.loc["ml-100k", "available"])
    assert row.loc["ml-100k", "location"] == str(data_dir / "ml-100k")
    assert not bool(row.loc["amazon-beauty", "has_timestamps"])
    assert bool(row.loc["synthetic", "available"])


def test_list_datasets_reports_missing_data_without_raising(tmp_path, monkeypatch):
    monkeypatch.setenv("RECNEG_DATA_DIR", str(tmp_path / "absent"))
    monkeypatch.setenv("RECNEG_CACHE_DIR", str(tmp_path / "cache"))
    table = list_datasets().set_index("name")
    assert not table.loc["ml-100k", "available"]
    assert table.loc["ml-100k", "location"] == ""


# -- MovieLens 100K ----------------------------------------------------------------------
def test_ml100k_counts_and_ids(data_dir):
    log = load_dataset("ml-100k", download=False)
    assert (len(log), log.n_users, log.n_items) == (100_000, 943, 1682)
    assert log.name == "ml-100k" and log.has_time
    assert log.users.min() == 0 and log.users.max() == 942
    assert log.items.min() == 1 and log.items.max() == 1682
    assert log.ratings is not None and set(np.unique(log.ratings)) == {1, 2, 3, 4, 5}
    # Rows are sorted by user, then time.
    assert np.all(np.diff(log.users) >= 0)
    same_user = np.diff(log.users) == 0
    assert np.all(np.diff(log.timestamps)[same_user] >= 0)
    # ML-100K ids are already 1..1682, so remapping keeps them.
    np.testing.assert_array_equal(log.original_item_ids, np.r_[-1, 1:1683])


def test_ml100k_interactions_match_the_file(data_dir):
    log = load_dataset("ml-100k", download=False)
    raw = pd.read_csv(data_dir / "ml-100k" / "u.data", sep="\t", header=None,
                      names=["u", "i", "r", "t"])
    ours = pd.DataFrame({"u": log.original_user_ids[log.users],
                         "i": log.original_item_ids[log.items],
                         "r": log.ratings.astype(int), "t": log.timestamps})
    key = ["u", "i", "r", "t"]
    pd.testing.assert_frame_equal(ours.sort_values(key).reset_index(drop=True),
                                  raw.sort_values(key).reset_index(drop=True))


def test_ml100k_titles_and_genres(data_dir):
    log = load_dataset("ml-100k", download=False)
    assert len(log.item_titles) == log.n_items + 1 and log.item_titles[0] == ""
    assert log.item_attributes.shape == (1683, 19) and log.item_attributes.dtype == bool
    assert not log.item_attributes[0].any()
    toy = _item_of(log, 1)
    assert log.item_titles[toy] == "Toy Story (1995)"
    assert _genres(log, toy) == ["Animation", "Children's", "Comedy"]
    star_wars = _item_of(log, 50)
    assert log.item_titles[star_wars] == "Star Wars (1977)"
    assert _genres(log, star_wars) == ["Action", "Adventure", "Romance", "Sci-Fi", "War"]


def test_ml100k_filters_keep_titles_and_genres_aligned(data_dir):
    log = load_dataset("ml-100k", download=False, min_rating=4, k_core=20)
    raw = pd.read_csv(data_dir / "ml-100k" / "u.data", sep="\t", header=None,
                      names=["u", "i", "r", "t"])
    assert np.all(log.ratings >= 4)
    assert log.n_items < 1682 and log.n_users < 943
    assert np.all(np.bincount(log.users) >= 20)
    assert np.all(log.item_counts()[1:] >= 20)
    meta = pd.read_csv(data_dir / "ml-100k" / "u.item", sep="|", header=None,
                       encoding="latin-1", quoting=csv.QUOTE_NONE)
    meta = meta.set_index(0)
    originals = log.original_item_ids[1:]
    assert log.item_titles[1:] == meta.loc[originals, 1].tolist()
    np.testing.assert_array_equal(log.item_attributes[1:],
                                  meta.loc[originals, list(range(5, 24))].to_numpy() == 1)
    # A k-core keeps every well-rated interaction between surviving users and items.
    kept = raw[(raw.r >= 4) & raw.i.isin(originals) & raw.u.isin(log.original_user_ids)]
    assert len(kept) == len(log)


# -- MovieLens latest-small ------------------------------------------------------------
def test_ml_latest_small_counts_and_genres(data_dir):
    log = load_dataset("ml-latest-small", download=False)
    assert (len(log), log.n_users) == (100_836, 610)
    movies = pd.read_csv(data_dir / "ml-latest-small" / "movies.csv")
    assert len(movies) == 9742  # the catalogue; 9,724 of its movies have ratings
    assert log.n_items == 9724
    assert set(np.unique(log.ratings)) == set(np.arange(1, 11) / 2)
    toy = _item_of(log, 1)
    assert log.item_titles[toy] == "Toy Story (1995)"
    assert _genres(log, toy) == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert "(no genres listed)" not in log.attribute_names
    rated = set(log.original_item_ids[1:].tolist())
    no_genre = movies[(movies.genres == "(no genres listed)") & movies.movieId.isin(rated)]
    assert len(no_genre) > 0
    for movie_id in no_genre.movieId:
        assert not log.item_attributes[_item_of(log, movie_id)].any()


# -- Amazon Beauty -----------------------------------------------------------------------
def test_amazon_beauty_counts_and_sequences(data_dir):
    log = load_dataset("amazon-beauty", download=False)
    assert (len(log), log.n_users, log.n_items) == (198_502, 22_363, 12_101)
    assert not log.has_time and log.ratings is None and log.item_attributes is None
    # Timestamps are positions 0, 1, 2, ... within each user's sequence.
    counts = np.bincount(log.users)
    starts = np.cumsum(counts) - counts
    np.testing.assert_array_equal(log.timestamps, np.arange(len(log)) - starts[log.users])
    first = (data_dir / "amazon-beauty" / "Beauty.txt").read_text().splitlines()[0]
    user, *items = (int(t) for t in first.split())
    (u,) = np.nonzero(log.original_user_ids == user)
    np.testing.assert_array_equal(log.original_item_ids[log.sequences()[int(u[0])]], items)


# -- synthetic ---------------------------------------------------------------------------
def test_synthetic_loads_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("RECNEG_DATA_DIR", str(tmp_path))
    log = load_dataset("synthetic", k_core=5)
    assert log.name == "synthetic" and log.has_time
    assert np.all(np.bincount(log.users) >= 5) and np.all(log.item_counts()[1:] >= 5)
    assert log.item_attributes.shape == (log.n_items + 1, len(log.attribute_names))


# -- MovieLens 1M format, on a small hand-written copy -------------------------------------
def _write_ml1m(folder, ratings: str, movies: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text(ratings, encoding="latin-1")
    (folder / "movies.dat").write_text(movies, encoding="latin-1")


def test_ml1m_format(tmp_path):
    _write_ml1m(
        tmp_path / "ml-1m",
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n\n",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "2::Star Wars: Episode IV - A New Hope (1977)::Action|Sci-Fi\n",
    )
    log = load_dataset("ml-1m", data_dir=tmp_path, download=False)
    assert (len(log), log.n_users, log.n_items) == (3, 2, 2)
    peach = _item_of(log, 661)
    assert log.item_titles[peach] == "James and the Giant Peach (1996)"
    assert _genres(log, peach) == ["Animation", "Children's", "Musical"]
    # The catalogue's genres are all named, even those of unrated movies.
    assert "Sci-Fi" in log.attribute_names
    # data_dir may also be the dataset's own folder.
    same = load_dataset("ml-1m", data_dir=tmp_path / "ml-1m", download=False)
    np.testing.assert_array_equal(same.items, log.items)


# -- bad input ---------------------------------------------------------------------------
def _write_ml100k(folder, data: str, item: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text(data)
    if item is None:
        item = "".join(f"{i}|Movie {i} (1990)|01-Jan-1990||http://x|" + "|".join(["0"] * 19)
                       + "\n" for i in range(1, 4))
    (folder / "u.item").write_text(item, encoding="latin-1")


def test_unknown_name_lists_valid_names():
    with pytest.raises(RecnegError) as error:
        load_dataset("ml-10m")
    message = _one_line(error)
    assert "'ml-10m'" in message
    for name in DATASETS:
        assert name in message


def test_missing_recneg_data_dir(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("RECNEG_DATA_DIR", str(missing))
    with pytest.raises(RecnegError) as error:
        load_dataset("ml-100k")
    assert _one_line(error) == (
        f"RECNEG_DATA_DIR points to {missing} which does not exist; create it or unset "
        "the variable")


def test_missing_files_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("RECNEG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RECNEG_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(RecnegError, match="pass download=True") as error:
        load_dataset("ml-1m", download=False)
    assert "ratings.dat" in _one_line(error)


def test_missing_data_dir_argument(tmp_path):
    with pytest.raises(RecnegError, match="does not exist") as error:
        load_dataset("ml-100k", data_dir=tmp_path / "gone", download=False)
    _one_line(error)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("1\t1\t5\t10\n2\t2\t3\t11\n3\t3\t4\t12\t99\n", "malformed line 3 in"),
        ("1\t1\t5\t10\n\n2\t2\t3\n", "malformed line 3 in"),  # the blank line counts
        ("1\t1\t5\t10\n2\tx7\t3\t11\n", "item id 'x7' on line 2 of"),
        ("1\t1\t5\t10\n2.5\t2\t3\t11\n", "user id '2.5' on line 2 of"),
        ("1\t1\t5\t10\n2\t2\tgood\t11\n", "rating 'good' on line 2 of"),
    ],
)
def test_malformed_ratings_name_file_and_line(tmp_path, data, fragment):
    _write_ml100k(tmp_path / "ml-100k", data)
    with pytest.raises(RecnegError) as error:
        load_dataset("ml-100k", data_dir=tmp_path, download=False)
    message = _one_line(error)
    assert fragment in message
    assert str(tmp_path / "ml-100k" / "u.data") in message


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_empty_file(tmp_path, content):
    _write_ml100k(tmp_path / "ml-100k", content)
    with pytest.raises(RecnegError) as error:
        load_dataset("ml-100k", data_dir=tmp_path, download=False)
    message = _one_line(error)
    assert "u.data" in message and ("is empty" in message or "no data lines" in message)


def test_malformed_item_file(tmp_path):
    _write_ml100k(tmp_path / "ml-100k", "1\t1\t5\t10\n",
                  "1|Toy|01-Jan-1995||url|" + "|".join(["0"] * 19) + "\n"
                  "2|Bad|01-Jan-1995||url|" + "|".join(["0"] * 18) + "|7\n")
    with pytest.raises(RecnegError, match=r"genre flags on line 2 of .*u\.item") as error:
        load_dataset("ml-100k", data_dir=tmp_path, download=False)
    _one_line(error)


def test_duplicate_item_in_catalogue(tmp_path):
    row = "|T|d||u|" + "|".join(["0"] * 19) + "\n"
    _write_ml100k(tmp_path / "ml-100k", "1\t1\t5\t10\n", "1" + row + "2" + row + "1" + row)
    with pytest.raises(RecnegError, match="item id 1 appears on lines 1 and 3") as error:
        load_dataset("ml-100k", data_dir=tmp_path, download=False)
    _one_line(error)


def test_ml1m_separator_errors(tmp_path):
    _write_ml1m(tmp_path / "ml-1m", "1::10::5::100\n1:10:5:100\n", "10::A (1990)::Drama\n")
    with pytest.raises(RecnegError, match="malformed line 2 .*'::'") as error:
        load_dataset("ml-1m", data_dir=tmp_path, download=False)
    _one_line(error)
    _write_ml1m(tmp_path / "ml-1m", "1::10::5::100\n", "10::A (1990)::Drama\n11::B\n")
    with pytest.raises(RecnegError, match=r"malformed line 2 in .*movies\.dat") as error:
        load_dataset("ml-1m", data_dir=tmp_path, download=False)
    _one_line(error)


def test_csv_header_is_checked(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("user,movie,rating,timestamp\n1,1,4.0,5\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n1,A,Drama\n")
    with pytest.raises(RecnegError, match="lacks the column") as error:
        load_dataset("ml-latest-small", data_dir=tmp_path, download=False)
    _one_line(error)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1 1 2 3\n2 4 five\n", r"id 'five' on line 2 of .*Beauty\.txt is not an integer"),
        ("1 1 2 3\n\n7\n", r"malformed line 3 in .*Beauty\.txt: a user id without items"),
        ("1 1 2\n2 3 4\n1 5 6\n", r"user 1 has two lines \(1 and 3\)"),
        ("", r"Beauty\.txt is empty"),
    ],
)
def test_beauty_errors(tmp_path, text, pattern):
    folder = tmp_path / "amazon-beauty"
    folder.mkdir()
    (folder / "Beauty.txt").write_text(text)
    with pytest.raises(RecnegError, match=pattern) as error:
        load_dataset("amazon-beauty", data_dir=tmp_path, download=False)
    _one_line(error)


def test_rating_filter_needs_ratings(tmp_path):
    folder = tmp_path / "amazon-beauty"
    folder.mkdir()
    (folder / "Beauty.txt").write_text("1 1 2 3\n")
    with pytest.raises(RecnegError, match="has no ratings") as error:
        load_dataset("amazon-beauty", data_dir=tmp_path, download=False, min_rating=4)
    _one_line(error)


def test_filters_that_remove_everything(tmp_path):
    _write_ml100k(tmp_path / "ml-100k", "1\t1\t5\t10\n2\t2\t3\t11\n")
    with pytest.raises(RecnegError, match="relax the filters") as error:
        load_dataset("ml-100k", data_dir=tmp_path, download=False, k_core=5)
    _one_line(error)


# -- values that cannot be ids (issue #10) ----------------------------------------------------
@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("1\t1\t5\t10\n2\t99999999999999999999\t3\t11\n",
         "item id '99999999999999999999' on line 2 of"),
        ("1\t1\t5\t10\n2\t9007199254740993.0\t3\t11\n",
         "item id on line 2 ('2\\t9007199254740993.0\\t3\\t11') of"),
        ("1\t1\t5\t10\n2\t1\t3\t\n", "malformed line 2 in"),
    ],
)
def test_ids_too_large_for_exact_floats_are_refused(tmp_path, data, fragment):
    _write_ml100k(tmp_path / "ml-100k", data)
    with pytest.raises(RecnegError) as error:
        load_dataset("ml-100k", data_dir=tmp_path, download=False)
    assert fragment in _one_line(error)


def test_undecodable_bytes_are_named_with_their_line(tmp_path):
    folder = tmp_path / "amazon-beauty"
    folder.mkdir()
    (folder / "Beauty.txt").write_bytes(b"1 2 3\n2 3 4\n3 \xff 5\n")
    with pytest.raises(RecnegError) as error:
        load_dataset("amazon-beauty", data_dir=tmp_path, download=False)
    assert _one_line(error) == (f"line 3 of {folder / 'Beauty.txt'}: byte 0xff is not utf-8 text; "
                                "download the dataset again or fix the line")


def test_interactions_name_the_id_out_of_range():
    with pytest.raises(RecnegError, match=r"item id 7 \(interaction 1\) is outside 1..3"):
        Interactions(np.array([0, 0]), np.array([1, 7]), np.array([0, 1]), n_users=1, n_items=3)
    with pytest.raises(RecnegError, match=r"user id -1 \(interaction 0\) is outside 0..0"):
        Interactions(np.array([-1]), np.array([1]), np.array([0]), n_users=1, n_items=3)
