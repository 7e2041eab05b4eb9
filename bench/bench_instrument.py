"""Reading-instrument benchmark in headless Chromium: calipers and filter changes.

One run measures, on the labeling page (``/read/<campaign>/``) with a synthetic
12-lead exam (``synthesize(seed=7)``, 10 s, 500 Hz):

(a) pointer move -> caliper readout updated. The "Calipers" button is clicked
    and the mouse pressed on the paper (the second cursor follows the pointer);
    then, for each sample, the pointer moves a few pixels and the page measures
    from the ``pointermove`` event's dispatch (a capture listener on ``window``)
    to ``data-caliper-ms`` of ``#viewer .ecg-readout`` holding the new value,
    to the next ``requestAnimationFrame`` callback (target <= 16 ms), and to a
    task posted from that callback (after the frame's style, layout and paint).
    Twice: with ``page.mouse.move`` (real input through CDP), and with a
    synthetic ``PointerEvent`` dispatched to ``#viewer svg.ecg-overlay`` in
    ``page.evaluate``. The alternative, in the same page and the same way: a
    copy of the viewer's figure (same traces and layout, ``Plotly.newPlot`` on a
    div over the viewer) whose pointermove handler draws the two cursor lines
    with ``Plotly.relayout(gd, {shapes: [...]})`` and sets the readout when
    that resolves.
(b) filter change -> ECG redrawn: ``select_option`` on
    ``#viewer select[name=filter]`` / ``select[name=notch]`` through every
    band x notch combination, each combination new to a fresh browser context
    the first time (so its signal comes from the server, filtered there), with
    returns to "Off" in between (the viewer's memory cache) and to earlier
    combinations (the browser's HTTP cache). Each draw is classified by the
    Resource Timing entries of ``/signal/`` it added: none (viewer cache),
    ``transferSize`` 0 (HTTP cache) or > 0 (server). Reported: the viewer's
    ``drawn`` event ``detail.ms`` (reason "filters": from ``setFilters`` to
    Plotly done and one animation frame), the wall time from the ``change``
    event to the ``drawn`` event, and the signal request's duration (target
    <= 150 ms from the server, filter included).

The app runs under gunicorn (as bench/bench_viewer.py: DEBUG off, static
files collected, whitenoise, 2 workers x 4 threads) against a temporary SQLite
database and media folder seeded by this script; all on 127.0.0.1. Medians
with [min-max].

    .venv/bin/python bench/bench_instrument.py [--samples 20] [--contexts 2]
        [--max-load 1.5] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_signal import synthetic_exam  # noqa: E402
from bench_viewer import (  # noqa: E402
    LAUNCH_ARGS,
    PASSWORD,
    VIEWPORT,
    app_server,
    login_state,
    server_env,
    wait_for_quiet_machine,
)

OVERLAY = "#viewer svg.ecg-overlay"
READOUT = "#viewer .ecg-readout"
INIT_SCRIPT = """
window.__bench = {drawn: [], changes: []};
document.addEventListener('drawn', (e) => window.__bench.drawn.push(
    {...e.detail, at: performance.now()}), true);
document.addEventListener('change', (e) => window.__bench.changes.push(
    {name: e.target.name, value: e.target.value, at: performance.now()}), true);
"""
# Each step: (select name, option label, expected server label or None for off).
# Fourteen steps reach the eleven filtered band x notch combinations, each for
# the first time; the last ones come back to combinations fetched before.
FILTER_STEPS = [
    ("filter", "0.5–40 Hz", "0.5-40 Hz"),
    ("filter", "Off", None),
    ("filter", "0.5–150 Hz", "0.5-150 Hz"),
    ("filter", "Off", None),
    ("filter", "0.05–150 Hz", "0.05-150 Hz"),
    ("filter", "Off", None),
    ("notch", "60 Hz", "60 Hz"),
    ("filter", "0.5–40 Hz", "0.5-40 Hz 60 Hz"),
    ("filter", "0.5–150 Hz", "0.5-150 Hz 60 Hz"),
    ("filter", "0.05–150 Hz", "0.05-150 Hz 60 Hz"),
    ("notch", "50 Hz", "0.05-150 Hz 50 Hz"),
    ("filter", "0.5–150 Hz", "0.5-150 Hz 50 Hz"),
    ("filter", "0.5–40 Hz", "0.5-40 Hz 50 Hz"),
    ("filter", "Off", "50 Hz"),
    ("notch", "Off", None),
    ("filter", "0.5–40 Hz", "0.5-40 Hz"),
    ("notch", "60 Hz", "0.5-40 Hz 60 Hz"),
    ("filter", "Off", "60 Hz"),
    ("notch", "Off", None),
]


# --- Seeding (child process with Django) -----------------------------------------


def seed(out: Path) -> None:
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from annotator import services
    from annotator.taxonomy import load_default_taxonomy

    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    reader = User.objects.create_user("bench", password=PASSWORD)
    reader.groups.add(Group.objects.get_or_create(name="reader")[0])
    exam = synthetic_exam(seed=7)
    campaign = services.create_campaign(
        name="instrument",
        taxonomy=load_default_taxonomy(),
        exams=[exam],
        readers=[reader],
        readers_per_exam=1,
    )
    out.write_text(json.dumps({"campaign": campaign.pk, "fs": exam.sampling_rate}))


# --- In-page measuring -----------------------------------------------------------

# Records every pointermove aimed at the overlay: dispatch -> readout changed ->
# next animation frame -> a task after that frame.
CALIPER_RECORDER = """
([overlaySel, readoutSel]) => {
  const overlay = document.querySelector(overlaySel);
  const readout = document.querySelector(readoutSel);
  const rec = window.__cal = {samples: [], pending: null};
  window.addEventListener('pointermove', (e) => {
    if (e.target !== overlay) return;
    rec.pending = {t0: performance.now(), before: readout.dataset.caliperMs,
                   trusted: e.isTrusted};
  }, true);
  window.addEventListener('pointermove', () => {
    const p = rec.pending;
    if (!p) return;
    rec.pending = null;
    const handled = performance.now();
    const after = readout.dataset.caliperMs;
    requestAnimationFrame(() => {
      const frame = performance.now();
      const channel = new MessageChannel();
      channel.port1.onmessage = () => rec.samples.push({
        handled: handled - p.t0, frame: frame - p.t0,
        painted: performance.now() - p.t0,
        changed: after !== undefined && after !== p.before, ms: after,
        trusted: p.trusted});
      channel.port2.postMessage(null);
    });
  });
}
"""

SYNTHETIC_MOVES = """
async ([overlaySel, points]) => {
  const overlay = document.querySelector(overlaySel);
  const rec = window.__cal;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const first = rec.samples.length;
  for (const [x, y] of points) {
    const n = rec.samples.length;
    overlay.dispatchEvent(new PointerEvent('pointermove', {
      clientX: x, clientY: y, pointerId: 1, pointerType: 'mouse',
      isPrimary: true, bubbles: true, cancelable: true, composed: true}));
    while (rec.samples.length === n) await sleep(1);
    await sleep(20);
  }
  return rec.samples.slice(first);
}
"""

# The alternative: the same figure, cursors drawn by Plotly as layout shapes.
PLOTLY_CALIPERS = """
async ([points, anchorX]) => {
  const gd = document.querySelector('#viewer .js-plotly-plot');
  const box = gd.getBoundingClientRect();
  const copy = document.createElement('div');
  Object.assign(copy.style, {position: 'fixed', left: `${box.left}px`,
    top: `${box.top}px`, width: `${box.width}px`, height: `${box.height}px`,
    zIndex: 1000, background: '#fff'});
  document.body.append(copy);
  const layout = JSON.parse(JSON.stringify(gd.layout));
  await Plotly.newPlot(copy, gd.data.map((t) => ({...t})), layout,
                       {displayModeBar: false, responsive: false});
  const readout = document.createElement('output');
  document.body.append(readout);
  const xa = copy._fullLayout.xaxis;
  const timeAt = (clientX) => xa.range[0] + (clientX - copy.getBoundingClientRect().left
      - xa._offset) / xa._length * (xa.range[1] - xa.range[0]);
  const line = (t) => ({type: 'line', xref: 'x', yref: 'paper', x0: t, x1: t,
                        y0: 0, y1: 1, line: {color: '#c00', width: 1}});
  const anchor = timeAt(anchorX);
  let pending = null;
  copy.addEventListener('pointermove', (e) => {
    const t = timeAt(e.clientX);
    pending = Plotly.relayout(copy, {shapes: [line(anchor), line(t)]}).then(() => {
      readout.dataset.caliperMs = (Math.abs(t - anchor) * 1000).toFixed(1);
    });
  });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const out = [];
  for (const [x, y] of points) {
    const before = readout.dataset.caliperMs;
    const t0 = performance.now();
    copy.dispatchEvent(new PointerEvent('pointermove', {
      clientX: x, clientY: y, pointerId: 1, pointerType: 'mouse',
      isPrimary: true, bubbles: true, cancelable: true, composed: true}));
    const dispatched = performance.now();
    await pending;
    const handled = performance.now();
    await new Promise((r) => requestAnimationFrame(r));
    const frame = performance.now();
    await new Promise((r) => {
      const c = new MessageChannel(); c.port1.onmessage = r; c.port2.postMessage(null);
    });
    const painted = performance.now();
    const shapes = copy._fullLayout.shapes.length;
    out.push({dispatched: dispatched - t0, handled: handled - t0, frame: frame - t0,
              painted: painted - t0, changed: readout.dataset.caliperMs !== before,
              shapes, ms: readout.dataset.caliperMs});
    await sleep(20);
  }
  Plotly.purge(copy);
  copy.remove();
  readout.remove();
  return out;
}
"""


class Errors:
    """Console errors and uncaught exceptions of a page."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def watch(self, page: Any) -> None:
        page.on(
            "console",
            lambda m: (
                m.type == "error"
                and self.items.append(f"console: {m.text} at {m.location}")
            ),
        )
        page.on("pageerror", lambda e: self.items.append(f"pageerror: {e}"))


def open_reading(context: Any, url: str, errors: Errors) -> Any:
    page = context.new_page()
    errors.watch(page)
    page.goto(url, wait_until="commit")
    page.wait_for_function("window.__bench.drawn.length >= 1", timeout=120_000)
    page.wait_for_timeout(500)  # let the page settle (claim-ahead, fonts)
    return page


def calipers(page: Any, samples: int) -> dict[str, list[dict[str, Any]]]:
    page.get_by_role("button", name="Calipers").click()
    box = page.eval_on_selector(
        OVERLAY,
        "(n) => { const b = n.getBoundingClientRect();"
        " return {left: b.left, top: b.top, width: b.width, height: b.height}; }",
    )
    x0 = box["left"] + 0.08 * box["width"]
    y = box["top"] + 0.2 * box["height"]
    page.evaluate(CALIPER_RECORDER, [OVERLAY, READOUT])
    mouse = page.mouse
    mouse.move(x0, y)
    mouse.down()
    for i in range(3):  # warm-up moves, not counted
        mouse.move(x0 + 5 + i, y)
        page.wait_for_timeout(30)
    page.evaluate("window.__cal.samples = []")

    def xs(offset: float) -> list[float]:
        return [x0 + offset + 7 * i for i in range(samples)]

    for x in xs(20):
        count = page.evaluate("window.__cal.samples.length")
        mouse.move(x, y)
        page.wait_for_function("(n) => window.__cal.samples.length > n", arg=count)
        page.wait_for_timeout(20)
    real = page.evaluate("window.__cal.samples")
    synthetic = page.evaluate(SYNTHETIC_MOVES, [OVERLAY, [[x, y] for x in xs(27)]])
    mouse.up()
    plotly = page.evaluate(PLOTLY_CALIPERS, [[[x, y] for x in xs(20)], x0])
    return {"real": real, "synthetic": synthetic, "plotly": plotly}


def signal_entries(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(
        """() => performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('/signal/'))
        .map((e) => ({url: e.name, transfer: e.transferSize,
                      duration: e.duration}))"""
    )


def filter_changes(page: Any) -> list[dict[str, Any]]:
    out = []
    for name, label, expected in FILTER_STEPS:
        page.wait_for_timeout(300)  # the reader looks at the tracing
        drawn = page.evaluate("window.__bench.drawn.length")
        before = len(signal_entries(page))
        page.select_option(f"#viewer select[name={name}]", label=label)
        page.wait_for_function(
            "(n) => window.__bench.drawn.length > n"
            " && window.__bench.drawn.at(-1).reason === 'filters'",
            arg=drawn,
        )
        last = page.evaluate(
            "({draw: window.__bench.drawn.at(-1),"
            " change: window.__bench.changes.at(-1)})"
        )
        new = signal_entries(page)[before:]
        if not new:
            source = "viewer cache"
        elif all(e["transfer"] == 0 for e in new):
            source = "HTTP cache"
        else:
            source = "server"
        out.append(
            {
                "step": f"{name}={label}",
                "expected": expected,
                "label": last["draw"]["filters"],
                "ms": last["draw"]["ms"],
                "wall": last["draw"]["at"] - last["change"]["at"],
                "source": source,
                "requests": len(new),
                "request_ms": new[-1]["duration"] if new else None,
                "url": new[-1]["url"] if new else None,
            }
        )
    return out


# --- Report -----------------------------------------------------------------------


def stat(values: list[float], digits: int = 1) -> str:
    if not values:
        return "n/a"
    return (
        f"{statistics.median(values):.{digits}f}"
        f" [{min(values):.{digits}f}-{max(values):.{digits}f}]"
    )


def ratio(alternative: list[float], ours: list[float]) -> str:
    return f"{statistics.median(alternative) / statistics.median(ours):.1f}x"


def rows_for(cal: dict[str, list[dict[str, Any]]], steps: list[dict[str, Any]]) -> list:
    real, synthetic, plotly = cal["real"], cal["synthetic"], cal["plotly"]
    rows: list[tuple[str, ...]] = []

    def values(samples: list[dict[str, Any]], key: str) -> list[float]:
        return [s[key] for s in samples]

    n = len(real)
    rows += [
        (
            f"(a) page.mouse.move -> data-caliper-ms set (n={n})",
            stat(values(real, "handled"), 2),
            "",
            "",
            "",
        ),
        (
            "(a) page.mouse.move -> next animation frame",
            stat(values(real, "frame"), 2),
            "",
            "",
            "<= 16",
        ),
        (
            "(a) page.mouse.move -> task after that frame",
            stat(values(real, "painted"), 2),
            "",
            "",
            "",
        ),
    ]
    for key, what, target in (
        ("handled", "readout set", ""),
        ("frame", "next animation frame", "<= 16"),
        ("painted", "task after that frame", ""),
    ):
        ours, theirs = values(synthetic, key), values(plotly, key)
        rows.append(
            (
                f"(a) synthetic pointermove -> {what} (n={len(ours)})",
                stat(ours, 2),
                stat(theirs, 2),
                ratio(theirs, ours),
                target,
            )
        )
    for source, label in (
        ("server", "new combination, signal filtered on the server"),
        ("viewer cache", "back to a combination in the viewer's memory cache"),
        ("HTTP cache", "back to a combination in the browser's HTTP cache"),
    ):
        chosen = [s for s in steps if s["source"] == source]
        if not chosen:
            continue
        target = "<= 150" if source == "server" else ""
        rows.append(
            (
                f"(b) filter change -> drawn, {label} (n={len(chosen)}): detail.ms",
                stat([s["ms"] for s in chosen]),
                "",
                "",
                target,
            )
        )
        rows.append(
            (
                "(b)   same, wall time: change event -> drawn event",
                stat([s["wall"] for s in chosen]),
                "",
                "",
                target,
            )
        )
        if source != "viewer cache":
            rows.append(
                (
                    "(b)   same, the signal request (Resource Timing duration)",
                    stat([s["request_ms"] for s in chosen]),
                    "",
                    "",
                    "",
                )
            )
    return rows


def print_table(rows: list[tuple[str, ...]]) -> str:
    header = ("measurement (ms)", "viewer", "Plotly shapes", "Plotly/viewer", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in [header, *rows]
    ]
    text = "\n".join(lines)
    print(text)
    return text


def check(cal: dict[str, list[dict[str, Any]]], steps: list[dict[str, Any]]) -> list:
    problems = []
    for kind in ("real", "synthetic", "plotly"):
        unchanged = [s for s in cal[kind] if not s["changed"]]
        if unchanged:
            problems.append(f"(a) {kind}: {len(unchanged)} moves left the readout")
    if not all(s["trusted"] for s in cal["real"]) or any(
        s["trusted"] for s in cal["synthetic"]
    ):
        problems.append("(a) real moves were not trusted input, or synthetic were")
    if any(s["shapes"] != 2 for s in cal["plotly"]):
        problems.append("(a) plotly: the copy does not hold two shapes")
    for s in steps:
        if s["label"] != s["expected"]:
            problems.append(
                f"(b) {s['step']}: drawn with {s['label']!r},"
                f" expected {s['expected']!r}"
            )
    return problems


def run(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="bench-instrument-"))
    env = server_env(folder, "bench-instrument")
    ids_file = folder / "ids.json"
    errors = Errors()
    try:
        print("seeding (migrate, collectstatic, one synthetic exam)...", flush=True)
        subprocess.run(
            [sys.executable, __file__, "--seed", str(ids_file)],
            cwd=REPO,
            env=env,
            check=True,
        )
        ids = json.loads(ids_file.read_text())
        machine = wait_for_quiet_machine(args.max_load)
        print(f"before: {machine}", flush=True)
        with app_server(env) as app, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, headless=True, args=LAUNCH_ARGS
            )
            try:
                state = login_state(browser, app)
                url = f"{app}/read/{ids['campaign']}/"

                def context() -> Any:
                    c = browser.new_context(viewport=VIEWPORT, storage_state=state)
                    c.set_default_timeout(60_000)
                    c.add_init_script(INIT_SCRIPT)
                    return c

                print("(a) calipers...", flush=True)
                ctx = context()
                page = open_reading(ctx, url, errors)
                cal = calipers(page, args.samples)
                ctx.close()
                print("(b) filter changes...", flush=True)
                steps: list[dict[str, Any]] = []
                for _ in range(args.contexts):
                    ctx = context()  # a fresh HTTP cache
                    page = open_reading(ctx, url, errors)
                    steps += filter_changes(page)
                    ctx.close()
            finally:
                browser.close()
        after = subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False
        ).stdout.strip()
        chromium = subprocess.run(
            [args.chromium, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    widths = sorted(
        {s["url"].split("width=")[1].split("&")[0] for s in steps if s["url"]}
    )
    print(f"after: {after}")
    print(
        f"{chromium}, headless, viewport {VIEWPORT['width']}x{VIEWPORT['height']};"
        f" exam 12 x 5,000 at {ids['fs']:g} Hz; the viewer asked for width"
        f" {', '.join(widths)}; (b) {args.contexts} fresh contexts x"
        f" {len(FILTER_STEPS)} changes"
    )
    print()
    print_table(rows_for(cal, steps))
    problems = check(cal, steps)
    print()
    fine = "all readouts changed, every draw had the filters asked for"
    print("checks: " + ("; ".join(problems) if problems else fine))
    print("JS errors: " + ("; ".join(errors.items) if errors.items else "none"))
    if args.verbose:
        for s in steps:
            print(json.dumps(s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20, help="(a) moves per kind")
    parser.add_argument(
        "--contexts", type=int, default=2, help="(b) fresh browser contexts"
    )
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument(
        "--chromium",
        default=os.environ.get("CHROMIUM") or shutil.which("chromium") or "chromium",
    )
    parser.add_argument("--verbose", action="store_true", help="print every step")
    parser.add_argument("--seed", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        sys.path.insert(0, str(REPO))
        seed(args.seed)
        return
    if args.samples < 5:
        parser.error("--samples must be at least 5")
    run(args)


if __name__ == "__main__":
    main()
