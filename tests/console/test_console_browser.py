"""The web console in a real browser (Debian's Chromium driven by Playwright) against a real
stack: a run's final plan appears live, a run is cancelled, a reload mid-run shows the whole
timeline, the RAG playground finds an ingested file, the system page shows a stopped
service as down, and a wrong API key gets a clear message. A screenshot of each page is
saved under test-artifacts/console/."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.core_services import STACK_API_KEY as API_KEY
from tests.support.core_services import CoreStack, PlannerClient, sandbox_process
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.processes import ROOT, ServiceProcess, free_port
from tests.support.spawning import Spawner
from tests.support.sse import events_only, parse_stream

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "console"
FINAL = '{"steps": ["Clear the floor", "Sort what stays", "Label the shelves"]}'
# No network at run time: Chromium must not try to reach anything but the planner.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: a "hung" bound on a loaded machine, never the thing measured.
expect.set_options(timeout=60_000)
pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian chromium is not installed"
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(Reply.text(FINAL)) as server:
        yield server


@pytest.fixture(autouse=True)
def no_left_over_replies(fake: FakeOpenAI) -> None:
    """Each test starts from an empty reply queue: a reply an earlier test queued for a
    model call that never came must not answer this test's call."""
    fake.reset()


@pytest.fixture(scope="module")
def sandbox(module_spawn: Spawner, tmp_path_factory: Any) -> ServiceProcess:
    """The console planner's own sandbox, so the system test can stop it."""
    return module_spawn(
        sandbox_process(tmp_path_factory.mktemp("console-sandbox"), free_port(), free_port())
    )


@pytest.fixture(scope="module")
def planner(
    core_stack: CoreStack,
    module_spawn: Spawner,
    fake: FakeOpenAI,
    sandbox: ServiceProcess,
    tmp_path_factory: Any,
) -> PlannerClient:
    workdir = tmp_path_factory.mktemp("console-planner")
    gateway = core_stack.start_openai_gateway(module_spawn, workdir, fake.base_url)
    return core_stack.start_planner(
        module_spawn,
        workdir,
        MODEL_GATEWAY_ADDR=gateway,
        RUST_SANDBOX_GRPC_ADDR=f"localhost:{sandbox.env['RUST_SANDBOX_GRPC_PORT']}",
        RUST_SANDBOX_URL=f"http://127.0.0.1:{sandbox.env['RUST_SANDBOX_PORT']}",
        AGENT_GATEWAY_TIMEOUT_SECONDS="300",
        AGENT_TOOL_APPROVAL="execute_code",
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, planner: PlannerClient) -> Iterator[Page]:
    """A console tab that already holds the planner's API key."""
    context = browser.new_context(base_url=planner.url, viewport={"width": 1280, "height": 900})
    context.add_init_script(f"sessionStorage.setItem('pagi-console-key', {planner.api_key!r});")
    tab = context.new_page()
    yield tab
    context.close()


def planner_url(page: Page) -> str:
    return str(page.evaluate("location.origin"))


def screenshot(page: Page, name: str, jpeg: bool = False) -> None:
    """A PNG of the whole page; with jpeg, also a small JPEG (the README's picture)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if jpeg:
        jpeg_path = str(ARTIFACTS / f"{name}.jpg")
        page.screenshot(path=jpeg_path, type="jpeg", quality=70, full_page=True)


def start_run(page: Page, prompt: str) -> str:
    page.goto("/console#/run")
    page.fill("#prompt", prompt)
    page.fill("#session", f"console-{uuid.uuid4().hex[:8]}")
    page.click("#start")
    expect(page.locator("#run-view")).to_be_visible()
    return str(page.locator("#run-view").get_attribute("data-run"))


def test_a_run_shows_its_final_plan_live(page: Page) -> None:
    start_run(page, "Generate a 3-step plan to tidy a garage")
    expect(page.locator(".final-plan ol.steps li")).to_have_text(
        ["Clear the floor", "Sort what stays", "Label the shelves"]
    )
    types = page.locator("#events .event").evaluate_all("els => els.map(e => e.dataset.type)")
    assert types[0] == "run.queued" and types[-1] == "run.succeeded"
    assert "plan.received" in types and "context.retrieved" in types
    screenshot(page, "run")


def test_cancel_stops_a_waiting_run(page: Page, fake: FakeOpenAI) -> None:
    gate = threading.Event()
    fake.push(Reply.held(FINAL, gate))
    try:
        start_run(page, "hold this one")
        expect(page.locator('#events .event[data-type="run.started"]')).to_be_visible()
        fake.gather(1)  # the model call is in flight: the cancel must stop it, not precede it
        page.click("#cancel")
        expect(page.locator('#events .event[data-type="run.cancelled"]')).to_be_visible()
        expect(page.locator("#final")).to_contain_text("Run cancelled")
    finally:
        gate.set()


def test_a_reload_mid_run_shows_the_whole_timeline(page: Page, fake: FakeOpenAI) -> None:
    gate = threading.Event()
    fake.push(Reply.held(FINAL, gate))
    try:
        run_id = start_run(page, "hold then finish")
        expect(page.locator('#events .event[data-type="run.started"]')).to_be_visible()
        page.reload()
        expect(page.locator("#run-view")).to_have_attribute("data-run", run_id)
        expect(page.locator('#events .event[data-type="run.started"]')).to_be_visible()
    finally:
        gate.set()
    expect(page.locator('#events .event[data-type="run.succeeded"]')).to_be_visible()
    shown = [
        int(text.lstrip("#"))
        for text in page.locator("#events .event header .muted:first-child").all_inner_texts()
    ]
    stored = httpx.get(
        f"{planner_url(page)}/runs/{run_id}/events", headers={"X-API-Key": API_KEY}, timeout=30
    ).text
    # Every event once, in order; consecutive plan.delta events share one card.
    expected = [
        e.id
        for e in events_only(parse_stream(iter(stored.splitlines())))
        if e.event != "plan.delta" or e.id is None
    ]
    assert [n for n in shown if n in expected] == expected


def tool_call(name: str, **args: Any) -> str:
    return json.dumps({"tool": {"name": name, "args": args}})


def test_a_waiting_tool_call_is_approved_with_edited_args(page: Page, fake: FakeOpenAI) -> None:
    fake.push(Reply.text(tool_call("execute_code", code="print('as proposed')")), Reply.text(FINAL))
    run_id = start_run(page, "run some code")
    form = page.locator('#events .event[data-type="tool.approval_required"]')
    expect(form.locator(".approval-args")).to_contain_text("as proposed")
    # The badge is the run's status as the API reports it, not the stream's state.
    expect(page.locator("#run-status")).to_have_text("waiting_approval")
    assert run_status(page, run_id) == "waiting_approval"
    expect(page.locator("#stream-state")).to_have_text("live")
    screenshot(page, "approval")
    form.locator(".approval-args").fill(json.dumps({"code": "print('as edited by the reviewer')"}))
    form.locator("button.approve").click()
    finished = page.locator('#events .event[data-type="tool.finished"]')
    expect(finished).to_contain_text("as edited by the reviewer")
    expect(finished).not_to_contain_text("as proposed")
    expect(page.locator(".final-plan ol.steps li").first).to_have_text("Clear the floor")
    expect(page.locator("#run-status")).to_have_text("succeeded")


def run_status(page: Page, run_id: str) -> str:
    reply = httpx.get(
        f"{planner_url(page)}/runs/{run_id}", headers={"X-API-Key": API_KEY}, timeout=30
    )
    return str(reply.json()["status"])


def test_a_reload_during_an_approval_wait_shows_waiting_approval(
    page: Page, fake: FakeOpenAI
) -> None:
    fake.push(Reply.text(tool_call("execute_code", code="print(2)")), Reply.text(FINAL))
    run_id = start_run(page, "wait for me")
    form = page.locator('#events .event[data-type="tool.approval_required"]')
    expect(form).to_be_visible()
    page.reload()
    expect(page.locator("#run-status")).to_have_text("waiting_approval")
    form.locator(".reject-reason").fill("not now")
    form.locator("button.reject").click()
    expect(page.locator("#run-status")).to_have_text("succeeded")
    assert run_status(page, run_id) == "succeeded"


def ingest(memory_url: str, namespace: str, knowledge_base: str, text: str) -> None:
    document = {"text": text, "source": f"{knowledge_base}-notes.md"}
    body = {"knowledge_base": knowledge_base, "namespace": namespace, "documents": [document]}
    reply = httpx.post(f"{memory_url}/memory/ingest", json=body, timeout=60)
    assert reply.status_code == 200, reply.text


def test_a_run_searches_the_chosen_namespace_and_knowledge_bases(
    page: Page, core_stack: CoreStack
) -> None:
    namespace = f"console-{uuid.uuid4().hex[:6]}"
    domain = f"The pangolin-{namespace} archive opens at dawn."
    body = f"The axolotl-{namespace} service restarts nightly."
    ingest(core_stack.memory.url, namespace, "Domain-KB", domain)
    ingest(core_stack.memory.url, namespace, "Body-KB", body)
    page.goto("/console#/run")
    page.fill("#prompt", "when does the pangolin archive open")
    page.fill("#run-namespace", namespace)
    boxes = page.locator("#run-kbs input.run-kb")
    expect(boxes).to_have_count(4)
    for kb in ("Mind-KB", "Body-KB", "Soul-KB"):
        page.locator(f'#run-kbs input.run-kb[value="{kb}"]').uncheck()
    page.click("#start")
    expect(page.locator("#run-view")).to_be_visible()
    run_id = str(page.locator("#run-view").get_attribute("data-run"))
    context = page.locator('#events .event[data-type="context.retrieved"]')
    expect(context).to_contain_text(domain)
    expect(context).to_contain_text(f"matches from Domain-KB in namespace {namespace}")
    expect(context).not_to_contain_text(body)
    expect(page.locator('#events .event[data-type="run.succeeded"]')).to_be_visible()
    screenshot(page, "run-knowledge", jpeg=True)
    expect(boxes.and_(page.locator(":checked"))).to_have_count(1)  # the choice is kept
    shown = httpx.get(
        f"{planner_url(page)}/runs/{run_id}", headers={"X-API-Key": API_KEY}, timeout=30
    ).json()
    assert (shown["namespace"], shown["knowledge_bases"]) == (namespace, ["Domain-KB"])
    page.goto(f"/console#/runs/{run_id}")
    searched = f"searches Domain-KB in namespace {namespace}"
    expect(page.locator("#run-knowledge")).to_have_text(searched)


def test_a_rejected_tool_call_lets_the_model_finish(page: Page, fake: FakeOpenAI) -> None:
    fake.push(Reply.text(tool_call("execute_code", code="print(1)")), Reply.text(FINAL))
    start_run(page, "run code I will refuse")
    form = page.locator('#events .event[data-type="tool.approval_required"]')
    form.locator(".reject-reason").fill("not today")
    form.locator("button.reject").click()
    expect(page.locator('#events .event[data-type="run.succeeded"]')).to_be_visible()
    followup = fake.requests[-1].user_prompt
    assert "Tool call rejected by the reviewer: not today" in followup


def test_runs_page_lists_runs_and_opens_their_detail(page: Page) -> None:
    run_id = start_run(page, "one for the list")
    expect(page.locator('#events .event[data-type="run.succeeded"]')).to_be_visible()
    page.goto("/console#/runs")
    page.click(f'a[href="#/runs/{run_id}"]')
    expect(page.locator("#audit tbody tr").first).to_be_visible()
    assert "PLAN_START" in page.locator("#audit").inner_text()
    screenshot(page, "runs")
    page.goto("/console#/runs?status=failed")
    expect(page.locator("#status-filter")).to_have_value("failed")


def test_sessions_page_shows_a_history_newest_last(page: Page, planner: PlannerClient) -> None:
    session = f"console-history-{uuid.uuid4().hex[:6]}"
    for prompt in ("first question", "second question"):
        assert planner.plan(prompt, session).status_code == 200
    page.goto(f"/console#/sessions?id={session}")
    users = page.locator("#history .message").filter(has=page.locator(".badge.user"))
    expect(users).to_have_count(2)
    assert "first question" in users.nth(0).inner_text()
    assert "second question" in users.nth(1).inner_text()
    screenshot(page, "sessions")


def test_rag_playground_finds_an_ingested_file(page: Page, tmp_path: Path) -> None:
    marker = f"quokka-{uuid.uuid4().hex[:6]}"
    document = tmp_path / f"{marker}.md"
    document.write_text(f"# Field notes\n\nThe {marker} colony sleeps in the shade at noon.\n")
    page.goto("/console#/knowledge")
    page.set_input_files("#ingest-file", str(document))
    page.select_option("#ingest-kb", "Domain-KB")
    page.click("#ingest-file >> xpath=ancestor::form//button[@type='submit']")
    expect(page.locator("#ingest-progress")).to_contain_text(f"Stored {marker}.md in Domain-KB")
    page.fill("#rag-query", f"where does the {marker} colony sleep")
    page.click("#rag-query >> xpath=ancestor::form//button[@type='submit']")
    expect(page.locator("#matches .match").filter(has_text=marker).first).to_be_visible()
    screenshot(page, "knowledge")


def test_system_page_shows_a_stopped_service_as_down(page: Page, sandbox: ServiceProcess) -> None:
    page.goto("/console#/system")
    card = page.locator('.service[data-service="sandbox"] .badge')
    expect(card).to_have_text("serving")
    expect(page.locator('.service[data-service="memory"] .badge')).to_have_text("serving")
    expect(page.locator('.service[data-service="sandbox"]')).to_contain_text("isolation")
    expect(page.locator("#notifications tbody tr").first).to_be_visible()
    planner_card = page.locator('.service[data-service="planner"]')
    expect(planner_card).to_contain_text("model_gateway: closed")
    expect(planner_card).not_to_contain_text("[object")
    screenshot(page, "system")
    sandbox.stop()
    expect(card).to_have_text("down")


def test_a_wrong_api_key_gets_a_clear_message(browser: Browser, planner: PlannerClient) -> None:
    context = browser.new_context(base_url=planner.url)
    context.add_init_script("sessionStorage.setItem('pagi-console-key', 'not-the-key');")
    tab = context.new_page()
    try:
        tab.goto("/console#/runs")
        expect(tab.locator("#notice")).to_contain_text("refused the API key")
        expect(tab.locator("#key-dialog")).to_be_visible()
        tab.fill("#key-input", planner.api_key)
        tab.click("#key-form button[value=save]")
        expect(tab.locator("#page table, #page .empty").first).to_be_visible()
        screenshot(tab, "wrong-key")
    finally:
        context.close()


def test_pages_are_served_without_the_key_and_hold_no_secret(planner: PlannerClient) -> None:
    for path in ("/console", "/console/static/app.js", "/console/config.json"):
        reply = httpx.get(f"{planner.url}{path}", timeout=10)
        assert reply.status_code == 200, path
        assert planner.api_key not in reply.text
    assert httpx.get(f"{planner.url}/system", timeout=10).status_code == 401
