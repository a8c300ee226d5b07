"""Headless Chromium for the explorer's browser tests (skips cleanly without it), and a reader that
returns what the page shows."""

import shutil

import pytest


def chromium():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


# the step view as shown: table cells by step, strips' cells by vector name, the shape labels
READ_STEP_VIEW = """
const all = (sel) => [...document.querySelectorAll(sel)];
const cells = (step) => all(`#steps td[data-step="${step}"]`).map((e) => e.textContent);
const strip = (name) => all(`#steps [data-vector="${name}"] .cell`).map((e) => e.dataset.value);
return {
  dot: cells("dot"), scaled: cells("scaled"), mask: cells("mask"), score: cells("score"), weight: cells("weight"),
  x: strip("x"), q: strip("q"), z: strip("z"), concat: strip("concat"), output: strip("output"),
  keys: all('#steps [data-vector^="k"]').length, values: all('#steps [data-vector^="v"]').length,
  shapes: Object.fromEntries(all("#steps .shape").map((e) => [e.dataset.step, e.textContent])),
  headRow: JSON.parse(document.body.dataset.stepRow), query: document.body.dataset.stepQuery,
  head: document.body.dataset.stepHead,
};
"""


def severe_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def read_step_view(page):
    """Open ``page`` in headless Chromium and return what its step view shows (no console errors)."""
    driver = chromium()
    try:
        driver.get(page.as_uri())
        view = driver.execute_script(READ_STEP_VIEW)
        assert not severe_errors(driver), severe_errors(driver)
    finally:
        driver.quit()
    return view
