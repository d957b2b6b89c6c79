"""`nmt serve` in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`,
driven by Selenium) types a sentence into the page of a server started as `python -m nmt serve`
with two runs, and sees both translations, both heatmaps, the n-best list, the next-token
distribution, and the messages for empty and over-long input.

Without Chromium the test is skipped, except in CI (`$CI` set), where it fails: `.ci/run`
installs it. `NMT_UPDATE_SCREENSHOT=1` writes the final screenshot to docs/serve.png;
`NMT_SERVE_RUNS=runs/small-rnn,runs/small-transformer` shows other runs than the fixtures
(two runs whose models have attention)."""

import os
import shutil
import subprocess

import pytest

from nmt.serve import ServeError, start
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "saved_runs")
RUNS = [os.path.join(FIXTURES, name) for name in ("rnn-wordpiece", "transformer-wordpiece")]
MAX_CHARS = 60
SCREENSHOT = os.path.join(ROOT, "docs", "serve.png")


def _browser_or_skip():
    """The Chromium and chromedriver paths; skip (fail in CI) when they are not installed."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        chromium = None
    if chromium and driver:
        return chromium, driver
    reason = ("Chromium, chromedriver or selenium is not installed (apt-get install chromium "
              "chromium-driver; pip install -r requirements.txt)")
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser test")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The URL of `python -m nmt serve` over two runs, on a free port (stopped afterwards)."""
    runs = [r for r in os.environ.get("NMT_SERVE_RUNS", "").split(",") if r] or RUNS
    log = tmp_path_factory.mktemp("serve") / "stderr.txt"  # a file: a full pipe would block it
    with open(log, "w") as errors:
        try:
            process, url = start(runs, "--max-chars", str(MAX_CHARS), stderr=errors, timeout=180)
        except ServeError as error:
            pytest.fail(f"{error}: {log.read_text()[-3000:]}")
    try:
        yield url, len(runs)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1360,1500", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    yield driver
    driver.quit()


def _wait(driver, condition, seconds=120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)


def _css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _translate(driver, text):
    box = _css(driver, "#text")[0]
    box.clear()
    if text:
        box.send_keys(text)
    _css(driver, "#go")[0].click()
    # Answered: the button is enabled again.
    _wait(driver, lambda d: _css(d, "#go")[0].is_enabled() and
          not _css(d, "#status")[0].text.startswith("translating"))


def _error(driver):
    box = _css(driver, "#error")[0]
    return box.text if box.is_displayed() else ""


def test_the_page_translates_shows_both_runs_heatmaps_and_messages(browser, server):
    # `browser` first: without Chromium the test is skipped before a server is started.
    url, run_count = server
    driver = browser
    driver.get(url)
    _wait(driver, lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    assert f"/ {MAX_CHARS} characters" in _css(driver, "form")[0].text  # the limit is shown

    # Empty and over-long input: a message in the page, no results.
    _translate(driver, "")
    assert _error(driver) == "type an English sentence to translate (the input is empty)"
    assert not _css(driver, "section.run")
    _translate(driver, "x" * (MAX_CHARS + 1))
    assert f"the limit is {MAX_CHARS}" in _error(driver)

    # A translation per run, side by side, each with its heatmap.
    _translate(driver, "Where is the train station?")
    assert _error(driver) == ""
    columns = _css(driver, "section.run")
    assert len(columns) == run_count == 2
    for column in columns:
        assert column.find_element("css selector", ".translation").text.strip()
        cells = column.find_elements("css selector", "table.heatmap td")
        rows = column.find_elements("css selector", "table.heatmap tbody tr")
        assert len(rows) >= 1 and len(cells) % len(rows) == 0 and len(cells) >= len(rows)
    left, right = (column.location for column in columns)
    assert right["x"] > left["x"]  # side by side, not stacked

    # Beam search: the n-best list, best first.
    _css(driver, "input[name=decode][value=beam]")[0].click()
    _translate(driver, "Where is the train station?")
    for column in _css(driver, "section.run"):
        rows = column.find_elements("css selector", "table.nbest tr")
        assert len(rows) == 1 + 4  # the header and the default 4 beams
        scores = [float(r.find_elements("css selector", "td")[2].text) for r in rows[1:]]
        assert scores == sorted(scores, reverse=True)

    # The next-token distribution at the first output position of each run.
    for index in range(run_count):
        column = _css(driver, "section.run")[index]
        column.find_elements("css selector", ".tokens button")[0].click()
        _wait(driver, lambda d: len(_css(d, "section.run")[index].find_elements(
            "css selector", "table.top tr")) == 1 + 10)
    # A layer and a head of the Transformer (the second run) can be picked.
    selects = _css(driver, "section.run")[1].find_elements("css selector", ".attention select")
    assert len(selects) == 2

    path = os.path.join(ROOT, ".pytest_cache", "serve.png")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert driver.save_screenshot(path)
    if os.environ.get("NMT_UPDATE_SCREENSHOT") == "1":
        os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
        shutil.copyfile(path, SCREENSHOT)
