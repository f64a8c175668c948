"""RecBole 1.2.1's SASRec on ML-100K, measured the way ``bench_sasrec.py`` measures recneg.

Run it with the RecBole virtual environment's interpreter (RecBole never goes into the
main environment)::

    /work/.venv-recbole/bin/python benchmarks/recbole_sasrec.py \
        --time-budget 3600 --out benchmarks/results/sasrec_ml100k_recbole.json

The environment is created by ``bash benchmarks/setup_recbole_venv.sh``. recneg itself
(pure Python) is imported from this working tree, for its data loader, split and
metrics.

Same data, same split, same metric
----------------------------------
The interactions are recneg's ``load_dataset("ml-100k")`` (handed over by
``bench_sasrec.py`` as ``--log-npz``) written as a RecBole atomic
file whose timestamp is each row's position in recneg's (user, time, file order) order,
so RecBole's leave-one-out split (``LS: valid_and_test``) holds out exactly the items
that :func:`recneg.data.leave_one_out` holds out (checked row by row).

RecBole's full-sort evaluation of sequential models does not remove the items a user
has already seen, while recneg's does. So every epoch the RecBole model's full scores
are mapped to recneg's item ids and ranked with :func:`recneg.metrics.full_ranks` and
the split's own histories: the NDCG@10 reported here is computed by the same code as
recneg's. RecBole's own (unfiltered) metrics are recorded too, for reference.

Each epoch's record is written to ``--out`` as soon as it is measured, so a run stopped
by its time budget (or killed) still leaves every measured epoch behind.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # recneg from this working tree


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("RECNEG_DATA_DIR", "/work/shared/data"),
                        help="folder with ml-100k/ (recneg's RECNEG_DATA_DIR)")
    parser.add_argument("--log-npz", default=None,
                        help="the log as saved by bench_sasrec.py (users, items, timestamps, n_users, "
                             "n_items); default: recneg.data.load_dataset('ml-100k')")
    parser.add_argument("--out", default="benchmarks/results/sasrec_ml100k_recbole.json")
    parser.add_argument("--epochs", type=int, default=200, help="upper bound on epochs")
    parser.add_argument("--time-budget", type=float, default=3600.0,
                        help="stop after the first epoch that ends past this many seconds of training")
    parser.add_argument("--stopping-step", type=int, default=10,
                        help="RecBole's early stopping: epochs without a better validation NDCG@10")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--maxlen", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=None,
                        help="keep only the first N users (a quick check of the pipeline, not a measurement)")
    return parser.parse_args(argv)


# RecBole swaps any dataset named "ml-100k" for the copy bundled with it, so the atomic
# files get a name of their own.
DATASET = "recneg-ml-100k"


def write_atomic(log, folder: Path) -> None:
    """recneg's log as an atomic ``.inter`` file; the timestamp is the row's position in
    recneg's (user, time, file order) order."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{DATASET}.inter", "w") as handle:
        handle.write("user_id:token\titem_id:token\ttimestamp:float\n")
        rows = np.column_stack([log.users, log.items, np.arange(len(log))])
        np.savetxt(handle, rows, fmt="%d", delimiter="\t")


def recbole_config(args, data_path: Path, checkpoints: Path) -> dict:
    return {
        "data_path": str(data_path),
        "field_separator": "\t",
        "checkpoint_dir": str(checkpoints),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "normalize_all": False,
        "MAX_ITEM_LIST_LENGTH": args.maxlen,
        # SASRec as in Kang & McAuley: d = 50, FFN width d, 2 blocks, 1 head, dropout 0.2, ReLU.
        "hidden_size": 50,
        "inner_size": 50,
        "n_layers": 2,
        "n_heads": 1,
        "hidden_dropout_prob": 0.2,
        "attn_dropout_prob": 0.2,
        "hidden_act": "relu",
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        "metrics": ["Hit", "NDCG"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        "epochs": args.epochs,
        "stopping_step": args.stopping_step,
        "train_batch_size": args.batch_size,
        "eval_batch_size": 256,
        "learning_rate": args.lr,
        "seed": args.seed,
        "reproducibility": True,
        "use_gpu": False,
        "worker": 0,
        "show_progress": False,
        "state": "WARNING",
        "save_dataset": False,
        "save_dataloaders": False,
    }


def train_epoch(trainer, train_data, began: float, budget: float, on_progress) -> tuple[float, int, int]:
    """One epoch of RecBole's own training step (``Trainer._train_epoch`` on one CPU
    process: zero_grad, ``model.calculate_loss``, backward, optimizer step), run here
    so that the time budget is checked after every batch and the throughput so far is
    saved while an epoch is still running (a RecBole epoch can take many minutes)."""
    model, optimizer = trainer.model, trainer.optimizer
    model.train()
    total, n_batches, n_examples = 0.0, 0, 0
    epoch_start = time.perf_counter()
    for interaction in train_data:
        interaction = interaction.to(trainer.device)
        optimizer.zero_grad()
        loss = model.calculate_loss(interaction)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        n_batches += 1
        n_examples += len(interaction)
        if n_batches % 20 == 0:
            on_progress({"batches": n_batches, "batches_per_epoch": len(train_data),
                         "seconds": time.perf_counter() - epoch_start})
        if time.perf_counter() - began > budget:
            break
    return total, n_batches, n_examples


class FilteredEvaluator:
    """Rank RecBole's full scores with recneg's metric code and the split's histories."""

    def __init__(self, dataset, eval_set, n_items: int, n_users: int) -> None:
        item_tokens = dataset.field2id_token["item_id"]
        user_tokens = dataset.field2id_token["user_id"]
        # Internal id -> recneg id (internal 0 is RecBole's [PAD]).
        self.item_to_recneg = torch.tensor([0] + [int(t) for t in item_tokens[1:]])
        user_to_recneg = np.array([-1] + [int(t) for t in user_tokens[1:]])
        row_of_user = np.full(n_users, -1)
        row_of_user[eval_set.users] = np.arange(len(eval_set))
        self.row_of_internal_user = torch.as_tensor(
            np.where(user_to_recneg >= 0, row_of_user[np.maximum(user_to_recneg, 0)], -1))
        self.eval_set = eval_set
        self.n_items = n_items

    @torch.no_grad()
    def ranks(self, model, loader) -> np.ndarray:
        from recneg.metrics import full_ranks

        model.eval()
        ranks = np.full(len(self.eval_set), -1, dtype=np.int64)
        for interaction, _, _, positive_i in loader:
            scores = model.full_sort_predict(interaction)
            mapped = torch.full((len(scores), self.n_items + 1), float("-inf"))
            mapped[:, self.item_to_recneg[1:]] = scores[:, 1:]
            rows = self.row_of_internal_user[interaction["user_id"]].numpy()
            if (rows < 0).any():
                raise RuntimeError("RecBole evaluates a user that recneg's split does not")
            targets = self.item_to_recneg[positive_i]
            expected = torch.as_tensor(self.eval_set.targets[rows])
            if not torch.equal(targets, expected):
                raise RuntimeError("RecBole's held-out items differ from recneg's leave-one-out split")
            seen_rows, seen_items = self.eval_set.seen_pairs(rows)
            ranks[rows] = full_ranks(mapped, targets, seen_rows, seen_items).numpy()
        if (ranks < 0).any():
            raise RuntimeError("RecBole skipped evaluation rows of recneg's split")
        return ranks


def numpy2_aliases() -> None:
    """RecBole 1.2.1's Config aliases names that NumPy 2 removed (np.float_, ...); restore
    them as the NumPy 1 spellings of the same types, so that it also runs on NumPy 2
    (the environment of setup_recbole_venv.sh has NumPy 1, where this does nothing)."""
    for name, value in {"float_": np.float64, "complex_": np.complex128, "unicode_": np.str_}.items():
        if not hasattr(np, name):
            setattr(np, name, value)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    numpy2_aliases()
    import recbole
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    from recneg.data import Interactions, leave_one_out
    from recneg.metrics import hit_rate_at_k, ndcg_at_k

    if args.log_npz is not None:
        # bench_sasrec.py loads the data in recneg's environment (RecBole's lacks pooch,
        # which recneg's downloader imports) and hands over the arrays.
        arrays = np.load(args.log_npz)
        log = Interactions(arrays["users"], arrays["items"], arrays["timestamps"],
                           n_users=int(arrays["n_users"]), n_items=int(arrays["n_items"]), name="ml-100k")
    else:
        from recneg.data import load_dataset

        log = load_dataset("ml-100k", data_dir=args.data_dir, download=False, progress=False)
    if args.users is not None:
        from recneg.data import compact

        log = compact(log.subset(log.users < args.users))
    split = leave_one_out(log)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "library": f"recbole {recbole.__version__}",
        "model": "SASRec (hidden 50, 2 blocks, 1 head, FFN 50, dropout 0.2, ReLU, maxlen "
                 f"{args.maxlen}), CE loss over all items, every prefix a training example",
        "dataset": "ml-100k", "split": "leave-one-out", "protocol": "full (seen items removed)",
        "batch_size": args.batch_size, "lr": args.lr, "threads": args.threads, "seed": args.seed,
        "time_budget_s": args.time_budget, "torch": torch.__version__, "python": platform.python_version(),
        "epochs": [], "finished": False,
    }

    def save() -> None:
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(out)

    sys.argv = sys.argv[:1]  # RecBole's Config reads the command line as its own options
    with tempfile.TemporaryDirectory() as tmpdir:
        write_atomic(log, Path(tmpdir) / DATASET)
        config = Config(model="SASRec", dataset=DATASET,
                        config_dict=recbole_config(args, Path(tmpdir), Path(tmpdir) / "ckpt"))
        init_seed(config["seed"], config["reproducibility"])
        prep_start = time.perf_counter()
        dataset = create_dataset(config)
        train_data, valid_data, test_data = data_preparation(config, dataset)
        record["data_preparation_s"] = time.perf_counter() - prep_start
        record["train_examples_per_epoch"] = len(train_data.dataset)
        init_seed(config["seed"], config["reproducibility"])
        model = SASRec(config, train_data._dataset).to(config["device"])
        trainer = Trainer(config, model)
        valid_eval = FilteredEvaluator(dataset, split.valid, split.n_items, split.n_users)
        test_eval = FilteredEvaluator(dataset, split.test, split.n_items, split.n_users)

        best, best_state, stale = -1.0, None, 0
        began = time.perf_counter()

        def progress(state: dict) -> None:
            record["current_epoch_progress"] = {"epoch": len(record["epochs"]) + 1, **state}
            save()

        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            loss, n_batches, n_examples = train_epoch(trainer, train_data, began, args.time_budget, progress)
            train_s = time.perf_counter() - start
            out_of_time = n_batches < len(train_data)
            eval_start = time.perf_counter()
            ranks = valid_eval.ranks(model, valid_data)
            ndcg = ndcg_at_k(torch.as_tensor(ranks), 10)
            entry = {"epoch": epoch, "train_loss": loss / max(n_batches, 1), "seconds": train_s,
                     "batches": n_batches, "batches_per_epoch": len(train_data), "examples": n_examples,
                     "complete": n_batches == len(train_data),
                     "eval_seconds": time.perf_counter() - eval_start,
                     "elapsed_seconds": time.perf_counter() - began,
                     "valid_ndcg@10": ndcg, "valid_hr@10": hit_rate_at_k(torch.as_tensor(ranks), 10)}
            record["epochs"].append(entry)
            record.pop("current_epoch_progress", None)
            print(json.dumps(entry), flush=True)
            if ndcg > best:
                best, stale = ndcg, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                record["best_epoch"] = epoch
            else:
                stale += 1
            save()
            if stale >= args.stopping_step:
                record["stop_reason"] = "stopping_step"
                break
            if out_of_time or time.perf_counter() - began > args.time_budget:
                record["stop_reason"] = "time budget"
                break
        else:
            record["stop_reason"] = "epochs"
        record["train_seconds"] = time.perf_counter() - began
        model.load_state_dict(best_state)
        test_ranks = test_eval.ranks(model, test_data)
        record["test_ranks"] = test_ranks.tolist()
        record["test"] = {"ndcg@10": ndcg_at_k(torch.as_tensor(test_ranks), 10),
                          "hr@10": hit_rate_at_k(torch.as_tensor(test_ranks), 10)}
        native = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
        record["test_recbole_native_unfiltered"] = {k: float(v) for k, v in native.items()}
        record["finished"] = True
        save()
    print(json.dumps({k: record[k] for k in ("best_epoch", "stop_reason", "train_seconds", "test")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
