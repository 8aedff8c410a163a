"""Headless Debian chromium driven by Python playwright (never `playwright install`)."""

import shutil
from contextlib import contextmanager

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


OUR_EXTENSIONS = ("text2cinemagraph.motionEditor", "text2cinemagraph.savePreview", "text2cinemagraph.legacyWidgets")
OUR_EXTENSIONS_READY = f"""() => window.app?.graph && window.LiteGraph?.registered_node_types?.T2C_TextFlow
    && {list(OUR_EXTENSIONS)}.every((name) => (app.extensions ?? []).some((e) => e.name === name))
    && window.comfyAPI?.api?.api?.socket?.readyState === WebSocket.OPEN && !!window.comfyAPI.api.api.clientId"""
"""Also the page's websocket open and named by the server (its first status message): a prompt queued before that
runs, but its results (the previews) go to no page — seen on a loaded machine, the Save nodes showing nothing."""


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: playwright's sync API holds an event loop on this thread until it stops, and the
    in-process ComfyUI tests collected after the browser tests need the thread free for asyncio.run."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Debian chromium is missing: run `bash scripts/setup.sh` (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def _ready_page(browser, comfy_server):
    """The ComfyUI frontend in a new browser context, loaded and ready: the graph app is up, our extensions are in
    the app's extension registry and our node types in LiteGraph's (observed in the app, not through a flag our JS
    would set), and its websocket is connected. ``page.t2c_errors`` collects the page's uncaught errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(comfy_server.url, wait_until="domcontentloaded")
    page.wait_for_function(OUR_EXTENSIONS_READY, timeout=60_000)
    page.t2c_errors = errors
    try:
        yield page
    finally:
        context.close()


@pytest.fixture()
def comfy_page(browser, comfy_server):
    """A fresh, ready frontend page for one test."""
    with _ready_page(browser, comfy_server) as page:
        yield page


@pytest.fixture(scope="module")
def _module_page(browser, comfy_server):
    with _ready_page(browser, comfy_server) as page:
        yield page


@pytest.fixture()
def loading_page(_module_page):
    """One ready page shared by a module's tests that only load a workflow and read it back (opening a page costs
    3–6 s): loading a workflow replaces the whole graph, such a test leaves settings and panels as it found them,
    and each test sees only its own page errors."""
    _module_page.t2c_errors.clear()
    return _module_page
