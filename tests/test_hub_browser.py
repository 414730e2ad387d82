"""The hub in a real browser: Debian's chromium driven by Selenium through Debian's chromedriver.

A student logs in, opens nbgrader's assignment list in JupyterLab, fetches and submits; the
instructor opens the formgrader inside the lab (the iframe JupyterHub >= 4.1 leaves blank unless
the formgrader allows its own origin: nbgrader#1870). Screenshots are kept in test-artifacts/.
The set-up installs chromium and chromium-driver with apt-get when they are missing (as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hub_fixtures import ASSIGNMENT, COURSE, FORMGRADER_API

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT_S = 120


def _install_chromium() -> str | None:
    """None when chromium and its driver are there (installed now if need be), else why not."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return None
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return "chromium and chromium-driver are missing: apt-get install chromium chromium-driver"
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        if subprocess.run(cmd, capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}).returncode:
            return f"could not install chromium ({' '.join(cmd)} failed)"
    return None


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("selenium")
    why = _install_chromium()
    if why:
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
                "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def log_in(driver, hub, user: str, next_url: str = "") -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{hub.url}/hub/logout")             # whoever was logged in before
    driver.get(f"{hub.url}/hub/login" + (f"?next={next_url}" if next_url else ""))
    driver.find_element(By.ID, "username_input").send_keys(user)
    driver.find_element(By.ID, "password_input").send_keys(hub.password)
    driver.find_element(By.ID, "login_submit").click()


def wait_for(driver, xpath: str, timeout: float = WAIT_S):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(
        EC.element_to_be_clickable((By.XPATH, xpath)))


def open_nbgrader_menu(driver, item: str) -> None:
    wait_for(driver, "//div[contains(@class,'lm-MenuBar-itemLabel') and text()='Nbgrader']").click()
    wait_for(driver, f"//div[contains(@class,'lm-Menu-itemLabel') and text()='{item}']").click()


def test_student_fetches_and_submits_in_jupyterlab(browser, embedded_hub, released_assignment, hub_clients):
    log_in(browser, embedded_hub, "bob")
    try:
        open_nbgrader_menu(browser, "Assignment List")
        row = f"//div[@id='released_assignments_list']//*[contains(., '{ASSIGNMENT}')]"
        wait_for(browser, f"{row}//button[normalize-space()='Fetch']").click()
        wait_for(browser, "//div[@id='fetched_assignments_list']//button[normalize-space()='Submit']").click()
        wait_for(browser, f"//div[@id='submitted_assignments_list']//*[contains(., '{ASSIGNMENT}')]")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "hub-student-assignment-list.png"))
    inbound = embedded_hub.exchange / COURSE / "inbound"
    assert any(p.name.startswith(f"bob+{ASSIGNMENT}+") for p in inbound.iterdir())
    # the instructor sees bob's submission once collected
    collected = hub_clients["instructor"].request("POST", f"{FORMGRADER_API}/assignment/{ASSIGNMENT}/collect").json()
    assert collected["success"] and "bob" in collected["log"]


def test_instructor_sees_the_formgrader_inside_the_lab(browser, embedded_hub, released_assignment):
    """The formgrader service's lab shows the formgrader in an iframe that loads (nbgrader#1870)."""
    from selenium.webdriver.common.by import By

    log_in(browser, embedded_hub, "instructor", next_url=f"/services/{COURSE}/lab")
    try:
        open_nbgrader_menu(browser, "Formgrader")
        frame = wait_for(browser, "//iframe[contains(@src, 'formgrader')]")
        browser.switch_to.frame(frame)
        link = wait_for(browser, f"//*[contains(text(), '{ASSIGNMENT}')]")   # the assignment table, inside
        assert link.is_displayed()
        browser.switch_to.default_content()
    finally:
        browser.switch_to.default_content()
        browser.save_screenshot(str(ARTIFACTS / "hub-instructor-formgrader.png"))
    assert browser.find_elements(By.XPATH, "//iframe[contains(@src, 'formgrader')]")
