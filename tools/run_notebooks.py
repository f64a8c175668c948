"""Execute the book's notebooks with papermill and record wall time and peak memory.

Usage (from the repository root)::

    python tools/run_notebooks.py --scale smoke                 # what the tests run
    python tools/run_notebooks.py --scale published --prime-cache  # what the book shows
    python tools/run_notebooks.py notebooks/05_static.ipynb --scale smoke

At *published* scale a notebook runs with the parameters in its ``parameters`` cell. At
*smoke* scale the runner injects the small values the notebook declares in its metadata::

    "metadata": {"recneg": {"smoke_parameters": {"epochs": 1, "n_users": 200}}}

so the runner needs no per-notebook code. Each notebook runs in its own ``papermill``
process; the peak resident memory reported is that of the process tree (the runner and
the kernel, and whatever the kernel started and waited for), read from ``wait4``
(``peak_rss_mib``: the largest single process). On Linux the runner also samples the
summed resident memory of every living process of the tree (``peak_tree_rss_mib``), which
is what a memory limit such as Binder's counts, a Spark JVM included.

``--jobs N`` runs N notebooks at a time (default: two, or one on a single core), each
kernel limited to its share of the cores so that they do not oversubscribe them; wall
times are then those of a notebook sharing the machine, and ``--jobs 1`` measures each
alone. On 2 cores, two at a time saves about a tenth of the book build: the notebooks
that train with one thread overlap, while those that use both cores gain nothing.

``--prime-cache`` stores each published-scale result in the Jupyter Book execution cache
(``_build/.jupyter_cache``), so the following ``jupyter-book build`` shows these outputs
instead of executing the notebooks a second time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
DEFAULT_CACHE = ROOT / "_build" / ".jupyter_cache"
SCALES = ("smoke", "published")


class NotebookConventionError(ValueError):
    """A notebook does not follow the conventions in CONTRIBUTING.md."""


def discover(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """The chapter notebooks in ``directory``, in chapter order."""
    return sorted(p for p in directory.glob("*.ipynb") if not p.name.startswith("."))


def smoke_parameters(notebook: nbformat.NotebookNode) -> dict:
    """The smoke-scale parameters a notebook declares in ``metadata.recneg``."""
    params = notebook.metadata.get("recneg", {}).get("smoke_parameters", {})
    if not isinstance(params, dict):
        raise NotebookConventionError(
            f"metadata.recneg.smoke_parameters must be a mapping, got {type(params).__name__}"
        )
    return dict(params)


def parameters_cell_index(notebook: nbformat.NotebookNode) -> int | None:
    """Index of the cell tagged ``parameters``, or None."""
    for index, cell in enumerate(notebook.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return index
    return None


def parameters_for(notebook: nbformat.NotebookNode, scale: str, path: Path) -> dict:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if scale == "published":
        return {}
    params = smoke_parameters(notebook)
    if params and parameters_cell_index(notebook) is None:
        raise NotebookConventionError(
            f"{path.name} declares smoke_parameters but has no cell tagged 'parameters'"
        )
    return params


def _peak_rss_mib(usage: resource.struct_rusage) -> float:
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    return usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)


def _tree_rss_bytes(root: int) -> int | None:
    """Summed resident memory of ``root`` and its living descendants (Linux /proc), or None."""
    parents, rss = {}, {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "; field 3 first
        parents[int(name)] = int(fields[1])
        rss[int(name)] = int(fields[21])  # field 24, in pages
    if root not in rss:
        return None
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total * os.sysconf("SC_PAGE_SIZE")


class _TreeMemorySampler(threading.Thread):
    """Samples the summed RSS of a process tree every ``interval`` seconds.

    ``ru_maxrss`` (from ``wait4``) is the peak of the single largest process, and misses
    processes the kernel never reaps, such as a Spark JVM; what a memory limit (Binder's
    2 GB) counts is the sum over every living process, which this samples.
    """

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self.available = sys.platform.startswith("linux")
        self._stop_event = threading.Event()

    def run(self) -> None:
        while self.available and not self._stop_event.is_set():
            sample = _tree_rss_bytes(self.pid)
            if sample is not None:
                self.peak = max(self.peak, sample)
            self._stop_event.wait(self.interval)

    def stop(self) -> float | None:
        """Stop sampling; the peak in MiB, or None where /proc is unavailable."""
        self._stop_event.set()
        self.join()
        return round(self.peak / 2**20, 1) if self.available and self.peak else None


def default_jobs() -> int:
    """Notebooks run at once by default: two, or one on a single core."""
    return min(2, os.cpu_count() or 1)


def run_notebook(path: Path, output: Path, *, scale: str = "smoke", timeout: int = 1800,
                 extra_parameters: dict | None = None, threads: int | None = None) -> dict:
    """Execute one notebook with papermill in a child process and measure it.

    Returns a record with ``notebook``, ``scale``, ``parameters``, ``wall_seconds``,
    ``peak_rss_mib``, ``status`` ("ok" or "failed"), ``error`` and ``output``.
    """
    path = Path(path).resolve()
    notebook = nbformat.read(path, as_version=4)
    params = parameters_for(notebook, scale, path)
    params.update(extra_parameters or {})
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(params, handle)
        params_file = handle.name
    command = [
        sys.executable, "-m", "papermill", str(path), str(output),
        "--cwd", str(path.parent), "--execution-timeout", str(timeout),
        "--no-progress-bar", "--log-level", "WARNING",
    ]
    if params:
        command += ["-f", params_file]
    env = dict(os.environ, RECNEG_NOTEBOOK_SCALE=scale, PYDEVD_DISABLE_FILE_VALIDATION="1")
    # A kernel that inherits MPLBACKEND=Agg (CI sets it for headless scripts) draws its
    # figures off-screen and the executed notebook, hence the book, has none: let
    # ipykernel choose its inline backend.
    env.pop("MPLBACKEND", None)
    if threads is not None:
        # torch, NumPy's BLAS and OpenMP read these at start: kernels that run side by side
        # each keep to their share of the cores instead of fighting over all of them.
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        sampler = _TreeMemorySampler(process.pid)
        sampler.start()
        # wait4 returns the child's rusage including the descendants it reaped (the
        # kernel), which is what a notebook costs.
        _, status, usage = os.wait4(process.pid, 0)
        tree_peak = sampler.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        log.seek(0)
        text = log.read().decode(errors="replace")
    os.unlink(params_file)
    ok = process.returncode == 0
    return {
        "notebook": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "scale": scale,
        "parameters": params,
        "wall_seconds": round(wall, 2),
        "peak_rss_mib": round(_peak_rss_mib(usage), 1),
        # summed RSS of all living processes of the tree, sampled every 0.2 s (None off Linux)
        "peak_tree_rss_mib": tree_peak,
        "status": "ok" if ok else "failed",
        "error": "" if ok else _last_error(text),
        "output": str(output),
    }


def _last_error(log: str) -> str:
    lines = [line for line in log.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line.strip()[:500]
    return (lines[-1] if lines else "papermill exited with an error")[:500]


def prime_cache(source: Path, executed: Path, cache_path: Path, seconds: float) -> bool:
    """Store ``executed``'s outputs under ``source``'s code in the Jupyter Book cache.

    The cache is keyed by a hash of the code cells *and their metadata*; papermill adds
    metadata, so the outputs are copied into the unmodified source notebook first.
    Returns False (and caches nothing) when the code cells do not line up.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    original = nbformat.read(source, as_version=4)
    ran = nbformat.read(executed, as_version=4)
    code = [c for c in original.cells if c.cell_type == "code"]
    done = [c for c in ran.cells if c.cell_type == "code"
            and "injected-parameters" not in c.metadata.get("tags", [])]
    if len(code) != len(done) or any(a.source != b.source for a, b in zip(code, done)):
        return False
    for cell, result in zip(code, done):
        cell.outputs = result.get("outputs", [])
        cell.execution_count = result.get("execution_count")
    for key in ("language_info",):
        if key in ran.metadata:
            original.metadata[key] = ran.metadata[key]
    cache = get_cache(str(cache_path))
    cache.cache_notebook_bundle(
        CacheBundleIn(original, str(source.resolve()), data={"execution_seconds": seconds}),
        check_validity=False, overwrite=True,
    )
    return True


def host_info() -> dict:
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch_version,
        "platform": platform.platform(),
    }


def write_record(record: dict, path: Path) -> None:
    """Write ``record`` as JSON atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every notebooks/*.ipynb)")
    parser.add_argument("--scale", choices=SCALES, default="smoke")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where executed notebooks go (default: artifacts/executed/<scale>)")
    parser.add_argument("--record", type=Path, default=None,
                        help="JSON record (default: artifacts/notebook_runs-<scale>.json)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--prime-cache", nargs="?", const=DEFAULT_CACHE, type=Path, default=None,
                        help="store published-scale results in this Jupyter Book cache "
                             f"(default when given without a path: {DEFAULT_CACHE.relative_to(ROOT)})")
    parser.add_argument("--jobs", type=int, default=default_jobs(),
                        help="notebooks run at once, each on its share of the cores "
                             "(default: two, or one on a single core)")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    args = parser.parse_args(argv)

    if args.prime_cache is not None and args.prime_cache.suffix == ".ipynb":
        parser.error(f"--prime-cache took {args.prime_cache} as the cache folder; put the "
                     "notebooks before --prime-cache or give the folder explicitly")
    if args.prime_cache is not None and args.scale != "published":
        parser.error("--prime-cache only makes sense with --scale published: the book shows "
                     "published-scale outputs")
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: give a positive number of notebooks to run at once")
    notebooks = [p.resolve() for p in args.notebooks] or discover()
    output_dir = args.output_dir or ROOT / "artifacts" / "executed" / args.scale
    record_path = args.record or ROOT / "artifacts" / f"notebook_runs-{args.scale}.json"
    record = {"scale": args.scale, "started_at": _now(), "host": host_info(), "runs": []}

    jobs = args.jobs
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None

    def run(path: Path) -> dict:
        return run_notebook(path, output_dir / path.name, scale=args.scale,
                            timeout=args.timeout, threads=threads)

    failures = 0
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(lambda p=path: None if stop.is_set() else run(p)) for path in notebooks]
        for path, future in zip(notebooks, futures):  # in notebook order, as the record reads
            run_record = future.result()
            if run_record is None:  # skipped after a failure with --fail-fast
                continue
            if run_record["status"] == "ok" and args.prime_cache is not None:
                # one writer for the cache's SQLite index: the main thread
                run_record["cached"] = prime_cache(path, Path(run_record["output"]),
                                                   args.prime_cache, run_record["wall_seconds"])
            record["runs"].append(run_record)
            failures += run_record["status"] != "ok"
            print(f"{run_record['status']:>6}  {run_record['notebook']}  "
                  f"{run_record['wall_seconds']:.1f} s  {run_record['peak_rss_mib']:.0f} MiB"
                  + (f" (tree {run_record['peak_tree_rss_mib']:.0f} MiB)"
                     if run_record["peak_tree_rss_mib"] else "")
                  + (f"  {run_record['error']}" if run_record["error"] else ""),
                  flush=True)
            if failures and args.fail_fast:
                stop.set()
    record["jobs"] = jobs
    record["finished_at"] = _now()
    write_record(record, record_path)
    print(f"{len(record['runs']) - failures} passed, {failures} failed; record: {record_path}")
    return 1 if failures else 0


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


if __name__ == "__main__":
    sys.exit(main())
