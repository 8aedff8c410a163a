"""Headless Debian chromium driven by Python playwright (never `playwright install`)."""

import shutil

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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


@pytest.fixture()
def comfy_page(browser, comfy_server):
    """The ComfyUI frontend, loaded and ready (graph app up, our extension's setup() has run)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(comfy_server.url, wait_until="domcontentloaded")
    page.wait_for_function("window.app && window.app.graph && window.LiteGraph && window.__t2cExtensionLoaded",
                           timeout=60_000)
    page.t2c_errors = errors
    try:
        yield page
    finally:
        context.close()
