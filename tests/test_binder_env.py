"""Binder's environment: what it installs, rebuilt and exercised the way mybinder.org does.

Binder (repo2docker) installs the Debian packages in ``apt.txt``, the pip section of
``environment.yml`` (torch), then runs ``postBuild`` (recneg with its extras). The fast
tests check those files against each other, against ``.ci/run`` and ``_config.yml``.

``test_every_notebook_runs_in_a_binder_environment`` builds a fresh virtual environment
from exactly those two pip steps, registers its own ``python3`` kernel inside it, and runs
every notebook at smoke scale with ``tools/run_notebooks.py`` in that environment. It
prints a table of wall time and peak memory and fails on any failing notebook (a missing
import above all) or on a notebook above Binder's 2 GB. It takes minutes (installing the
Jupyter stack, then twelve notebooks), so it runs where ``CI`` is set (``.ci/run`` sets it)
or with ``RECNEG_BINDER_TEST=1``::

    RECNEG_BINDER_TEST=1 python -m pytest tests/test_binder_env.py -q -s

The ``apt.txt`` packages are not installed by the test: they are assumed present, and
``.ci/run`` installs them in CI (``test_ci_installs_every_apt_package`` holds it to that).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import run_notebooks  # noqa: E402

BINDER_MEMORY_LIMIT_MIB = 2048  # mybinder.org gives a session 2 GB (1-2 GB guaranteed)
NOT_INSTALLED_BY_BINDER = {"dev"}  # extras for developers only: pytest, nbval, selenium
PIP_INSTALL = re.compile(r"^\s*(?:python3?\s+-m\s+)?pip3?\s+install\s+(.*)$", re.M)


def binder_test_enabled(environ=os.environ) -> bool:
    """RECNEG_BINDER_TEST decides when set (1 runs, 0 skips); otherwise CI does."""
    falsy = {"", "0", "false", "no", "off"}
    flag = environ.get("RECNEG_BINDER_TEST", "").strip().lower()
    if flag:
        return flag not in falsy
    return environ.get("CI", "").strip().lower() not in falsy


def apt_packages() -> list[str]:
    """The package names in apt.txt (repo2docker's syntax: one a line, # comments)."""
    path = ROOT / "apt.txt"
    if not path.is_file():
        return []
    names = (line.partition("#")[0].strip() for line in path.read_text().splitlines())
    return [name for name in names if name]


def ci_apt_packages() -> set[str]:
    """Packages .ci/run hands to apt-get: its ``missing+=(...)`` list and install lines."""
    text = (ROOT / ".ci" / "run").read_text()
    names = set()
    for group in re.findall(r"missing\+=\(([^)]*)\)", text):
        names |= set(shlex.split(group))
    for line in re.findall(r"apt-get\s+install\s+([^\n]*)", text):
        names |= {word for word in shlex.split(line) if re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", word)}
    return names


def environment_pip_requirements() -> list[str]:
    """The pip section of environment.yml, as lines of a requirements file."""
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    sections = [d["pip"] for d in spec.get("dependencies", []) if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, "environment.yml must have one pip section"
    return [str(line) for line in sections[0]]


def postbuild_pip_arguments() -> list[list[str]]:
    """The arguments of every ``pip install`` in postBuild."""
    return [shlex.split(args) for args in PIP_INSTALL.findall((ROOT / "postBuild").read_text())]


def postbuild_extras() -> set[str]:
    extras = set()
    for args in postbuild_pip_arguments():
        for arg in args:
            match = re.fullmatch(r"(?:-e\s*)?\.\[([\w,\s-]+)\]", arg)
            if match:
                extras |= {e.strip() for e in match.group(1).split(",")}
    return extras


def project_extras() -> set[str]:
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as handle:
        return set(tomllib.load(handle)["project"]["optional-dependencies"])


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


# -- the files Binder reads, checked against each other (fast) ------------------------------------
def test_ci_installs_every_apt_package():
    packages = apt_packages()
    assert packages, "apt.txt must give Binder a Java runtime for the Spark chapter"
    missing = sorted(set(packages) - ci_apt_packages())
    assert not missing, (f"apt.txt lists {missing}, which .ci/run does not install: CI would "
                         "test an environment without them; add them to .ci/run's apt-get list")


def test_postbuild_installs_every_runtime_extra():
    args = postbuild_pip_arguments()
    assert args, "postBuild must pip-install recneg"
    wanted = project_extras() - NOT_INSTALLED_BY_BINDER
    assert postbuild_extras() == wanted, (
        f"postBuild installs the extras {sorted(postbuild_extras())}; the notebooks import "
        f"from all of {sorted(wanted)}: pip install -e \".[{','.join(sorted(wanted))}]\"")
    assert not any(a.startswith("torch") for group in args for a in group), \
        "postBuild must not reinstall torch: environment.yml pins the CPU build"


def test_environment_pins_the_cpu_torch():
    requirements = environment_pip_requirements()
    assert "torch==2.13.0" in requirements
    assert any("download.pytorch.org/whl/cpu" in line for line in requirements), \
        "without the CPU index Binder would pull a multi-GB CUDA build of torch"


def test_launch_buttons_open_jupyterlab():
    buttons = config()["launch_buttons"]
    assert buttons["notebook_interface"] == "jupyterlab"
    assert buttons.get("binderhub_url") and buttons.get("colab_url")


def test_colab_cell_installs_recneg_from_the_book_repository():
    url = config()["repository"]["url"].rstrip("/")
    notebooks = run_notebooks.discover()
    if not notebooks:
        pytest.skip("notebooks/ holds no notebooks yet")
    cell = nbformat.read(notebooks[0], as_version=4).cells[0]
    match = re.search(r'%pip install -q "recneg\[([\w,]+)\] @ git\+(\S+)"', cell.source)
    assert match, f"{notebooks[0].name}: the first cell does not pip-install recneg"
    assert match.group(2) == url, f"the Colab cell installs from {match.group(2)}, not {url}"
    # Colab brings Jupyter itself; it needs every extra the notebooks import.
    assert set(match.group(1).split(",")) == postbuild_extras() - {"book"}
    assert "torch" not in cell.source.split("@")[0], "Colab has torch; do not reinstall it"


def test_binder_test_runs_in_ci_and_on_request():
    assert binder_test_enabled({"CI": "true"})
    assert binder_test_enabled({"RECNEG_BINDER_TEST": "1"})
    assert not binder_test_enabled({})
    assert not binder_test_enabled({"CI": "true", "RECNEG_BINDER_TEST": "0"})


# -- a Binder-like environment, built and exercised (slow) ---------------------------------------
def _venv_environment(venv: Path) -> dict:
    """os.environ with the venv first on PATH and nothing that points elsewhere."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX",
            "SPARK_HOME", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("JUPYTER_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["JUPYTER_PREFER_ENV_PATH"] = "1"  # the venv's kernelspec before any user-wide one
    return env


def _run(command: list[str], log: Path, **kwargs) -> None:
    with open(log, "a") as handle:
        handle.write(f"\n$ {shlex.join(map(str, command))}\n")
        handle.flush()
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        pytest.fail(f"{shlex.join(map(str, command))} exited with {result.returncode}:\n{tail}")


def _probe_kernel(python: Path, env: dict, work: Path) -> str:
    """sys.prefix of the kernel that papermill in the venv starts for kernelspec python3."""
    probe = nbformat.v4.new_notebook()
    probe.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    probe.cells = [nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)")]
    source, executed = work / "kernel-probe.ipynb", work / "kernel-probe-out.ipynb"
    nbformat.write(probe, source)
    subprocess.run([str(python), "-m", "papermill", str(source), str(executed), "--no-progress-bar",
                    "--log-level", "WARNING"], env=env, check=True, capture_output=True, timeout=300)
    return nbformat.read(executed, as_version=4).cells[0].outputs[0]["text"].strip()


def _table(runs: list[dict]) -> str:
    lines = [f"{'notebook':<38} {'status':<7} {'wall s':>7} {'largest MiB':>12} {'tree MiB':>9}"]
    for run in runs:
        tree = run.get("peak_tree_rss_mib")
        lines.append(f"{Path(run['notebook']).name:<38} {run['status']:<7} {run['wall_seconds']:>7.1f} "
                     f"{run['peak_rss_mib']:>12.0f} {tree if tree is None else f'{tree:.0f}':>9}"
                     + (f"  {run['error']}" if run["error"] else ""))
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.binder
@pytest.mark.skipif(not binder_test_enabled(),
                    reason="builds a Binder-like environment (minutes): runs where CI is set, "
                           "or with RECNEG_BINDER_TEST=1")
def test_every_notebook_runs_in_a_binder_environment(tmp_path):
    notebooks = run_notebooks.discover()
    if not notebooks:
        pytest.skip("notebooks/ holds no notebooks yet")
    if any(re.match(r"openjdk-|default-jre", p) for p in apt_packages()):
        assert shutil.which("java"), "apt.txt gives Binder a Java runtime; install it here (.ci/run does)"
    venv, log, phases = tmp_path / "venv", tmp_path / "install.log", {}
    python = venv / "bin" / "python"
    env = _venv_environment(venv)
    data_dir = os.environ.get("RECNEG_DATA_DIR")
    if data_dir:  # the datasets the rest of the suite uses, never a fresh download
        env["RECNEG_DATA_DIR"] = data_dir
    try:
        start = time.perf_counter()
        _run([sys.executable, "-m", "venv", str(venv)], log)
        # environment.yml's pip section, as repo2docker hands it to pip (torch, CPU build)
        requirements = tmp_path / "environment-pip.txt"
        requirements.write_text("\n".join(environment_pip_requirements()) + "\n")
        _run([str(python), "-m", "pip", "install", "--progress-bar", "off", "-r", str(requirements)],
             log, env=env, cwd=ROOT)
        phases["torch (environment.yml)"] = time.perf_counter() - start
        # postBuild, with pip's cache allowed: Binder skips the cache to keep its image small,
        # here the wheels the suite's own install left in the cache save the downloads.
        start = time.perf_counter()
        postbuild = tmp_path / "postBuild"
        postbuild.write_text((ROOT / "postBuild").read_text().replace("--no-cache-dir", ""))
        _run(["bash", str(postbuild)], log, env=env, cwd=ROOT)
        # Binder's environment has its kernel registered; give the venv its own python3.
        _run([str(python), "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3",
              "--display-name", "Python 3 (ipykernel)"], log, env=env)
        prefix = _probe_kernel(python, env, tmp_path)
        assert Path(prefix).resolve() == venv.resolve(), \
            f"the python3 kernel runs {prefix}, not the Binder-like environment {venv}"
        phases["postBuild"] = time.perf_counter() - start

        start = time.perf_counter()
        record_path = tmp_path / "notebook_runs-binder.json"
        subprocess.run([str(python), str(ROOT / "tools" / "run_notebooks.py"), "--scale", "smoke",
                        "--output-dir", str(tmp_path / "executed"), "--record", str(record_path),
                        "--timeout", "600"], env=env, cwd=ROOT, timeout=3600)
        phases["notebooks at smoke scale"] = time.perf_counter() - start
    finally:
        # A few GB of small files that take minutes to delete: delete them in the background.
        subprocess.Popen(["rm", "-rf", str(venv)], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    assert record_path.is_file(), "tools/run_notebooks.py wrote no record (see the output above)"
    record = json.loads(record_path.read_text())
    record["phases_seconds"] = {k: round(v, 1) for k, v in phases.items()}
    run_notebooks.write_record(record, ROOT / "artifacts" / "notebook_runs-binder.json")
    runs = record["runs"]
    table = _table(runs)
    print("\nBinder-like environment, notebooks at smoke scale (memory: peak RSS of the largest "
          "process, and of the whole process tree summed)\n" + table)
    print("phases: " + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()))

    assert {Path(r["notebook"]).name for r in runs} == {p.name for p in notebooks}, table
    imports = [r for r in runs if re.search(r"ModuleNotFoundError|ImportError|is not installed",
                                            r["error"])]
    assert not imports, "Binder's environment lacks what these notebooks import:\n" + table
    failed = [r for r in runs if r["status"] != "ok"]
    assert not failed, "these notebooks fail in Binder's environment:\n" + table
    heavy = [r for r in runs
             if max(r["peak_rss_mib"], r.get("peak_tree_rss_mib") or 0) > BINDER_MEMORY_LIMIT_MIB]
    assert not heavy, f"these notebooks need more than Binder's {BINDER_MEMORY_LIMIT_MIB} MiB:\n" + table
