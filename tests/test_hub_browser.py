"""The hub in a real browser: Debian's chromium driven by Selenium through Debian's chromedriver.

A student logs in with their own credential, opens nbgrader's assignment list in JupyterLab,
fetches and submits, and after grading fetches and opens their feedback; the instructor opens the
formgrader inside the lab (the iframe JupyterHub >= 4.1 leaves blank unless the formgrader allows
its own origin: nbgrader#1870); a TA opens a submission full of active content that tries to
change grades through the formgrader's API, and nothing of it runs. Screenshots are kept in
test-artifacts/. The set-up installs chromium and chromium-driver with apt-get when they are
missing (as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})   # console messages: CSP reports
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
    driver.find_element(By.ID, "password_input").send_keys(hub.credentials[user])
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


def submissions_in_exchange(hub, client, student: str) -> list[dict]:
    response = requests.get(f"{hub.url}/services/exchange/api/submissions/{COURSE}", params={"student": student},
                            headers={"Authorization": f"token {client.token}"}, timeout=30)
    return response.json()["submissions"]


def test_student_fetches_submits_and_reads_feedback_in_jupyterlab(browser, embedded_hub, released_assignment,
                                                                   hub_clients):
    log_in(browser, embedded_hub, "bob")
    try:
        open_nbgrader_menu(browser, "Assignment List")
        row = f"//div[@id='released_assignments_list']//*[contains(., '{ASSIGNMENT}')]"
        wait_for(browser, f"{row}//button[normalize-space()='Fetch']").click()
        wait_for(browser, "//div[@id='fetched_assignments_list']//button[normalize-space()='Submit']").click()
        wait_for(browser, f"//div[@id='submitted_assignments_list']//*[contains(., '{ASSIGNMENT}')]")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "hub-student-assignment-list.png"))
    instructor = hub_clients["instructor"]
    [submitted] = submissions_in_exchange(embedded_hub, instructor, "bob")[-1:]
    # the instructor collects, grades and returns feedback, through the formgrader and the exchange
    for path in (f"assignment/{ASSIGNMENT}/collect", f"submission/{ASSIGNMENT}/bob/autograde",
                 f"assignment/{ASSIGNMENT}/bob/generate_feedback", f"assignment/{ASSIGNMENT}/bob/release_feedback"):
        result = instructor.request("POST", f"{FORMGRADER_API}/{path}").json()
        assert result["success"], (path, result)
    browser.refresh()
    try:
        open_nbgrader_menu(browser, "Assignment List")
        wait_for(browser, "//div[@id='submitted_assignments_list']//button[normalize-space()='Fetch Feedback']").click()
        wait_for(browser, "//div[@id='submitted_assignments_list']//a[contains(., 'view feedback')]")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "hub-student-feedback-fetched.png"))
    timestamp = submitted["timestamp"]                  # the exchange's clock names the feedback folder
    browser.get(f"{embedded_hub.url}/user/bob/files/{COURSE}/{ASSIGNMENT}/feedback/{timestamp}/smoke.html")
    wait_for(browser, "//*[contains(., 'Your results')]")
    browser.save_screenshot(str(ARTIFACTS / "hub-student-feedback.png"))


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


# --- active content in a submission, opened by a TA -------------------------------------------

def _grades(client, submission_id: str) -> dict[str, tuple]:
    grades = client.request("GET", f"{FORMGRADER_API}/grades", params={"submission_id": submission_id}).json()
    return {g["name"]: (g["manual_score"], g["extra_credit"]) for g in grades}


@pytest.fixture(scope="module")
def carols_payload(embedded_hub, hub_clients, released_assignment):
    """carol submits the answers of tests/active_content.py through her own server; graded."""
    import nbformat

    from active_content import ANSWER, FREE_RESPONSE

    ops, carol, instructor = hub_clients["ops"], hub_clients["carol"], hub_clients["instructor"]
    ops.start_server("carol")
    ops.wait_ready("carol", timeout=180)
    fetched = carol.request("POST", "/user/carol/assignments/fetch",
                            data={"course_id": COURSE, "assignment_id": ASSIGNMENT}).json()
    assert fetched["success"], fetched
    path = f"/user/carol/api/contents/{COURSE}/{ASSIGNMENT}/smoke.ipynb"
    notebook = nbformat.from_dict(carol.request("GET", path).json()["content"])
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id == "double":
            cell.source = ANSWER
        elif grade_id == "why":
            cell.source = FREE_RESPONSE
    carol.request("PUT", path, json={"type": "notebook", "format": "json", "content": notebook})
    submitted = carol.request("POST", "/user/carol/assignments/submit",
                              data={"course_id": COURSE, "assignment_id": ASSIGNMENT}).json()
    assert submitted["success"], submitted
    for step in (f"assignment/{ASSIGNMENT}/collect", f"submission/{ASSIGNMENT}/carol/autograde"):
        result = instructor.request("POST", f"{FORMGRADER_API}/{step}").json()
        assert result["success"], (step, result)
    notebooks = instructor.request("GET", f"{FORMGRADER_API}/submitted_notebooks/{ASSIGNMENT}/smoke").json()
    [carols] = [n for n in notebooks if n["student"] == "carol"]
    return carols["id"]


def test_ta_opens_a_submission_with_active_content_and_nothing_runs(browser, embedded_hub, hub_clients,
                                                                    carols_payload):
    from active_content import PAYLOAD_JS

    instructor, submission = hub_clients["instructor"], carols_payload
    before = _grades(instructor, submission)
    log_in(browser, embedded_hub, "ta", next_url=f"/services/{COURSE}/formgrader/submissions/{submission}/")
    try:
        wait_for(browser, "//*[contains(@class, 'nbgrader-label') and contains(., \"Student's answer\")]")
        browser.execute_script("return document.readyState")
        import time
        time.sleep(3)                                   # the payloads' fetches would have landed by now
        assert browser.execute_script("return window.__pwned") is None
        assert browser.execute_script("return typeof submission_id") == "string"   # nbgrader's own script ran
        assert _grades(instructor, submission) == before
        # control: the same code, run by the test itself in that page, does change the grades
        browser.set_script_timeout(60)
        failed = browser.execute_async_script("const done = arguments[arguments.length - 1];"
                                              f"{PAYLOAD_JS}.then(() => done(null), e => done(String(e)));")
        assert failed is None and browser.execute_script("return window.__pwned") == 1, (
            failed, [e["message"][:300] for e in browser.get_log("browser")])
        assert any(extra == 99 for _, extra in _grades(instructor, submission).values())
    finally:
        browser.save_screenshot(str(ARTIFACTS / "hub-ta-active-content.png"))
        for grade in instructor.request("GET", f"{FORMGRADER_API}/grades",
                                        params={"submission_id": submission}).json():
            instructor.request("PUT", f"{FORMGRADER_API}/grade/{grade['id']}",
                               json={"manual_score": grade["manual_score"] if grade["manual_score"] != 99 else None,
                                     "extra_credit": None})


def test_the_formgrader_policy_alone_stops_inline_payloads(browser):
    """The second wall without the first: an unsanitised page cut like a formgrader submission page,
    served with graders.hub.formgrader_csp's policy. The template's inline script runs; the
    notebook part's scripts and handlers do not."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from graders.hub.formgrader_csp import policy_for

    ran = "window.__ran = (window.__ran || []).concat([{}]);"
    page = ("<!DOCTYPE html><html><head><script type=\"text/javascript\">var submission_id = \"abc\";</script></head>"
            "<body><div class=\"container\" id=\"notebook-container\">"
            f"<img src=\"x\" onerror=\"{ran.format(1)}\"><script>{ran.format(2)}</script>"
            f"<svg onload=\"{ran.format(3)}\"></svg><a id=\"link\" href=\"javascript:{ran.format(4)}\">x</a>"
            f"<span id=\"handler\" onclick=\"toggle_name(true);\">ok</span>"
            "</div></body></html>").encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            if "control" not in self.path:
                self.send_header("Content-Security-Policy", policy_for(page))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/formgrader/submissions/abc/?control")
        assert browser.execute_script("return window.__ran"), "without the policy the payloads must run"
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/formgrader/submissions/abc/")
        browser.execute_script("document.getElementById('link').click()")
        import time
        time.sleep(1)
        assert browser.execute_script("return submission_id") == "abc"      # the template's script ran
        assert browser.execute_script("return window.__ran") is None, browser.execute_script("return window.__ran")
        violations = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
        assert len(violations) >= 3, violations                            # blocked, and said so
    finally:
        server.shutdown()
