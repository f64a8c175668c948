"""Negative-sampling throughput: recneg vs RecBole 1.2.1 vs raw ``torch.randint``.

One batch of 4096 (user, item) training interactions of ML-100K, 10 negatives per user,
each user's interactions excluded. For uniform and popularity (α = 1) sampling it times

* recneg's :class:`~recneg.samplers.UniformSampler` / :class:`~recneg.samplers.PopularitySampler`;
* RecBole 1.2.1's ``Sampler.sample_by_key_ids`` on the same users and data, run in its own
  virtual environment (RecBole 1.2.1 needs numpy < 2; create it with
  ``bash benchmarks/setup_recbole_venv.sh``) — skipped with a message when it is absent;
* ``torch.randint`` for the same number of draws: the floor for any sampler that makes
  one random draw per negative;

then the ways of drawing from a popularity distribution, and per-position negatives for
a SASRec-sized batch. It prints tables of medians over ``--repeats`` calls, in wall time
and in the calling thread's CPU time (the cost itself, unaffected by waiting for a core
on a shared machine); it is a script, not a test.

Usage::

    export RECNEG_DATA_DIR=/path/to/data      # holds ml-100k/u.data
    python benchmarks/bench_samplers.py [--repeats 20] [--threads 1] [--recbole-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
DEFAULT_RECBOLE_VENV = Path(os.environ.get("RECBOLE_VENV", "/work/.venv-recbole"))


def load_ml100k(data_root: Path):
    """ML-100K as recneg Interactions (through recneg's loader when it is available)."""
    from recneg.data import Interactions

    try:
        from recneg.data import load_dataset

        return load_dataset("ml-100k", data_dir=data_root, download=False, progress=False)
    except ImportError:
        raw = np.loadtxt(data_root / "ml-100k" / "u.data", dtype=np.int64)
        users, user_ids = np.unique(raw[:, 0], return_inverse=True)
        items, item_ids = np.unique(raw[:, 1], return_inverse=True)
        return Interactions(user_ids, item_ids + 1, raw[:, 3], n_users=len(users), n_items=len(items),
                            name="ml-100k", original_user_ids=users, original_item_ids=np.r_[0, items])


def timings(call, repeats: int, warmup: int = 3) -> tuple[float, float]:
    """Median (wall seconds, CPU seconds of this thread) per call.

    With one intra-op thread the CPU time is the work itself; on a shared machine the
    wall time also counts waiting for a core, so both are reported.
    """
    for _ in range(warmup):
        call()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        call()
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return statistics.median(wall), statistics.median(cpu)


def run_recbole(python: Path, data_root: Path, original_users: np.ndarray, k: int, repeats: int) -> dict | str:
    if not python.exists():
        return (f"RecBole skipped: no interpreter at {python}; create it with "
                "`bash benchmarks/setup_recbole_venv.sh` or pass --recbole-python")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(str(int(u)) for u in original_users))
        users_file = handle.name
    try:
        done = subprocess.run(
            [str(python), str(HERE / "recbole_sampler_bench.py"), "--data-dir", str(data_root / "ml-100k"),
             "--users", users_file, "--num-negatives", str(k), "--repeats", str(repeats)],
            capture_output=True, text=True, timeout=900,
        )
    finally:
        os.unlink(users_file)
    if done.returncode != 0:
        return "RecBole failed: " + done.stderr.strip().splitlines()[-1]
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def fmt_rate(rate: float) -> str:
    return f"{rate / 1e6:,.2f} M/s"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--num-negatives", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (RecBole's sampler is single-threaded numpy)")
    parser.add_argument("--recbole-python", type=Path, default=DEFAULT_RECBOLE_VENV / "bin" / "python")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from recneg.samplers import PopularitySampler, UniformSampler

    torch.set_num_threads(args.threads)
    data_root = Path(os.environ.get("RECNEG_DATA_DIR", "data"))
    train = load_ml100k(data_root)
    rng = np.random.default_rng(args.seed)
    rows = rng.integers(0, len(train), args.batch)  # a training batch: users weighted by activity
    users = torch.as_tensor(train.users[rows])
    positives = torch.as_tensor(train.items[rows])
    B, k = args.batch, args.num_negatives
    draws = B * k

    print(f"ML-100K: {train.n_users} users, {train.n_items} items, {len(train)} interactions; "
          f"batch {B} users x {k} negatives = {draws} draws, positives excluded")
    print(f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}, "
          f"medians of {args.repeats} calls; CPU = this thread's CPU time\n")

    n = train.n_items
    randint = timings(lambda: torch.randint(1, n + 1, (draws,)), args.repeats)
    recneg = {}
    for name, sampler in (("uniform", UniformSampler(random_state=0)),
                          ("popularity", PopularitySampler(alpha=1.0, random_state=0))):
        sampler.fit(train)
        recneg[name] = timings(lambda: sampler.sample(users, positives, k), args.repeats)
        neg = sampler.sample(users, positives, k)
        assert not train.user_item_set().contains(users, neg.items).any(), "recneg returned a positive"

    recbole = run_recbole(args.recbole_python, data_root, train.original_user_ids[train.users[rows]], k, args.repeats)
    out = []
    for name in ("uniform", "popularity"):
        wall, cpu = recneg[name]
        row = [f"recneg {name}", f"{wall * 1e3:.2f}", f"{cpu * 1e3:.2f}", fmt_rate(draws / cpu)]
        if isinstance(recbole, dict):
            rb = recbole[name]
            row += [f"{rb['cpu_seconds'] * 1e3:.1f}", fmt_rate(rb["negatives_per_cpu_s"]),
                    f"{rb['cpu_seconds'] / cpu:.0f}x", f"{rb['seconds'] / wall:.0f}x"]
        else:
            row += ["-", "-", "-", "-"]
        row += [f"{cpu / randint[1]:.1f}x"]
        out.append(row)
    out.append(["torch.randint (no exclusion)", f"{randint[0] * 1e3:.2f}", f"{randint[1] * 1e3:.2f}",
                fmt_rate(draws / randint[1]), "-", "-", "-", "-", "1.0x"])
    print(table(out, ["sampler", "wall ms", "CPU ms", "negatives/CPU s", "RecBole CPU ms", "RecBole neg/CPU s",
                      "speed-up (CPU)", "speed-up (wall)", "CPU vs randint"]))
    if isinstance(recbole, dict):
        print(f"\nRecBole {recbole['recbole_version']} (numpy {recbole['numpy_version']}, {args.recbole_python}); "
              f"positives returned by RecBole: {recbole['uniform']['positives_returned']} uniform, "
              f"{recbole['popularity']['positives_returned']} popularity.")
    else:
        print("\n" + recbole)

    # Ways to draw from a fixed categorical distribution (the popularity proposal).
    popularity = PopularitySampler(alpha=1.0).fit(train)
    probs = popularity.probs_
    cdf = torch.cumsum(probs, 0)
    gen = torch.Generator().manual_seed(0)
    methods = {
        "alias table (used)": lambda: popularity._draw(draws, gen),
        "inverse CDF (searchsorted)": lambda: torch.searchsorted(cdf, torch.rand(draws, generator=gen, dtype=torch.float64)),
        "torch.multinomial, replacement": lambda: torch.multinomial(probs, draws, replacement=True, generator=gen),
    }
    rows_m = []
    for name, call in methods.items():
        wall, cpu = timings(call, args.repeats)
        rows_m.append([name, f"{wall * 1e3:.3f}", f"{cpu * 1e3:.3f}"])
    print(f"\nDrawing {draws} items from the popularity distribution (no exclusion):")
    print(table(rows_m, ["method", "wall ms", "CPU ms"]))

    # Per-position negatives for a SASRec-sized batch: (128, 200, k).
    L, B_seq = 200, 128
    seqs = train.sequences()
    batch_users = torch.as_tensor(rng.integers(0, train.n_users, B_seq))
    padded = torch.zeros(B_seq, L, dtype=torch.long)
    for row, u in enumerate(batch_users.tolist()):  # building the benchmark input, not timed
        seq = torch.as_tensor(seqs[u][-L:])
        padded[row, L - len(seq):] = seq
    rows_p = []
    total = B_seq * L * k
    for name, sampler in (("uniform", UniformSampler(random_state=0)),
                          ("popularity", PopularitySampler(alpha=1.0, random_state=0))):
        sampler.fit(train)
        wall, cpu = timings(lambda: sampler.sample(batch_users, padded, k, per_position=True), max(5, args.repeats // 2))
        rows_p.append([f"recneg {name}", f"{wall * 1e3:.1f}", f"{cpu * 1e3:.1f}", fmt_rate(total / cpu)])
    wall, cpu = timings(lambda: torch.randint(1, n + 1, (B_seq, L, k)), max(5, args.repeats // 2))
    rows_p.append(["torch.randint", f"{wall * 1e3:.1f}", f"{cpu * 1e3:.1f}", fmt_rate(total / cpu)])
    print(f"\nPer-position negatives, {B_seq} sequences x {L} positions x {k} ({total} draws), positives excluded:")
    print(table(rows_p, ["sampler", "wall ms", "CPU ms", "negatives/CPU s"]))


if __name__ == "__main__":
    main()
