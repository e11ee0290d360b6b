"""A person's view of the notebooks: JupyterLab from the kit's environment, driven by headless Chromium.

The test starts JupyterLab on a free loopback port (token auth, no browser, a temporary root
holding a copy of ``01_prompt_design``), opens the notebook in Debian's Chromium through
Playwright, sets the parameters cell as a reader would (the ``ci`` captioner, two samples), runs
every cell, and checks that the prompt designer renders as live controls (not the "Loading
widget..." placeholder nor a text fallback), that changing a control re-captions the previews and
adds the edited prompt to the leaderboard of scored prompts, and that no cell raised. A screenshot is kept under the test's folder and copied to
``runs/browser-test/``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import jupytext
import pytest
from conftest import jupyterlab_server

from mmft_kit.notebook import STATIC_ENV

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TOKEN = "mmft-kit-browser-test"
#: What a reader types into the parameters cell: the small test models, a short preview.
READER_PARAMETERS = 'captioner = "embedded:ci"\nsamples = 2\ncharacteristics = ["visual", "shape"]\n'
SCREENSHOTS = ROOT / "runs" / "browser-test"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900),
              pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian's chromium is not installed")]


def _notebook_copy(folder: Path) -> Path:
    """01_prompt_design with the reader's parameters in its parameters cell."""
    notebook = jupytext.read(ROOT / "notebooks" / "01_prompt_design.ipynb")
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = cell.source + "\n" + READER_PARAMETERS
    path = folder / "01_prompt_design.ipynb"
    jupytext.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab on a free loopback port, serving a temporary folder: yields (base url, folder)."""
    from mmft_kit.zoo import ensure_vlm

    ensure_vlm("ci", progress=False)
    folder = tmp_path_factory.mktemp("lab")
    _notebook_copy(folder)
    settings = folder / ".settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                            "checkForUpdates": False}))
    # a person's kernel: not static, progress bars on, matplotlib's inline backend (not the tests' Agg)
    env = {k: v for k, v in os.environ.items() if k not in (STATIC_ENV, "TQDM_DISABLE", "MPLBACKEND")}
    env.update(JUPYTER_CONFIG_DIR=str(folder / ".config"), JUPYTER_RUNTIME_DIR=str(folder / ".runtime"),
               JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"),  # this environment's python3 kernel
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    args = [f"--ServerApp.root_dir={folder}", "--expose-app-in-browser",
            f"--LabApp.user_settings_dir={folder / '.settings'}", f"--LabApp.workspaces_dir={folder / '.workspaces'}"]
    with jupyterlab_server(args, env, folder, folder / "jupyterlab.log", TOKEN) as base:
        yield base, folder


#: JavaScript: the open notebook's state (cells run, errors, kernel status), through the exposed app.
STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext.session) return null;
  const cells = panel.content.widgets.map(c => c.model).filter(m => m.type === 'code');
  const outputs = cells.map(m => m.sharedModel.toJSON().outputs || []);
  return {kernel: panel.sessionContext.session.kernel ? panel.sessionContext.session.kernel.status : 'none',
          pending: cells.filter(m => m.executionCount === null).length,
          errors: outputs.flat().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)};
}"""


def _wait(page, predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = page.evaluate(STATE)
        if state is not None and predicate(state):
            return state
        page.wait_for_timeout(500)
    pytest.fail(f"timed out waiting for {what}; last state {page.evaluate(STATE)}")


def test_prompt_design_runs_in_jupyterlab_with_live_controls(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, folder = jupyterlab
    started = time.perf_counter()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/lab/tree/01_prompt_design.ipynb?token={TOKEN}")
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        _wait(page, lambda s: s["kernel"] == "idle", 120, "the kernel")
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        state = _wait(page, lambda s: s["pending"] == 0 and s["kernel"] == "idle" or s["errors"], 600, "the cells")
        assert state["errors"] == [], f"cells raised: {state['errors']}"

        designer = page.locator(".jp-OutputArea .widget-vbox").first
        designer.wait_for(timeout=30_000)
        assert designer.locator(".widget-dropdown select").count() >= 1  # the data-set drop-down
        assert designer.locator("textarea").count() == 1 and designer.locator(".widget-slider").count() == 2
        assert page.get_by_text("Loading widget...").count() == 0
        assert page.get_by_text("VBox(children=").count() == 0  # no text fallback
        prompt = designer.locator(".jp-RenderedMarkdown").first
        prompt.filter(has_text="glyph signs photos").wait_for(timeout=120_000)  # drawn after the first score

        domain = designer.locator(".widget-text", has_text="domain").locator("input")
        domain.fill("road signs")
        domain.press("Enter")
        prompt.filter(has_text="road signs photos").wait_for(timeout=120_000)
        assert "from other road signs photos" in prompt.inner_text()
        # the prompts scored so far: the first glyph-signs prompt, the characteristic comparison's (scored by the
        # cells after the designer), and now the road-signs one
        leaderboard = designer.locator("table").last
        leaderboard.filter(has_text="road signs").wait_for(timeout=120_000)
        assert leaderboard.locator("tbody tr").count() == 4 and "glyph signs" in leaderboard.inner_text()
        image = designer.locator("img").first  # the re-drawn captioned images
        image.wait_for(timeout=30_000)
        assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") > 200
        assert len(image.get_attribute("src")) > 5000  # a drawn PNG, not a blank one (about 1 kB)

        screenshot = tmp_path / "01_prompt_design.png"
        designer.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot), full_page=False)
        browser.close()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, SCREENSHOTS / screenshot.name)
    print(f"screenshot: {screenshot} (copy: {SCREENSHOTS / screenshot.name}); "
          f"browser part {time.perf_counter() - started:.0f} s")
