"""The report in a real browser: headless Chromium from the distribution's packages, driven by Playwright.

Playwright cannot download its own browsers here (and need not): it drives the system's `chromium` through
`executable_path`. `make chromium` installs it when missing. Used by `make report` (the screenshot in docs/) and
by the browser tests; both read the page after layout through `page_content`, so the screenshot and the test
check the same facts.

Every request the page makes is recorded: a self-contained report makes none but its own file.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

CHROMIUM_VARIABLE = "CHROMIUM"  # the browser to use, if not `chromium` on PATH
CONTENT_KEY = "drsctl-report-content"  # the PNG text chunk holding what the screenshot shows
VIEWPORT = {"width": 1280, "height": 900}

# What the rendered page shows, read from the DOM after layout: the facts a reader checks in the screenshot.
CONTENT_SCRIPT = """
() => {
  const text = (el) => el ? el.textContent.replace(/\\s+/g, ' ').trim() : null;
  const figures = {};
  for (const dd of document.querySelectorAll('#summary dd[data-figure]')) {
    figures[dd.dataset.figure] = text(dd);
  }
  const box = (el) => { const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y + window.scrollY, width: r.width, height: r.height}; };
  const waves = [...document.querySelectorAll('#gantt g.wave')].map((g) => ({
    wave: Number(g.dataset.wave), name: g.dataset.name, status: g.dataset.status,
    bar: g.querySelector('rect.wave-bar') ? box(g.querySelector('rect.wave-bar')) : null,
    servers: [...g.querySelectorAll('g.server')].map((s) => ({
      server: s.dataset.server, outcome: s.dataset.outcome,
      bar: s.querySelector('rect') ? box(s.querySelector('rect')) : null,
      fill: s.querySelector('rect') ? getComputedStyle(s.querySelector('rect')).fill : null})),
    density: g.querySelector('g.density') ? {
      servers: Number(g.querySelector('g.density').dataset.servers),
      launched: [...g.querySelectorAll('rect.bin')].reduce((n, r) => n + Number(r.dataset.count), 0),
      shares: Object.fromEntries([...g.querySelectorAll('rect.outcome-share')].map(
        (r) => [r.dataset.outcome, Number(r.dataset.count)]))} : null,
    steps: [...g.querySelectorAll('g.step')].map((s) => ({kind: s.dataset.kind, status: s.dataset.status,
      name: s.dataset.name, bar: s.querySelector('rect') ? box(s.querySelector('rect')) : null})),
  }));
  const states = Object.fromEntries([...document.querySelectorAll('#state-graph g.state')].map((g) => [
    g.dataset.state, {entered: Number(g.dataset.entered), highlighted: g.classList.contains('entered'),
                      stroke: getComputedStyle(g.querySelector('rect')).stroke, visible: box(g).width > 0}]));
  const rto = document.querySelector('#rto-target');
  return {
    title: document.title,
    verdict: text(document.querySelector('#verdict')),
    figures,
    waves,
    states,
    transitionsTaken: document.querySelectorAll('#state-graph g.transition.taken').length,
    rtoTarget: rto ? {seconds: Number(rto.dataset.seconds), x: box(rto.querySelector('line')).x} : null,
    waveDetails: [...document.querySelectorAll('section.wave-detail')].map((s) => ({
      wave: Number(s.dataset.wave), status: s.dataset.status, rtoMet: s.dataset.rtoMet ?? null,
      rpoMet: s.dataset.rpoMet ?? null, rows: s.querySelectorAll('tr.server').length})),
    serverRows: document.querySelectorAll('section.wave-detail tr.server').length,
    steps: [...document.querySelectorAll('#approvals tr.step-row')].map((r) => ({
      kind: r.dataset.kind, status: r.dataset.status, decidedBy: r.dataset.decidedBy ?? null,
      decision: r.dataset.decision ?? null})),
    cleanup: (() => { const c = document.querySelector('#cleanup');
      return {status: c.dataset.status, terminated: c.querySelectorAll('li.terminated').length}; })(),
    cleanupBar: (() => { const r = document.querySelector('#gantt-cleanup rect');
      return r ? {status: r.parentNode.dataset.status, ...box(r)} : null; })(),
    banner: (() => { const b = document.querySelector('#rehearsal-banner');
      return b ? {text: text(b.querySelector('strong')), height: box(b).height,
                  position: getComputedStyle(b).position} : null; })(),
    planView: [...document.querySelectorAll('#plan-view li.plan-wave')].map((li) => ({
      wave: Number(li.dataset.wave), name: li.dataset.name, status: li.dataset.status, top: box(li).y,
      skipped: text(li.querySelector('.plan-skipped')),
      rows: [...li.querySelectorAll('tr.plan-step')].map((tr) => ({
        phase: tr.dataset.phase, kind: tr.dataset.kind, name: tr.dataset.name, status: tr.dataset.status,
        outcome: text(tr.querySelector('.step-status')), what: text(tr.querySelector('.step-what')),
        seconds: tr.dataset.seconds === undefined ? null : Number(tr.dataset.seconds),
        retries: Number(tr.dataset.retries), top: box(tr).y,
        bar: tr.querySelector('.seg') ? box(tr.querySelector('.seg')) : null,
        track: box(tr.querySelector('.track'))}))})),
    planStages: [...document.querySelectorAll('#plan-view li.plan-stage')].map((li) => ({
      stage: li.dataset.stage, text: text(li), top: box(li).y})),
    audit: [...document.querySelectorAll('#audit li.audit-event')].map((li) => ({
      event: li.dataset.event, at: li.dataset.at ?? null, text: text(li)})),
    stepTexts: [...document.querySelectorAll('#approvals tr.step-row td.said')].map(text),
    timeSplit: text(document.querySelector('#time-split')),
    appendices: [...document.querySelectorAll('section.appendix details')].map((d) => d.open),
    scripts: document.querySelectorAll('script').length,
    pageBreaks: [...document.querySelectorAll('section.page')].length,
  };
}
"""


@dataclass
class LoadedPage:
    """A report opened in the browser, with what the browser said while loading it."""

    page: Any  # playwright.sync_api.Page
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def content(self) -> dict[str, Any]:
        found: dict[str, Any] = self.page.evaluate(CONTENT_SCRIPT)
        return found


class BrowserMissing(RuntimeError):
    """No Chromium to drive; the message says how to install it."""


def chromium_path() -> str:
    found = os.environ.get(CHROMIUM_VARIABLE) or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise BrowserMissing("no chromium on PATH: run `make chromium` (apt-get install chromium), or set CHROMIUM")
    return found


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (the system's), closed afterwards."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def open_report(running_browser: Any, html_file: Path) -> Iterator[LoadedPage]:
    """Open a report file in a fresh page, recording console errors, page errors and every request made."""
    context = running_browser.new_context(viewport=VIEWPORT, java_script_enabled=True)
    page = context.new_page()
    loaded = LoadedPage(page)
    page.on("console", lambda message: loaded.console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: loaded.console_errors.append(str(error)))
    page.on("request", lambda request: loaded.requests.append(request.url))
    try:
        page.goto(html_file.resolve().as_uri(), wait_until="load")
        yield loaded
    finally:
        context.close()


def screenshot_with_content(loaded: LoadedPage, png: Path) -> dict[str, Any]:
    """A full-page screenshot carrying, in a PNG text chunk, the content read from the same rendered page."""
    content = loaded.content()
    image = loaded.page.screenshot(full_page=True, type="png")
    png.write_bytes(with_text_chunk(image, CONTENT_KEY, json.dumps(stable(content), sort_keys=True)))
    return content


UNSTABLE_FIGURES = ("started-by", "generated")  # who ran it and when: they differ on every run


def stable(content: dict[str, Any]) -> dict[str, Any]:
    """What a screenshot's content is compared on: the text and figures, not pixel positions, who ran it or when."""
    figures = {key: value for key, value in content["figures"].items() if key not in UNSTABLE_FIGURES}
    return {
        "title": content["title"],
        "verdict": content["verdict"],
        "figures": figures,
        "waves": [
            {
                "wave": wave["wave"],
                "name": wave["name"],
                "status": wave["status"],
                "servers": {server["server"]: server["outcome"] for server in wave["servers"]},
                "steps": [(step["kind"], step["name"], step["status"]) for step in wave["steps"]],
            }
            for wave in content["waves"]
        ],
        "states": {name: state["entered"] for name, state in content["states"].items()},
        "waveDetails": content["waveDetails"],
        "banner": content["banner"]["text"] if content["banner"] else None,
        "planView": [
            {
                "wave": wave["wave"],
                "status": wave["status"],
                "rows": [(row["phase"], row["kind"], row["name"], row["outcome"], row["what"]) for row in wave["rows"]],
            }
            for wave in content["planView"]
        ],
    }


def open_appendices(loaded: LoadedPage) -> None:
    """Unfold the appendices (folded on screen): the developers' figures and the state machine."""
    loaded.page.evaluate("document.querySelectorAll('section.appendix details').forEach((d) => { d.open = true; })")


def with_text_chunk(png: bytes, key: str, text: str) -> bytes:
    """The PNG with a tEXt chunk added before IEND (PNG spec 11.3.4.3: Latin-1 keyword, NUL, text)."""
    iend = png.rindex(b"IEND") - 4
    data = key.encode("latin-1") + b"\0" + text.encode("latin-1", errors="replace")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return png[:iend] + chunk + png[iend:]


def text_chunk(png: bytes, key: str) -> str | None:
    """The text of the PNG's tEXt chunk named `key`, if any."""
    position = 8  # after the signature
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        data = png[position + 8 : position + 8 + length]
        if kind == b"tEXt" and data.split(b"\0", 1)[0] == key.encode("latin-1"):
            return data.split(b"\0", 1)[1].decode("latin-1")
        position += 12 + length
    return None
