"""The built book, as a reader sees it in a browser (headless Chromium via Selenium).

The site is served from ``_build/html`` on 127.0.0.1 — the build that
``tests/test_book.py`` made in the same session (``tools/book_pipeline.full_build``), or a
fresh one. Every page listed in ``_toc.yml`` must load without SEVERE console errors,
typeset its math, and load its images; solution dropdowns must open on click; launch
buttons must point at the page's notebook; search must work.

Network: CI and developer sandboxes have no internet. MathJax is served by the site
itself (``book/_ext/recneg_book.py``), so math is tested for real. The only requests that can
fail are to *external* hosts (the favicon of a launch service, a linked badge); their
console errors are filtered by host, explicitly, and every error from the local server
still fails the test.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import book_pipeline  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else shutil.which("chromedriver")
CHROME_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,2000",
)


def toc_pages() -> list[str]:
    """Every document in ``_toc.yml``, root first, without extension."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc.get("parts", toc.get("chapters", [])))
    return [re.sub(r"\.(md|ipynb)$", "", page) for page in pages]


PAGES = toc_pages()
NOTEBOOK_PAGES = [p for p in PAGES if p.startswith("notebooks/")]


@pytest.fixture(scope="module")
def site():
    """Base URL of the built book served on 127.0.0.1."""
    html = book_pipeline.full_build()
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None or CHROMEDRIVER is None:
        reason = "chromium and chromedriver are needed: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI installs them, so absence there is a broken setup
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def load(driver, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop messages of the previous page
    driver.get(url)
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def wait_for_math(driver) -> int:
    """Wait for MathJax to finish typesetting; return the number of rendered formulas."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return !!(window.MathJax && MathJax.startup && MathJax.startup.promise)"))
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "MathJax.startup.promise.then(() => done(true), () => done(false));"
    )
    return driver.execute_script("return document.querySelectorAll('mjx-container').length")


def severe_errors(driver, base: str) -> list[str]:
    """SEVERE console messages, except failed requests to hosts other than ours."""
    local = urlparse(base).netloc
    errors = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        message = entry["message"]
        urls = re.findall(r"https?://[^\s'\"]+", message)
        external = urls and all(urlparse(u).netloc != local for u in urls)
        if external and ("Failed to load resource" in message or "net::" in message):
            continue  # no internet in the sandbox; the page itself is fine
        if urls and all(urlparse(u).path == "/favicon.ico" for u in urls):
            continue  # the browser asks for a favicon the book does not define
        errors.append(message)
    return errors


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_cleanly(site, browser, page):
    load(browser, f"{site}/{page}.html")
    assert browser.find_elements("css selector", "main, article"), f"{page}: no content"
    has_math = browser.execute_script(
        "return document.querySelectorAll('.math, span.math, div.math').length")
    if has_math:
        rendered = wait_for_math(browser)
        assert rendered >= 1, f"{page}: {has_math} formulas in the HTML, none typeset by MathJax"
        leftovers = browser.execute_script(
            "return Array.from(document.querySelectorAll('.math'))"
            ".filter(e => !e.querySelector('mjx-container') && !e.closest('mjx-container')"
            " && e.textContent.includes('\\\\(')).length")
        assert leftovers == 0, f"{page}: {leftovers} formulas left as raw TeX"
        errors = browser.execute_script(
            "return document.querySelectorAll('mjx-merror, [data-mjx-error]').length")
        assert errors == 0, f"{page}: MathJax reported {errors} TeX errors"
    broken = browser.execute_script(
        "return Array.from(document.images)"
        ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert not broken, f"{page}: images that did not load: {broken}"
    errors = severe_errors(browser, site)
    assert not errors, f"{page}: console errors: {errors}"


def _draws_figures(page: str) -> bool:
    """Whether the page's notebook has code that draws a matplotlib/seaborn figure."""
    import nbformat

    notebook = nbformat.read(ROOT / f"{page}.ipynb", as_version=4)
    return any(re.search(r"\b(plt|sns)\.|\.plot\(|plot_\w+\(", cell.source)
               for cell in notebook.cells if cell.cell_type == "code")


FIGURE_PAGES = [p for p in NOTEBOOK_PAGES if _draws_figures(p)]


@pytest.mark.skipif(not FIGURE_PAGES, reason="no notebook draws a figure")
@pytest.mark.parametrize("page", FIGURE_PAGES)
def test_notebook_figures_are_on_the_page(site, browser, page):
    # A kernel running with MPLBACKEND=Agg draws off-screen: the page would build, with
    # no figure and no error. Every chapter that plots must show a loaded output image.
    load(browser, f"{site}/{page}.html")
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('.cell_output img'))"
        ".filter(i => i.complete && i.naturalWidth > 100).length")
    assert shown >= 1, f"{page}: its notebook draws figures but the page shows none"


def test_math_is_served_locally(site, browser):
    load(browser, f"{site}/{PAGES[0]}.html")
    sources = browser.execute_script(
        "return Array.from(document.scripts).map(s => s.src).filter(s => s.includes('mathjax'))")
    assert sources and all(s.startswith(site) for s in sources), sources


def _pages_with_solutions(html: Path) -> list[str]:
    return [p for p in PAGES if 'class="solution dropdown' in
            (html / f"{p}.html").read_text(encoding="utf-8")]


def test_solution_dropdown_opens_on_click(site, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    pages = _pages_with_solutions(book_pipeline.full_build())
    assert pages, "no page has a solution dropdown (the preface's exercise should)"
    load(browser, f"{site}/{pages[0]}.html")
    solution = browser.find_element("css selector", ".solution.dropdown")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", solution)
    body = solution.find_element("css selector", "section, .admonition-title ~ *")
    WebDriverWait(browser, 10).until(lambda d: solution.find_elements("css selector", "button.toggle-button"))
    assert not body.is_displayed(), "the solution is visible before it is opened"
    solution.find_element("css selector", "button.toggle-button").click()
    WebDriverWait(browser, 10).until(lambda d: body.is_displayed())


@pytest.mark.skipif(not NOTEBOOK_PAGES, reason="_toc.yml lists no notebook chapters yet")
@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_launch_buttons_open_this_notebook(site, browser, page):
    load(browser, f"{site}/{page}.html")
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('a')).map(a => a.href)")
    binder = [u for u in links if "mybinder.org" in u]
    colab = [u for u in links if "colab.research.google.com" in u]
    assert binder and colab, f"{page}: launch buttons missing (binder {binder}, colab {colab})"
    target = f"{page}.ipynb"
    assert all(target in u for u in binder + colab), (target, binder, colab)
    assert all("/recneg/recneg/" in u for u in binder + colab), (binder, colab)


def test_search_finds_popularity(site, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    load(browser, f"{site}/search.html?q=popularity")
    # Sphinx appends the results one by one (a timeout each) and only then reports
    # "Search finished, found N page(s)"; reading the list earlier sees a partial one.
    WebDriverWait(browser, 60).until(lambda d: "Search finished" in d.execute_script(
        "const s = document.querySelector('#search-results .search-summary');"
        "return s ? s.innerText : '';"))
    results = browser.find_elements("css selector", "#search-results ul.search li a")
    pages = {urlparse(a.get_attribute("href")).path for a in results}
    assert any(path.endswith("book/preface.html") for path in pages), pages
