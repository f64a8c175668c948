"""SASRec on ML-100K: recneg against RecBole 1.2.1, time to quality on the same machine.

Both libraries train the same model — SASRec with hidden size 50, 2 blocks, 1 head,
dropout 0.2, maxlen 200 — with the full softmax cross-entropy, on the same leave-one-out
split of ML-100K, and both are validated every epoch with the same full-ranking
NDCG@10 (seen items removed; computed by ``recneg.metrics``). What differs is how they
feed the model:

* RecBole turns every prefix of every sequence into a training example (about 97,000
  sequences of up to 200 items per epoch) and computes the loss at the last position;
* recneg feeds each user's sequence once and computes the loss at every position
  (943 sequences per epoch), which sees the same targets at a fraction of the cost.

So the comparison is **time to quality**: the wall time (training plus per-epoch
validation) until validation NDCG@10 first reaches the best value RecBole reached, and
the test NDCG@10 of each library's best checkpoint.

Usage::

    export RECNEG_DATA_DIR=/work/shared/data
    python benchmarks/bench_sasrec.py --leg recneg                  # recneg only
    python benchmarks/bench_sasrec.py --leg recbole --recbole-budget 3600
    python benchmarks/bench_sasrec.py --leg compare                 # read both, print
    python benchmarks/bench_sasrec.py --leg all --recbole-budget 3600

Each leg writes its JSON to ``--results-dir`` (``sasrec_ml100k_recneg.json``,
``sasrec_ml100k_recbole.json``); ``compare`` prints the table from them. The RecBole leg
runs ``benchmarks/recbole_sasrec.py`` with RecBole's own interpreter
(``--recbole-python``, default ``/work/.venv-recbole/bin/python``). Pass the same
``--threads`` to both legs; record the machine's load with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="SASRec on ML-100K: recneg vs RecBole, time to quality")
    parser.add_argument("--leg", choices=("recneg", "recbole", "compare", "all"), default="all")
    parser.add_argument("--results-dir", default=str(HERE / "results"))
    parser.add_argument("--data-dir", default=os.environ.get("RECNEG_DATA_DIR", "/work/shared/data"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same for both legs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recneg-epochs", type=int, default=400)
    parser.add_argument("--recneg-batch-size", type=int, default=32)
    parser.add_argument("--recneg-lr", type=float, default=1e-3)
    parser.add_argument("--recneg-patience", type=int, default=20,
                        help="validations without improvement before recneg stops")
    parser.add_argument("--recneg-budget", type=float, default=1800.0, help="seconds")
    parser.add_argument("--recbole-budget", type=float, default=3600.0, help="seconds")
    parser.add_argument("--recbole-epochs", type=int, default=200)
    parser.add_argument("--recbole-python", default="/work/.venv-recbole/bin/python")
    return parser.parse_args(argv)


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)


def run_recneg(args) -> dict:
    from recneg.data import leave_one_out, load_dataset
    from recneg.models import SASRec
    from recneg.training import TrainConfig, Trainer

    torch.set_num_threads(args.threads)
    split = leave_one_out(load_dataset("ml-100k", data_dir=args.data_dir, download=False, progress=False))
    model = SASRec(split.n_items, hidden=50, n_blocks=2, n_heads=1, dropout=0.2, maxlen=200,
                   random_state=args.seed)
    config = TrainConfig(epochs=args.recneg_epochs, batch_size=args.recneg_batch_size, lr=args.recneg_lr,
                         loss="ce", patience=args.recneg_patience, max_train_seconds=args.recneg_budget,
                         seed=args.seed, device="cpu", progress=True)
    load_before = load_average()
    result = Trainer(model, None, config).fit(split)
    history = result.history
    return {
        "library": "recneg",
        "model": "SASRec (hidden 50, 2 blocks, 1 head, FFN 50, dropout 0.2, maxlen 200), CE loss "
                 "over all items, every position of each user's sequence",
        "dataset": "ml-100k", "split": "leave-one-out", "protocol": "full (seen items removed)",
        "batch_size": config.batch_size, "lr": config.lr, "threads": args.threads, "seed": args.seed,
        "torch": torch.__version__, "python": platform.python_version(),
        "load_average_before": load_before, "load_average_after": load_average(),
        "epochs": [
            {"epoch": int(r.epoch), "train_loss": float(r.train_loss), "seconds": float(r.seconds),
             "eval_seconds": float(r.eval_seconds), "elapsed_seconds": float(r.elapsed_seconds),
             "valid_ndcg@10": float(r["valid_ndcg@10"]), "valid_hr@10": float(r["valid_hr@10"])}
            for _, r in history.iterrows()
        ],
        "best_epoch": result.best_epoch,
        "stop_reason": result.stop_reason,
        "train_seconds": result.train_seconds,
        "test": {"ndcg@10": result.test["ndcg@10"], "hr@10": result.test["hr@10"]},
        "finished": True,
    }


def run_recbole(args, out: Path) -> None:
    if not Path(args.recbole_python).exists():
        sys.exit(f"RecBole's interpreter {args.recbole_python} does not exist; create the environment "
                 "with benchmarks/setup_recbole_venv.sh (see benchmarks/recbole_sasrec.py)")
    from recneg.data import load_dataset

    log = load_dataset("ml-100k", data_dir=args.data_dir, download=False, progress=False)
    log_npz = out.with_name("ml100k_log_for_recbole.npz")
    np.savez(log_npz, users=log.users, items=log.items, timestamps=log.timestamps,
             n_users=log.n_users, n_items=log.n_items)
    command = [args.recbole_python, str(HERE / "recbole_sasrec.py"), "--out", str(out), "--log-npz", str(log_npz),
               "--time-budget", str(args.recbole_budget), "--epochs", str(args.recbole_epochs),
               "--threads", str(args.threads), "--seed", str(args.seed), "--data-dir", args.data_dir]
    load_before = load_average()
    try:
        subprocess.run(command, check=True)
    finally:
        log_npz.unlink(missing_ok=True)
    record = json.loads(out.read_text())
    record["load_average_before"], record["load_average_after"] = load_before, load_average()
    write_json(out, record)


def time_to_reach(epochs: list[dict], threshold: float) -> tuple[float | None, int | None]:
    for entry in epochs:
        if entry["valid_ndcg@10"] >= threshold:
            return entry["elapsed_seconds"], entry["epoch"]
    return None, None


def compare(recneg: dict, recbole: dict) -> dict:
    best = max(recbole["epochs"], key=lambda e: e["valid_ndcg@10"])
    threshold = best["valid_ndcg@10"]
    recneg_time, recneg_epoch = time_to_reach(recneg["epochs"], threshold)
    recbole_time = best["elapsed_seconds"]
    summary = {
        "threshold_valid_ndcg@10": threshold,
        "recbole_epochs_run": len(recbole["epochs"]),
        "recbole_finished": recbole.get("finished", False),
        "recbole_stop_reason": recbole.get("stop_reason"),
        "recbole_best_epoch": best["epoch"],
        "recbole_seconds_to_best": recbole_time,
        "recbole_mean_epoch_seconds": float(np.mean([e["seconds"] for e in recbole["epochs"]])),
        # An epoch cut short by the time budget still measures RecBole's throughput.
        "recbole_epoch_seconds_estimate": float(np.mean([
            e["seconds"] * e.get("batches_per_epoch", 1) / max(e.get("batches", 1), 1) for e in recbole["epochs"]
        ])),
        "recbole_complete_epochs": sum(bool(e.get("complete", True)) for e in recbole["epochs"]),
        "recneg_epoch_reaching_threshold": recneg_epoch,
        "recneg_seconds_to_threshold": recneg_time,
        "recneg_mean_epoch_seconds": float(np.mean([e["seconds"] for e in recneg["epochs"]])),
        "time_ratio_recneg_over_recbole": None if recneg_time is None else recneg_time / recbole_time,
        "recneg_best_valid_ndcg@10": max(e["valid_ndcg@10"] for e in recneg["epochs"]),
        "recneg_test_ndcg@10": recneg["test"]["ndcg@10"],
        "recneg_test_hr@10": recneg["test"]["hr@10"],
        "recbole_test_ndcg@10": recbole.get("test", {}).get("ndcg@10"),
        "recbole_test_hr@10": recbole.get("test", {}).get("hr@10"),
        "recbole_native_unfiltered": recbole.get("test_recbole_native_unfiltered"),
        "threads": [recneg.get("threads"), recbole.get("threads")],
        "load_average": {"recneg": [recneg.get("load_average_before"), recneg.get("load_average_after")],
                         "recbole": [recbole.get("load_average_before"), recbole.get("load_average_after")]},
    }
    return summary


def print_summary(summary: dict) -> None:
    def fmt(value, spec=".4f"):
        return "n/a" if value is None else format(value, spec)

    print("\nSASRec on ML-100K, leave-one-out, full ranking with seen items removed")
    print(f"RecBole: {summary['recbole_epochs_run']} epochs, {summary['recbole_complete_epochs']} complete "
          f"({'finished' if summary['recbole_finished'] else 'unfinished'}, "
          f"{summary['recbole_stop_reason']}), {summary['recbole_epoch_seconds_estimate']:.0f} s per full epoch; "
          f"best validation NDCG@10 {summary['threshold_valid_ndcg@10']:.4f} at epoch "
          f"{summary['recbole_best_epoch']} after {summary['recbole_seconds_to_best']:.0f} s")
    print(f"recneg:  {summary['recneg_mean_epoch_seconds']:.2f} s per epoch; reaches that NDCG@10 at epoch "
          f"{summary['recneg_epoch_reaching_threshold']} after {fmt(summary['recneg_seconds_to_threshold'], '.0f')} s; "
          f"best validation NDCG@10 {summary['recneg_best_valid_ndcg@10']:.4f}")
    print(f"time to RecBole's best quality, recneg / RecBole: {fmt(summary['time_ratio_recneg_over_recbole'], '.3f')}")
    print(f"test NDCG@10: recneg {summary['recneg_test_ndcg@10']:.4f}, RecBole {fmt(summary['recbole_test_ndcg@10'])}"
          f"   (HR@10: {summary['recneg_test_hr@10']:.4f} vs {fmt(summary['recbole_test_hr@10'])})")
    print(f"threads {summary['threads']}, load average (before, after) {summary['load_average']}")


def main(argv=None) -> int:
    args = parse_args(argv)
    results = Path(args.results_dir)
    recneg_path, recbole_path = results / "sasrec_ml100k_recneg.json", results / "sasrec_ml100k_recbole.json"
    if args.leg in ("recneg", "all"):
        started = time.perf_counter()
        record = run_recneg(args)
        write_json(recneg_path, record)
        print(f"recneg: best epoch {record['best_epoch']} ({record['stop_reason']}), "
              f"test NDCG@10 {record['test']['ndcg@10']:.4f}, {time.perf_counter() - started:.0f} s")
    if args.leg in ("recbole", "all"):
        run_recbole(args, recbole_path)
    if args.leg in ("compare", "all"):
        missing = [str(p) for p in (recneg_path, recbole_path) if not p.exists()]
        if missing:
            sys.exit(f"missing results {', '.join(missing)}; run the legs first (--leg recneg / recbole)")
        summary = compare(json.loads(recneg_path.read_text()), json.loads(recbole_path.read_text()))
        write_json(results / "sasrec_ml100k_comparison.json", summary)
        print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
