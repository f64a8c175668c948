"""Sphinx extension used by the recneg book (loaded through ``_config.yml``).

It does four things that Jupyter Book's configuration file cannot express:

* **Student build.** ``RECNEG_HIDE_SOLUTIONS=1 jupyter-book build ...`` turns on
  sphinx-exercise's ``hide_solutions``. sphinx-exercise 1.x removes the
  ``{solution-start}`` node but leaves the content and the ``{solution-end}`` node in
  place, which leaks the solution code and crashes the HTML writer
  (executablebooks/sphinx-exercise#89). :class:`GatedSolutionStart` leaves a marker
  instead, and :class:`RemoveHiddenGatedSolutions` deletes everything from the marker to
  the matching ``{solution-end}``.
* **Local MathJax.** When the ``django-static-mathjax`` wheel (MathJax 3.2.2, no
  Django dependency) is installed, MathJax is served from the site's own ``_static``
  folder, so the book renders offline and the browser test needs no CDN.
* **One execution cache.** A relative or empty ``nb_execution_cache_path`` is anchored
  at ``<book>/_build/.jupyter_cache``, so the full build, the student build
  (``--path-output``) and ``tools/run_notebooks.py --prime-cache`` share executed
  notebooks instead of executing them again.
* **Clean pages.** sphinx-thebe 0.3 registers its inline configuration script during
  reading, after the HTML builder has collected the registry's scripts, so every page
  declares ``const THEBE_JS_URL`` twice — a JavaScript ``SyntaxError`` in the console.
  :func:`dedupe_scripts` keeps one copy of each script.
* **Measured run table.** The ``{recneg-notebook-runs}`` directive renders the JSON
  that ``tools/run_notebooks.py`` records (wall time and peak memory per notebook).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

LOGGER = logging.getLogger(__name__)

HIDE_SOLUTIONS_ENV = "RECNEG_HIDE_SOLUTIONS"
CACHE_ENV = "RECNEG_JUPYTER_CACHE"
DEFAULT_CACHE = Path("_build") / ".jupyter_cache"
MATHJAX_TARGET = "mathjax"
MATHJAX_SCRIPT = "tex-mml-chtml.js"
# What tex-mml-chtml.js loads lazily: fonts, TeX extensions (autoload), the menu and
# the assistive-MathML code the menu enables by default.
MATHJAX_PARTS = ("output/chtml/fonts/woff-v2", "input/tex/extensions", "a11y", "ui")


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to a true value."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


# -- student build: hide gated solutions -------------------------------------------
class hidden_solution_marker(nodes.Element):
    """Stands where a hidden ``{solution-start}`` was; removed before writing."""


def _gated_solution_start():
    from sphinx_exercise.directive import SolutionStartDirective

    class GatedSolutionStart(SolutionStartDirective):
        """``{solution-start}`` that leaves a marker when solutions are hidden."""

        def run(self):
            result = super().run()
            if self.env.app.config.hide_solutions:
                return [hidden_solution_marker()]
            return result

    return GatedSolutionStart


class RemoveHiddenGatedSolutions(SphinxTransform):
    """Delete each hidden gated solution: marker, content and ``{solution-end}``."""

    default_priority = 9  # before sphinx-exercise merges gated directives (10)

    def apply(self, **kwargs) -> None:
        from sphinx_exercise.nodes import solution_end_node

        for marker in list(self.document.findall(hidden_solution_marker)):
            parent = marker.parent
            start = parent.index(marker)
            end = next(
                (i for i in range(start + 1, len(parent.children))
                 if isinstance(parent.children[i], solution_end_node)),
                None,
            )
            if end is None:
                LOGGER.warning(
                    "a {solution-start} has no {solution-end} at the same level; put both "
                    "directives in markdown cells of the same section",
                    location=marker, type="recneg", subtype="solutions",
                )
                parent.remove(marker)
                continue
            for child in parent.children[start:end + 1]:
                parent.remove(child)


# -- configuration ----------------------------------------------------------------
def mathjax_source() -> Path | None:
    """The ``es5`` folder of the installed MathJax 3 wheel, or None."""
    try:
        import mathjax  # provided by the django-static-mathjax wheel
    except ImportError:
        return None
    root = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    return root if (root / MATHJAX_SCRIPT).is_file() else None


def configure(app: Sphinx, config) -> None:
    if env_flag(HIDE_SOLUTIONS_ENV):
        config.hide_solutions = True

    cache = os.environ.get(CACHE_ENV) or config.nb_execution_cache_path or str(DEFAULT_CACHE)
    if not Path(cache).is_absolute():
        cache = str(Path(app.srcdir) / cache)
    config.nb_execution_cache_path = cache

    if mathjax_source() is not None and str(config.mathjax_path).startswith("https://"):
        config.mathjax_path = f"{MATHJAX_TARGET}/{MATHJAX_SCRIPT}"


def copy_mathjax(app: Sphinx, exception) -> None:
    source = mathjax_source()
    if exception is not None or source is None or app.builder.format != "html":
        return
    if not str(app.config.mathjax_path).startswith(MATHJAX_TARGET + "/"):
        return
    target = Path(app.outdir) / "_static" / MATHJAX_TARGET
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / MATHJAX_SCRIPT, target / MATHJAX_SCRIPT)
    for part in MATHJAX_PARTS:
        shutil.copytree(source / part, target / part, dirs_exist_ok=True)


def dedupe_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        # the registry's copy has filename None, the builder's copy "" (same script)
        key = (getattr(script, "filename", str(script)) or "", attributes.get("body"))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: later handlers append to this same list


# -- measured notebook runs --------------------------------------------------------
def _cell(content) -> nodes.entry:
    return nodes.entry("", content if isinstance(content, nodes.Node) else nodes.paragraph(text=content))


def _table(header: list[str], rows: list[list]) -> nodes.table:
    table = nodes.table(classes=["colwidths-auto"])
    group = nodes.tgroup(cols=len(header))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in header)
    head = nodes.thead()
    group += head
    row = nodes.row()
    row.extend(nodes.entry("", nodes.paragraph(text=cell)) for cell in header)
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        row.extend(_cell(cell) for cell in cells)
        body += row
    return table


class NotebookRunsDirective(SphinxDirective):
    """Render the measurements recorded by ``tools/run_notebooks.py``.

    Usage (the path is relative to the book's root)::

        ```{recneg-notebook-runs} artifacts/notebook_runs-published.json
        ```
    """

    required_arguments = 1
    option_spec = {"class": directives.class_option}

    def run(self):
        path = Path(self.env.srcdir) / self.arguments[0]
        self.env.note_dependency(str(path))
        if not path.is_file():
            text = (
                f"This build did not record notebook runs ({self.arguments[0]} is absent). "
                "Build with bash tools/build_book.sh, which runs "
                "python tools/run_notebooks.py --scale published first, to measure them."
            )
            return [nodes.paragraph(text=text)]
        try:
            record = json.loads(path.read_text())
            runs = record["runs"]
        except (ValueError, KeyError) as error:
            raise self.error(f"{path} is not a notebook-run record: {error}") from None
        if not runs:
            return [nodes.paragraph(text="The runner found no notebooks to execute.")]
        host = record.get("host", {})
        caption = nodes.paragraph(text=(
            f"Scale: {record.get('scale', '?')}; recorded {record.get('finished_at', '?')} on "
            f"{host.get('cpus', '?')} CPU cores with Python {host.get('python', '?')}, "
            f"torch {host.get('torch', '?')}; {record.get('jobs', 1)} notebook(s) at a time"
            + (", so each wall time is that of a notebook sharing the machine." if record.get("jobs", 1) > 1
               else ".")
        ))
        rows = [
            [
                run["notebook"],
                f"{run['wall_seconds']:.1f}",
                "-" if run.get("peak_rss_mib") is None else f"{run['peak_rss_mib']:.0f}",
                "ok" if run["status"] == "ok" else f"failed: {run.get('error', '')[:120]}",
            ]
            for run in runs
        ]
        header = ["Notebook", "Wall time (s)", "Peak memory (MiB)", "Status"]
        return [caption, _table(header, rows)]


class ExperimentsDirective(SphinxDirective):
    """Render the state of every experiment grid from its provenance (``results/*.json``).

    Usage (the second argument, the folder of grid files, defaults to ``experiments``)::

        ```{recneg-experiments} results
        ```

        ```{recneg-experiments} results/next experiments/next
        ```
    """

    required_arguments = 1
    optional_arguments = 1

    def run(self):
        from recneg.grid import load_grid
        from recneg.runner import verification_summary

        folder = Path(self.env.srcdir) / self.arguments[0]
        grids = sorted((Path(self.env.srcdir) / (self.arguments[1:] or ["experiments"])[0]).glob("*.toml"))
        rows = []
        for grid in grids:
            self.env.note_dependency(str(grid))
            record = folder / f"{grid.stem}.json"
            # a reader should see which grids share a stopping rule (the case study moved
            # from patience 10 to 30 grid by grid)
            rule = load_grid(grid).stopping_rule()
            rule = f"patience {rule['patience'] or '-'}, warm-up {rule['warm-up']}, at most {rule['epoch cap']} epochs"
            if not record.is_file():
                rows.append([grid.stem, "not run yet", rule, "-", "-", "-", "-", "-"])
                continue
            self.env.note_dependency(str(record))
            check = record.with_name(f"{grid.stem}.verify.json")
            if check.is_file():
                self.env.note_dependency(str(check))
            p = json.loads(record.read_text())
            done = p["final_cells"]
            flagged = sum(bool(c["flags"]) for c in p["cells"])
            rows.append([
                grid.stem,
                f"{done['done']} of {done['total']} final runs" + (" (complete)" if p["complete"] else ""),
                rule,
                str(p["compute"]["cells_trained"]),
                f"{p['compute']['cell_wall_seconds'] / 3600:.1f}",
                str(flagged),
                f"{p['commit'][:10]}, {p['updated_at'][:10]}",
                verification_summary(record.with_suffix(".csv")) or "none recorded",
            ])
        header = ["Grid", "Final runs", "Stopping rule", "Runs trained", "Run time (h)", "Flagged runs",
                  "Commit, updated", "Latest re-run check"]
        return [_table(header, rows)]


class SamplersDirective(SphinxDirective):
    """The sampler catalogue, generated from recneg's registry (:func:`recneg.samplers.catalogue`).

    Usage::

        ```{recneg-samplers}
        ```
    """

    def run(self):
        from sphinx.addnodes import pending_xref

        import recneg.samplers
        from recneg.samplers import METHODS, SAMPLERS, catalogue

        rows = []
        for _, entry in catalogue().iterrows():
            cls = {**SAMPLERS, **METHODS}[entry["name"]]
            # documented under recneg.samplers when exported there, else in its own module
            module = "recneg.samplers" if hasattr(recneg.samplers, cls.__name__) else cls.__module__
            target = f"{module}.{cls.__name__}"
            link = pending_xref("", nodes.literal(text=entry["class"]), refdomain="py", reftype="class",
                                reftarget=target, refexplicit=True, refwarn=True)
            rows.append([entry["family"], entry["subfamily"], nodes.paragraph("", "", link), entry["name"],
                         entry["variant"] or "-", entry["summary"]])
        header = ["Family", "Sub-family", "Class", "Name", "Variant", "What it draws"]
        return [_table(header, rows)]


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx_exercise")
    app.add_node(hidden_solution_marker)
    app.add_directive("solution-start", _gated_solution_start(), override=True)
    app.add_transform(RemoveHiddenGatedSolutions)
    app.add_directive("recneg-notebook-runs", NotebookRunsDirective)
    app.add_directive("recneg-experiments", ExperimentsDirective)
    app.add_directive("recneg-samplers", SamplersDirective)
    # after myst-nb registered its config values, before it reads them (builder-inited)
    app.connect("config-inited", configure, priority=900)
    app.connect("build-finished", copy_mathjax)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
