"""RecBole 1.2.1's negative sampler on ML-100K, timed; prints one JSON object.

Run by ``benchmarks/bench_samplers.py`` with the interpreter of the RecBole virtual
environment (see ``benchmarks/setup_recbole_venv.sh``), because RecBole 1.2.1 needs
numpy < 2. It builds RecBole's own ``Dataset`` from ML-100K's ``u.data`` (written as an
atomic ``.inter`` file in a temporary folder), a ``Sampler`` over all interactions (so the
excluded items are every interaction of the user, as in the recneg run), and times
``sample_by_key_ids`` for the batch of users given in ``--users`` (original MovieLens
user ids, one per line).

Usage::

    python recbole_sampler_bench.py --data-dir $RECNEG_DATA_DIR/ml-100k --users users.txt \
        --num-negatives 10 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build_dataset(data_dir: Path, workdir: Path):
    from recbole.config import Config
    from recbole.data import create_dataset

    folder = workdir / "ml-100k"
    folder.mkdir(parents=True)
    raw = np.loadtxt(data_dir / "u.data", dtype=np.int64)
    with open(folder / "ml-100k.inter", "w") as out:
        out.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        np.savetxt(out, raw, fmt="%d", delimiter="\t")
    config = Config(
        model="BPR",
        dataset="ml-100k",
        config_dict={
            "data_path": str(workdir),
            "load_col": {"inter": ["user_id", "item_id"]},
            "show_progress": False,
            "save_dataset": False,
            "checkpoint_dir": str(workdir / "checkpoints"),
            "state": "ERROR",
        },
    )
    logging.disable(logging.CRITICAL)  # RecBole logs its whole configuration otherwise
    dataset = create_dataset(config)
    # What Dataset.build() does first: turn the pandas frames into RecBole Interactions,
    # the form its samplers read. We keep every interaction (no train/valid/test split).
    dataset._change_feat_format()
    return dataset


def time_calls(call, repeats: int) -> tuple[float, float]:
    """Median (wall seconds, CPU seconds of this thread) per call, after a warm-up."""
    call()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        call()
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return statistics.median(wall), statistics.median(cpu)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with ML-100K's u.data")
    parser.add_argument("--users", type=Path, required=True, help="original user ids, one per line")
    parser.add_argument("--num-negatives", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import recbole
    import torch
    from recbole.sampler import Sampler

    torch.set_num_threads(1)
    np.random.seed(args.seed)
    tokens = [line.strip() for line in args.users.read_text().split() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        dataset = build_dataset(args.data_dir, Path(tmp))
    uids = dataset.token2id(dataset.uid_field, tokens)
    result = {"recbole_version": recbole.__version__, "numpy_version": np.__version__,
              "batch": len(uids), "num_negatives": args.num_negatives}
    draws = len(uids) * args.num_negatives
    for distribution in ("uniform", "popularity"):
        sampler = Sampler(["train"], [dataset], distribution=distribution, alpha=1.0).set_phase("train")
        seconds, cpu_seconds = time_calls(lambda: sampler.sample_by_key_ids(uids, args.num_negatives), args.repeats)
        # Sanity: RecBole must not return a positive either.
        negatives = sampler.sample_by_key_ids(uids, args.num_negatives).numpy().reshape(args.num_negatives, -1).T
        leaked = sum(int(item in sampler.used_ids[uid]) for uid, row in zip(uids, negatives) for item in row)
        result[distribution] = {"seconds": seconds, "cpu_seconds": cpu_seconds, "negatives_per_s": draws / seconds,
                                "negatives_per_cpu_s": draws / cpu_seconds, "positives_returned": leaked}
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
