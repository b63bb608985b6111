"""Open the built site in a headless browser and check that pages render.

Run by hand after a build (it is not part of CI)::

    python -m pip install playwright          # the Python client only
    python docs/check_render.py               # uses /usr/bin/chromium

The system's Chromium is used (``--browser`` to name another), so
``playwright install`` and its download are not needed. The site is served
from ``docs/_build/html`` by a local HTTP server, as README.md describes.

It takes full-page screenshots of the landing page, one API page and one
gallery example into ``docs/_build/screenshots/``, and on every page of the
site checks that

- the page loaded (HTTP 200) and has a title and a body with text;
- every ``<img>`` loaded (``complete`` and ``naturalWidth > 0``);
- no raw markup shows in the visible text: reST directives and roles
  (``.. autoclass``, ``:class:```), Markdown fences (```````), and the like;
- the browser logged no error (e.g. a missing script or stylesheet).

It prints one line per page and exits with status 1 if any check failed.
"""

import argparse
import contextlib
import functools
import http.server
import re
import sys
import threading
from pathlib import Path

DOCS = Path(__file__).resolve().parent
HTML = DOCS / "_build" / "html"
SHOTS = DOCS / "_build" / "screenshots"

SCREENSHOTS = {
    "index.html": "landing",
    "generated/skdiec.DiffusionEmbeddedClustering.html": "api",
    "auto_examples/plot_digits_search.html": "gallery",
}
# Pages Sphinx generates without content of ours.
SKIP = {"genindex.html", "search.html", "py-modindex.html"}

# Markup that must never reach a reader: reST directives, roles and
# substitutions, Markdown fences and link syntax, unresolved numpydoc fields.
RAW_MARKUP = [
    (r"\.\.\s+(auto\w+|code-block|include|image|toctree|currentmodule|minigallery)::",
     "reST directive"),
    (r":(class|func|meth|mod|attr|ref|doc|term|data):`", "reST role"),
    (r"```", "Markdown fence"),
    (r"\]\((https?://|[\w./-]+\.(md|html|png))", "Markdown link"),
    (r"^\s*(Parameters|Returns|Attributes)\s*\n\s*-{4,}", "unparsed numpydoc section"),
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(root):
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def check_page(page, url, shot=None):
    """Load ``url``, screenshot it to ``shot`` (if given) and return the problems."""
    errors = []

    def on_console(msg):
        # A failed resource is reported with its URL by on_response instead.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(msg.text)

    def on_response(response):
        # The browser asks for /favicon.ico on its own; the site has none.
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            errors.append(f"HTTP {response.status}: {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    response = page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    if shot is not None:
        page.screenshot(path=str(shot), full_page=True)

    problems = []
    if response is None or response.status != 200:
        problems.append(f"HTTP status {None if response is None else response.status}")
    if not page.title():
        problems.append("no <title>")
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => ({src: e.currentSrc || e.src, ok: e.complete && "
               "e.naturalWidth > 0}))")
    problems += [f"image not loaded: {img['src']}" for img in images if not img["ok"]]
    text = page.inner_text("body")
    if len(text.strip()) < 200:
        problems.append("almost no text on the page")
    for pattern, what in RAW_MARKUP:
        for m in re.finditer(pattern, text, re.M):
            snippet = text[max(0, m.start() - 40):m.end() + 40].replace("\n", " ")
            problems.append(f"raw {what}: ...{snippet}...")
    problems += [f"browser error: {e}" for e in errors]
    return problems, len(images)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", default="/usr/bin/chromium",
                        help="Chromium executable (default: %(default)s)")
    parser.add_argument("--html", type=Path, default=HTML, help="built site (default: %(default)s)")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    if not (args.html / "index.html").is_file():
        sys.exit(f"{args.html / 'index.html'} not found: build the docs first.")
    SHOTS.mkdir(parents=True, exist_ok=True)
    failed = False
    with serve(args.html) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.browser,
                                    args=["--no-sandbox", "--disable-gpu"])
        paths = sorted(str(f.relative_to(args.html)) for f in args.html.rglob("*.html")
                       if not f.name.startswith("_") and "_sources" not in f.parts
                       and "_static" not in f.parts and f.name not in SKIP)
        missing = set(SCREENSHOTS) - set(paths)
        if missing:
            sys.exit(f"pages to screenshot not in the build: {sorted(missing)}")
        for path in paths:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            shot = SHOTS / f"{SCREENSHOTS[path]}.png" if path in SCREENSHOTS else None
            problems, n_images = check_page(page, base + path, shot)
            page.close()
            status = "ok" if not problems else "FAILED"
            note = f", screenshot {shot.relative_to(DOCS.parent)}" if shot else ""
            print(f"{status:6s} {path}: {n_images} image(s){note}")
            for problem in problems:
                print(f"         - {problem}")
            failed |= bool(problems)
        browser.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
