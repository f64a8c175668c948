"""Negative sampling at scale: Spark ``local[N]`` against the in-memory approach.

For each log size (1M, 5M and 20M synthetic interactions by default) the script

1. generates the log on the executors with :func:`recneg.scale.spark.synthetic_log` and writes
   it to parquet (the common input of both paths);
2. **Spark**: reads the parquet, draws ``k`` popularity negatives *per interaction*
   (``per="interaction"``, so the output has ``k * n`` rows) with
   :func:`recneg.scale.spark.popularity_negatives`, and writes them to parquet;
3. **in memory**: in a subprocess whose address space is capped with
   ``resource.setrlimit(RLIMIT_AS)``, loads the whole log with pandas and runs the
   vectorised numpy engine (:func:`recneg.scale.memory.memory_negative_arrays`: per-user
   rejection sampling, the same negatives as Spark) and writes parquet — or dies of the
   cap, which is reported with the peak resident memory it reached.

It prints one row per (size, engine): wall seconds, CPU seconds (the machine may be
shared, so CPU time is the steadier cost measure), output rows per wall second, CPU
microseconds per output row (flat across sizes = linear cost) and peak memory. The
in-memory path's peak memory per output row is then extrapolated to the sizes it could
not finish.

Usage::

    nice -n 10 python benchmarks/bench_spark.py                       # 1M, 5M, 20M
    python benchmarks/bench_spark.py --sizes 200000 400000 --memory-cap-gb 2   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split() if Path(f"/proc/{pid}/task/{pid}/children").exists() else []:
        found += _descendants(int(child))
    return found


def process_tree_cpu_seconds() -> float:
    """User + system CPU seconds of this process and its children (the Spark JVM)."""
    total = 0.0
    for pid in _descendants(os.getpid()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(path.glob("*.parquet")))


# --- the in-memory worker (runs in a capped subprocess) ---------------------------------------
def memory_worker(log_path: str, out_path: str, k: int, alpha: float, cap_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))
    started = time.perf_counter()
    cpu0 = time.process_time()
    status = "ok"
    rows = 0
    try:
        import pandas as pd

        from recneg.scale.files import write_table
        from recneg.scale.memory import memory_negative_arrays

        frame = pd.read_parquet(log_path, columns=["user", "item"])
        columns = memory_negative_arrays(frame, k, method="popularity", alpha=alpha, per="interaction", replace=True, seed=0)
        rows = len(columns["negative"])
        write_table(columns, out_path)
    except MemoryError:
        status = "MemoryError"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        "status": status, "rows": rows, "wall": time.perf_counter() - started,
        "cpu": time.process_time() - cpu0, "peak_bytes": peak,
    }))


def run_memory(log_path: Path, out_path: Path, k: int, alpha: float, cap_gb: float) -> dict:
    cmd = [sys.executable, __file__, "--memory-worker", str(log_path), str(out_path), str(k), str(alpha), str(int(cap_gb * 2**30))]
    result = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if lines:
        return json.loads(lines[-1])
    # Killed before it could report (e.g. an allocation outside Python's MemoryError).
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    reason = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
    return {"status": f"failed: {reason[:60]}", "rows": 0, "wall": float("nan"), "cpu": float("nan"), "peak_bytes": peak}


# --- the Spark path ----------------------------------------------------------------------------
def run_spark(spark, log_path: Path, out_path: Path, k: int, alpha: float) -> dict:
    from recneg.scale.spark import popularity_negatives

    shutil.rmtree(out_path, ignore_errors=True)
    cpu0, started = process_tree_cpu_seconds(), time.perf_counter()
    log = spark.read.parquet(str(log_path))
    neg = popularity_negatives(log, k, alpha, per="interaction", replace=True, seed=0)
    neg.write.parquet(str(out_path))
    wall = time.perf_counter() - started
    return {"status": "ok", "rows": parquet_rows(out_path), "wall": wall, "cpu": process_tree_cpu_seconds() - cpu0,
            "peak_bytes": float("nan")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    parser.add_argument("--k", type=int, default=20, help="negatives per interaction")
    parser.add_argument("--alpha", type=float, default=0.75)
    parser.add_argument("--items", type=int, default=100_000, help="catalogue size")
    parser.add_argument("--interactions-per-user", type=int, default=20)
    parser.add_argument("--zipf", type=float, default=1.0)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--memory-cap-gb", type=float, default=8.0, help="address-space cap of the in-memory run")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/recneg_bench_spark"))
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)

    from recneg.scale.spark import spark_session, synthetic_log

    args.workdir.mkdir(parents=True, exist_ok=True)
    spark = spark_session(args.master, driver_memory=args.driver_memory, shuffle_partitions=16,
                          config={"spark.local.dir": str(args.workdir / "spark-local")})
    spark.sparkContext.setLogLevel("ERROR")
    print(f"# recneg.scale.spark benchmark: {args.master}, driver {args.driver_memory}, k={args.k} popularity negatives "
          f"(alpha={args.alpha}, with replacement) per interaction, {args.items:,} items, Zipf {args.zipf}")
    print(f"# in-memory path capped at {args.memory_cap_gb:g} GiB of address space; machine: {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    header = f"{'interactions':>12} {'engine':>7} {'status':>12} {'out rows':>12} {'wall s':>8} {'cpu s':>8} {'rows/s':>10} {'cpu us/row':>10} {'peak GiB':>8}"
    # Warm the JVM (JIT, codegen caches) so that the first timed size is not penalised.
    warm = args.workdir / "warmup_log.parquet"
    if not warm.exists():
        synthetic_log(spark, 50_000, 2_500, args.items, zipf=args.zipf, seed=1).write.parquet(str(warm))
    run_spark(spark, warm, args.workdir / "warmup_neg.parquet", args.k, args.alpha)
    shutil.rmtree(args.workdir / "warmup_neg.parquet", ignore_errors=True)
    print(header)
    results = []
    for n in args.sizes:
        log_path = args.workdir / f"log_{n}.parquet"
        if not log_path.exists():
            started = time.perf_counter()
            users = max(1, n // args.interactions_per_user)
            synthetic_log(spark, n, users, args.items, zipf=args.zipf, seed=0).write.parquet(str(log_path))
            print(f"# generated {n:,} interactions in {time.perf_counter() - started:.1f}s -> {log_path}", flush=True)
        runs = [("spark", lambda: run_spark(spark, log_path, args.workdir / f"neg_spark_{n}.parquet", args.k, args.alpha))]
        if not args.skip_memory:
            runs.append(("memory", lambda: run_memory(log_path, args.workdir / f"neg_memory_{n}.parquet", args.k, args.alpha, args.memory_cap_gb)))
        for engine, run in runs:
            r = run()
            r.update(n=n, engine=engine)
            results.append(r)
            rows = r["rows"] or float("nan")
            print(f"{n:>12,} {engine:>7} {r['status'][:12]:>12} {r['rows']:>12,} {r['wall']:>8.1f} {r['cpu']:>8.1f} "
                  f"{rows / r['wall']:>10,.0f} {1e6 * r['cpu'] / rows:>10.2f} {r['peak_bytes'] / 2**30:>8.2f}", flush=True)
            shutil.rmtree(args.workdir / f"neg_{engine}_{n}.parquet", ignore_errors=True)
            (args.workdir / f"neg_{engine}_{n}.parquet").unlink(missing_ok=True)

    ok = sorted((r for r in results if r["engine"] == "memory" and r["status"] == "ok"), key=lambda r: r["rows"])
    if len(ok) >= 2:
        # Peak memory = fixed interpreter/library footprint + a cost per output row.
        a, b = ok[-2], ok[-1]
        per_row = (b["peak_bytes"] - a["peak_bytes"]) / (b["rows"] - a["rows"])
        fixed = b["peak_bytes"] - per_row * b["rows"]
        print(f"# in-memory peak memory ~ {fixed / 2**30:.2f} GiB + {per_row:.0f} bytes per output row "
              "(line through the two largest finished runs); needed at each size:")
        for n in args.sizes:
            print(f"#   {n:>12,} interactions -> {(fixed + per_row * n * args.k) / 2**30:6.1f} GiB")
    elif ok:
        per_row = ok[-1]["peak_bytes"] / ok[-1]["rows"]
        print(f"# in-memory peak memory {per_row:.0f} bytes per output row (one finished run, fixed footprint included)")
    spark_rows = [r for r in results if r["engine"] == "spark"]
    if len(spark_rows) > 1:
        first, last = spark_rows[0], spark_rows[-1]
        growth = (last["cpu"] / first["cpu"]) / (last["rows"] / first["rows"])
        print(f"# Spark CPU time grew {last['cpu'] / first['cpu']:.1f}x for {last['rows'] / first['rows']:.0f}x the rows "
              f"(ratio {growth:.2f}; 1.00 = linear)")
    spark.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-worker":
        memory_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
