"""The leaderboard app in a real headless Chromium (Debian's chromium + chromedriver).

``python -m leaderboard`` is started as a user would, on the data folder of
a dataset published from the synthetic project; Selenium drives Chromium
against it. Without Chromium the tests skip with a message naming what to
install, except under ``CI=true``, where they fail (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import free_port, serve
from tests.leaderboard_data import REPO, cached_project
from value_inertia.core.config import load_params
from value_inertia.publishing.dataset import build_dataset_folder

WAIT_S = 30


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``data/`` folder of the published dataset built from the synthetic project."""
    root = tmp_path_factory.mktemp("published") / "proj"
    shutil.copytree(cached_project(tmp_path_factory), root)
    folder = root / "data" / "hub" / "dataset"
    build_dataset_folder(root, folder, load_params(root / "params.yaml"))
    return folder / "data"


@pytest.fixture(scope="module")
def app_url(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m leaderboard --port <free>`` serving the generated leaderboard."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("app")
    env = {k: v for k, v in os.environ.items() if k != "VALUE_INERTIA_DATASET"}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    app = [sys.executable, "-m", "leaderboard", "--port", str(port)]
    url = f"http://127.0.0.1:{port}/"
    with serve([*app, "--data", str(data_dir)], url, workdir / "app.log", cwd=workdir, env=env):
        yield url


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


def choose(driver: WebDriver, elem_id: str, label: str) -> None:
    """Open dropdown ``elem_id`` and pick the option whose label starts with ``label``."""

    def opened() -> bool:  # a pending update's spinner may cover the dropdown for a moment
        try:
            driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input").click()
        except ElementClickInterceptedException:
            return False
        return True

    wait_for(driver, opened, f"dropdown {elem_id} could not be opened")
    wait_for(
        driver,
        lambda: any(
            (o.get_attribute("aria-label") or "").startswith(label)
            for o in driver.find_elements(By.CSS_SELECTOR, "[role=option]")
        ),
        f"option {label!r} of {elem_id} did not show",
    )
    option = next(
        o
        for o in driver.find_elements(By.CSS_SELECTOR, "[role=option]")
        if (o.get_attribute("aria-label") or "").startswith(label)
    )
    option.click()


def open_tab(driver: WebDriver, name: str) -> None:
    tab = next(
        b
        for b in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]")
        if b.text.strip() == name
    )
    tab.click()


def text_of(driver: WebDriver, elem_id: str) -> str:
    return driver.find_element(By.ID, elem_id).text


def board_frame(data_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(data_dir / "leaderboard" / "leaderboard.parquet")


def test_leaderboard_page(browser: WebDriver, app_url: str, data_dir: Path, tmp_path: Path) -> None:
    board = board_frame(data_dir)
    mfq = board[board["questionnaire"] == "mfq30"]
    counts = mfq.groupby("protocol_hash")["model"].nunique().sort_values(ascending=False)
    # in the board's order: ranked results by rank, then (below the minimum sample, not
    # ranked) by name
    default = mfq[mfq["protocol_hash"] == counts.index[0]]
    assert counts.iloc[0] == 2 and len(counts) == 2  # logprobs models vs. the sample-mode one

    # The page opens on the protocol with the most models, in rank order.
    browser.get(app_url)
    wait_for(browser, lambda: len(rows(browser)) == 2, "the leaderboard rows did not appear")
    assert "Value Inertia Leaderboard" in browser.find_element(By.TAG_NAME, "h1").text
    shown = headers(browser)
    assert shown[:6] == ["rank", "model", "inertia", "inertia CI", "steerability", "top2"]
    assert {"mode", "backend"} <= set(shown)
    assert column(browser, "model") == list(default["model"]) == ["drift.model", "steady-model"]
    assert column(browser, "rank") == list(default["rank_label"])
    value = browser.find_element(By.CSS_SELECTOR, "#protocol input").get_attribute("value")
    assert value.startswith(counts.index[0][:12]) and "2 models" in value
    # one number format: registry digits everywhere ("1.000", never "1")
    for name in ("inertia", "steerability", "top2", "parse_rate"):
        for cell in column(browser, name):
            assert len(cell.split(".")[1]) == 3, (name, cell)
    assert [float(v) for v in column(browser, "inertia")] == pytest.approx(
        list(default["inertia"]), abs=6e-4
    )
    # At 1400 px nothing scrolls sideways: mode and backend are on screen.
    width = browser.execute_script("return window.innerWidth")
    rights = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#leaderboard-table th')]"
        ".map(h => [h.getAttribute('title'), h.getBoundingClientRect().right]));"
    )
    assert rights["mode"] <= width and rights["backend"] <= width
    overflowing = browser.execute_script(
        "return [...document.querySelectorAll('#leaderboard-table *')].filter(e => "
        "e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')"
        ".length;"
    )
    assert overflowing == 0
    # the CI error-bar chart is drawn
    wait_for(
        browser,
        lambda: browser.find_elements(By.CSS_SELECTOR, "#ci-plot img"),
        "the CI chart did not render",
    )

    # Sorting from the column headers reorders the rows.
    sort_by(browser, "inertia", "ascending")
    wait_for(
        browser,
        lambda: column(browser, "model") == ["drift.model", "steady-model"],
        "sorting by inertia (ascending) did not reorder the rows",
    )
    assert sort_state(browser, "inertia") == "Sorted ascending"

    # Another protocol: the sample-mode model alone, ranked first within it.
    choose(browser, "protocol", counts.index[1][:12])
    wait_for(
        browser, lambda: column(browser, "model") == ["wobbly-model"], "protocol filter failed"
    )
    sample = mfq[mfq["protocol_hash"] == counts.index[1]]
    assert column(browser, "rank") == list(sample["rank_label"]) == ["not ranked (n = 8)"]
    assert column(browser, "mode") == ["sample"]
    choose(browser, "protocol", counts.index[0][:12])
    wait_for(browser, lambda: len(rows(browser)) == 2, "switching back did not restore rows")

    # Searching a model filters the rows.
    search = browser.find_element(By.CSS_SELECTOR, "#search textarea, #search input")
    search.send_keys("drift")
    search.send_keys(Keys.TAB)
    wait_for(browser, lambda: column(browser, "model") == ["drift.model"], "search did not filter")
    screenshot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000


def test_compare_two_models_and_pvqrr_levels(browser: WebDriver, app_url: str) -> None:
    browser.get(app_url)
    wait_for(browser, lambda: len(rows(browser)) == 2, "the leaderboard rows did not appear")
    open_tab(browser, "Compare")
    wait_for(
        browser,
        lambda: "steady-model inertia" in text_of(browser, "compare-table"),
        "the comparison table did not show",
    )
    text = text_of(browser, "compare-table")
    assert "drift.model inertia" in text and "Harm" in text and "Purity" in text
    assert "[" in text  # per-dimension CIs
    wait_for(
        browser,
        lambda: browser.find_elements(By.CSS_SELECTOR, "#compare-plot img"),
        "the comparison figure did not render",
    )

    # PVQ-RR: 19 values, then the 10 basic and 4 higher-order values.
    choose(browser, "questionnaire", "pvqrr")
    wait_for(
        browser,
        lambda: "Self-Direction-Thought" in text_of(browser, "compare-table"),
        "PVQ-RR's 19 values did not show",
    )
    choose(browser, "level", "10 basic values")
    wait_for(
        browser,
        lambda: (
            "Self-Direction-Thought" not in text_of(browser, "compare-table")
            and "Benevolence" in text_of(browser, "compare-table")
        ),
        "the 10 basic values did not show",
    )
    choose(browser, "level", "4 higher-order values")
    wait_for(
        browser,
        lambda: "Self-Transcendence" in text_of(browser, "compare-table"),
        "the higher-order values did not show",
    )


def test_model_view_shows_provenance_and_figures(
    browser: WebDriver, app_url: str, data_dir: Path
) -> None:
    browser.get(app_url)
    wait_for(browser, lambda: len(rows(browser)) == 2, "the leaderboard rows did not appear")
    open_tab(browser, "Model")
    choose(browser, "model", "steady-model")  # not ranked: the first model is by name

    def loaded_images() -> list[str]:
        images = browser.find_elements(By.CSS_SELECTOR, "#figures img")
        for image in images:  # figures below the fold load when they come into view
            browser.execute_script("arguments[0].scrollIntoView()", image)
        return [
            i.get_attribute("src")
            for i in images
            if browser.execute_script("return arguments[0].naturalWidth", i) > 100
        ]

    board = board_frame(data_dir)
    steady = board[(board["model"] == "steady-model") & (board["questionnaire"] == "mfq30")]
    key, protocol = steady["model_key"].iloc[0], steady["protocol_hash"].iloc[0]
    # figures are keyed by identity and protocol (Gradio serves them from its own cache
    # folder, so the page shows the file name only)
    assert (data_dir / "plots" / key / f"mfq30__original__{protocol}__macro.png").is_file()
    wanted = tuple(f"mfq30__original__{protocol}__{f}" for f in ("macro", "cohens_d"))
    wait_for(
        browser,
        lambda: all(any(w in s for s in loaded_images()) for w in wanted),
        "the model's figures did not load",
    )
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "steady-model · mfq30" in text and "Harm" in text
    assert "Provenance" in text and "0.1.0" in text  # package version of the row
    assert "acme/steady-1b" in text and "Quality verdict" in text
    assert "Catch items" in text and "baseline mean rating" in text
    # figures are shown one per row, wide enough to read
    width = browser.execute_script(
        "return document.querySelector('#figures img').getBoundingClientRect().width"
    )
    assert width > 600


def test_reload_shows_new_results_without_restart(
    browser: WebDriver, app_url: str, data_dir: Path
) -> None:
    browser.get(app_url)
    wait_for(browser, lambda: len(rows(browser)) == 2, "the leaderboard rows did not appear")
    board = board_frame(data_dir)
    new = board[board["model"] == "steady-model"].copy()
    new["model"] = "fresh-model"
    new["model_key"] = "served-fresh"  # another model: another identity
    new["inertia"] = 0.95
    new["rank"] = 0
    new["rank_label"] = "1"
    updated = pd.concat([board, new], ignore_index=True)
    updated.to_parquet(data_dir / "leaderboard" / "leaderboard.parquet", index=False)
    browser.find_element(By.ID, "reload").click()
    wait_for(
        browser,
        lambda: "fresh-model" in column(browser, "model"),
        "the reloaded data did not show",
    )
    assert len(rows(browser)) == 3


def test_failing_verdicts_no_spread_and_protocol_summary(
    browser: WebDriver, app_url: str, data_dir: Path
) -> None:
    """Rows whose verdict fails are shaded and marked; a zero-width CI shows as "—"; the
    protocol JSON sits collapsed behind a readable summary; provenance names the analysis run."""
    board = board_frame(data_dir)
    board = board[board["model"] != "fresh-model"].copy()
    board["verdict"] = [
        "too few personas" if m == "drift.model" else "reliable" for m in board["model"]
    ]
    board.to_parquet(data_dir / "leaderboard" / "leaderboard.parquet", index=False)
    browser.get(app_url)
    wait_for(browser, lambda: len(rows(browser)) >= 2, "the leaderboard rows did not appear")
    browser.find_element(By.ID, "reload").click()
    wait_for(
        browser,
        lambda: "✗ too few personas" in column(browser, "verdict"),
        "the failing verdict was not marked",
    )
    verdicts = dict(zip(column(browser, "model"), column(browser, "verdict"), strict=True))
    assert verdicts == {"steady-model": "reliable", "drift.model": "✗ too few personas"}
    shades = browser.execute_script(
        """
        const rows = [...document.querySelectorAll('#leaderboard-table div[role=row].virtual-row')];
        return Object.fromEntries(rows.map(r => {
          const cells = [...r.querySelectorAll('div[role=gridcell]')];
          return [cells.map(c => c.innerText.trim()).join('|'),
                  getComputedStyle(cells[cells.length - 1]).backgroundColor];
        }));
        """
    )
    failing = [color for text, color in shades.items() if "drift.model" in text]
    passing = [color for text, color in shades.items() if "steady-model" in text]
    assert failing == ["rgb(253, 226, 225)"] and passing and passing[0] != failing[0]
    # steady-model answers alike for every persona: its CI has no width, shown as "—"
    cis = dict(zip(column(browser, "model"), column(browser, "inertia CI"), strict=True))
    assert cis["steady-model"] == "—" and cis["drift.model"].startswith("[")

    open_tab(browser, "Model")
    wait_for(
        browser,
        lambda: "All protocol fields (JSON)" in text_of(browser, "model-summary"),
        "the protocol summary did not show",
    )
    summary = browser.find_element(By.ID, "model-summary")
    details = summary.find_element(By.TAG_NAME, "details")
    assert details.get_attribute("open") is None  # collapsed: the JSON is not on the page
    assert '"protocol_version"' not in summary.text
    assert "mode logprobs" in summary.text
    assert "MLflow run of the analysis" in summary.text
    details.find_element(By.TAG_NAME, "summary").click()
    wait_for(browser, lambda: '"protocol_version"' in summary.text, "the JSON did not open")
