"""The leaderboard app in a real headless Chromium (Debian's chromium + chromedriver).

``python leaderboard/app.py`` is started as a user would, on a leaderboard
generated in a temporary folder; Selenium drives Chromium against it. Without
Chromium the tests skip with what to install, except under ``CI=true``, where they
fail (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import free_port, require_programs
from tests.leaderboard_data import REPO, cached_project

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1100",
]
WAIT_S = 30


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cached_project(tmp_path_factory) / "data"


@pytest.fixture(scope="module")
def app_url(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python leaderboard/app.py --port <free>`` serving the generated leaderboard."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("app")
    log_path = workdir / "app.log"
    env = {k: v for k, v in os.environ.items() if k != "VALUE_INERTIA_DATASET"}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "leaderboard" / "app.py"),
                "--port",
                str(port),
                "--data",
                str(data_dir),
            ],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the app exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer in 120 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    require_programs(CHROMIUM, CHROMEDRIVER, install="apt-get install chromium chromium-driver")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def table(driver: WebDriver) -> WebElement:
    return driver.find_element(By.ID, "leaderboard-table")


ROWS_JS = """
const rows = [...document.querySelectorAll('#leaderboard-table div[role=row].virtual-row')];
rows.sort((a, b) => a.getAttribute('aria-rowindex') - b.getAttribute('aria-rowindex'));
return rows.map(r => [...r.querySelectorAll('div[role=gridcell]')].map(c => c.innerText.trim()));
"""
HEADERS_JS = """
return [...document.querySelectorAll('#leaderboard-table th')].map(h => h.getAttribute('title'));
"""


def rows(driver: WebDriver) -> list[list[str]]:
    """The table's rows, in display order, as cell texts (read in one go: the table re-renders)."""
    return driver.execute_script(ROWS_JS)


def headers(driver: WebDriver) -> list[str]:
    return driver.execute_script(HEADERS_JS)


def column(driver: WebDriver, name: str) -> list[str]:
    index = headers(driver).index(name)
    return [r[index] for r in rows(driver)]


def wait_for(driver: WebDriver, condition, message: str) -> None:
    WebDriverWait(
        driver, WAIT_S, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]
    ).until(lambda d: condition(), message)


def header_menu(driver: WebDriver, name: str, choice: str) -> None:
    """Click column ``name``'s header, open its menu and pick ``choice``."""
    header = table(driver).find_element(By.CSS_SELECTOR, f"th[title='{name}']")
    header.click()  # the header's menu button shows on the focused header
    header.find_element(By.CSS_SELECTOR, "button.cell-menu-button").click()
    items = driver.find_elements(By.CSS_SELECTOR, ".cell-menu button[role=menuitem]")
    next(item for item in items if item.text.strip() == choice).click()


def sort_by(driver: WebDriver, name: str, direction: str) -> None:
    """Sort by column ``name`` alone (Gradio's sorts stack: the previous one is cleared)."""
    for previous in table(driver).find_elements(By.CSS_SELECTOR, "th .sort-indicator"):
        title = previous.find_element(By.XPATH, "ancestor::th").get_attribute("title")
        header_menu(driver, title, "Clear sort")
    header_menu(driver, name, f"Sort {direction}")


def sort_state(driver: WebDriver, name: str) -> str | None:
    found = table(driver).find_elements(By.CSS_SELECTOR, f"th[title='{name}'] .sort-indicator")
    return found[0].get_attribute("aria-label") if found else None


def test_leaderboard_page(browser: WebDriver, app_url: str, data_dir: Path, tmp_path: Path) -> None:
    board = pd.read_parquet(data_dir / "leaderboard" / "leaderboard.parquet")
    mfq = board[board["questionnaire"] == "mfq30"]  # in the file's order: ranked per protocol

    # The page loads with the first questionnaire's rows in rank order.
    browser.get(app_url)
    wait_for(browser, lambda: len(rows(browser)) == 3, "the leaderboard rows did not appear")
    assert "Value Inertia Leaderboard" in browser.find_element(By.TAG_NAME, "h1").text
    assert {"rank", "model", "inertia", "steerability", "top2"} <= set(headers(browser))
    assert column(browser, "model") == list(mfq["model"])
    # ranks hold within a protocol: logprobs (steady 1, drift 2) and sample (wobbly 1)
    ranks = dict(zip(mfq["model"], mfq["rank"], strict=True))
    assert ranks == {"steady-model": 1, "drift.model": 2, "wobbly-model": 1}
    assert column(browser, "rank") == [str(r) for r in mfq["rank"]]
    shown = [float(v) for v in column(browser, "inertia")]
    assert shown == pytest.approx(list(mfq["inertia"]), abs=6e-4)

    # Sorting from the column headers reorders the rows.
    sort_by(browser, "inertia", "ascending")
    wait_for(
        browser,
        lambda: column(browser, "model") == ["wobbly-model", "drift.model", "steady-model"],
        "sorting by inertia (ascending) did not reorder the rows",
    )
    values = [float(v) for v in column(browser, "inertia")]
    assert values == sorted(values)
    assert sort_state(browser, "inertia") == "Sorted ascending"
    sort_by(browser, "model", "descending")
    wait_for(
        browser,
        lambda: column(browser, "model") == ["wobbly-model", "steady-model", "drift.model"],
        "sorting by model (descending) did not reorder the rows",
    )
    sort_by(browser, "steerability", "ascending")
    wait_for(
        browser,
        lambda: column(browser, "model")[0] == "steady-model",
        "sorting by steerability did not put the persona-proof model first",
    )
    screenshot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(screenshot))
    assert (
        screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    )

    # Searching a model filters the rows.
    search = browser.find_element(By.CSS_SELECTOR, "#search textarea, #search input")
    search.send_keys("wobbly")
    search.send_keys(Keys.TAB)
    wait_for(browser, lambda: column(browser, "model") == ["wobbly-model"], "search did not filter")
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.BACKSPACE)  # typed, so the app sees the change (clear() is silent)
    search.send_keys(Keys.TAB)
    wait_for(browser, lambda: len(rows(browser)) == 3, "clearing the search did not restore rows")


def test_model_view_shows_figures(browser: WebDriver, app_url: str, tmp_path: Path) -> None:
    browser.get(app_url)
    wait_for(browser, lambda: len(rows(browser)) == 3, "the leaderboard rows did not appear")
    tab = next(
        b
        for b in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]")
        if b.text.strip() == "Model"
    )
    tab.click()

    def loaded_images() -> list[str]:
        images = browser.find_elements(By.CSS_SELECTOR, "#figures img")
        return [
            i.get_attribute("src")
            for i in images
            if browser.execute_script("return arguments[0].naturalWidth", i) > 100
        ]

    wait_for(browser, lambda: len(loaded_images()) >= 2, "the model's figures did not load")
    sources = loaded_images()
    # it opens on the top-ranked model of the first questionnaire
    assert any("steady-model__mfq30__macro" in s for s in sources)
    assert any("steady-model__mfq30__cohens_d" in s for s in sources)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "steady-model · mfq30" in text and "Harm" in text
    assert "data/responses/steady-model.parquet" in text  # where the model's data is
    screenshot = tmp_path / "model.png"
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
