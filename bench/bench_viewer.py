"""Viewer benchmark in headless Chromium: open an ECG, submit-and-next, a 30-min record.

One run measures, side by side, on this machine:

(a) navigation -> ECG drawn on the labeling page (``/read/<campaign>/``) for
    pydicom's 12-lead sample (10 s, 1000 Hz) and a synthetic exam (10 s,
    500 Hz): cold (a fresh browser context: empty HTTP cache) and warm (the
    same context again: plotly.js and the signal from the HTTP cache), against a
    naive page that draws the same exam as a full-resolution Plotly figure of 13
    subplots with lists of floats in JSON (built with plotly.py, served by a
    small server inside this script, never by the app);
(b) submit-and-next: Enter pressed -> the next exam drawn, the loop a reader
    repeats all day (target <= 120 ms);
(c) MIT-BIH record 100 (30 min, 2 leads at 360 Hz): the first draw and a zoom to
    a 10 s window (the viewer fetches that window again at full resolution;
    target <= 150 ms), against full-resolution ``scattergl`` (target >= 20x);
(d) bytes on the wire per exam (gzip, headers included) against the int16 size
    of the samples (target <= 1.1x).

The app runs under gunicorn (DEBUG off, static files collected, whitenoise)
against a temporary SQLite database and media folder seeded by this script;
everything is on 127.0.0.1. Times are medians of ``--runs`` repetitions
(default 5) with [min-max]. ``drawn`` is the viewer's event: Plotly has
returned and one animation frame has run. The naive pages record the same
moment after ``Plotly.newPlot``; for ``scattergl`` they first read one pixel
from every WebGL context, so the software rasteriser has really finished.

    .venv/bin/python bench/bench_viewer.py [--runs 5] [--write]
        [--max-load 1.5] [--chromium PATH]

``--write`` replaces the "Viewer in headless Chromium" section of
bench/RESULTS.md (other sections are kept). Before measuring, the script waits
(polling every 30 s, at most 15 min) until the 1-minute load average is below
``--max-load``, since the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench_signal import wait_for_load

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## Viewer in headless Chromium (issue: viewer)"
PASSWORD = "bench-viewer-password"
# Real records live beside the repository (as for the tests), or in $ECG_TEST_DATA.
MITDB = (
    Path(os.environ.get("ECG_TEST_DATA", REPO.parent / "shared" / "data" / "wfdb"))
    / "100.hea"
)
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
VIEWPORT = {"width": 1920, "height": 1080}
FLOW_EXAMS = 12
# Recorded in every page before its own scripts: the viewer's draws, the
# naive pages' draws and the moment Enter goes down.
INIT_SCRIPT = """
window.__bench = {drawn: [], enter: null};
document.addEventListener('drawn', (e) => window.__bench.drawn.push(
    {...e.detail, at: performance.now()}), true);
document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') window.__bench.enter = performance.now(); }, true);
"""


# --- Seeding (child process with Django) -----------------------------------------


def seed(out: Path) -> None:
    """Migrate, seed users, exams and campaigns; write ids and naive figures."""
    import django

    django.setup()
    import numpy as np
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from pydicom.data import get_testdata_file

    from annotator import services, storage
    from annotator.ingest.importer import import_exams
    from annotator.models import Exam
    from annotator.synthetic import synthesize
    from annotator.taxonomy import load_default_taxonomy

    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    taxonomy = load_default_taxonomy()
    reader = User.objects.create_user("bench", password=PASSWORD)
    reader.groups.add(Group.objects.get_or_create(name="reader")[0])

    def synthetic(exam_id: str, seed_: int, rhythm: str = "sinus") -> Exam:
        ecg = synthesize(seed=seed_, rhythm=rhythm)
        key = storage.signal_key("bench", exam_id)
        return Exam.objects.create(
            dataset="bench",
            exam_id=exam_id,
            patient_pseudonym=f"P{seed_:05d}",
            sampling_rate=ecg.fs,
            n_samples=ecg.signal_uv.shape[1],
            lead_names=list(ecg.lead_names),
            signal_key=key,
            signal_sha256=storage.save_signal(key, ecg.signal_uv),
            source_format="npy",
        )

    import_exams(get_testdata_file("waveform_ecg.dcm"), dataset="dicom")
    import_exams(MITDB, dataset="mitdb")
    dicom = Exam.objects.get(dataset="dicom")
    mitdb = Exam.objects.get(dataset="mitdb")
    single = synthetic("SYN-0", 7)
    flow = [
        synthetic(f"FLOW-{i:02d}", 100 + i, "af" if i % 3 == 2 else "sinus")
        for i in range(FLOW_EXAMS)
    ]

    def campaign(name: str, exams: list[Exam]) -> int:
        return services.create_campaign(
            name=name,
            taxonomy=taxonomy,
            exams=exams,
            readers=[reader],
            readers_per_exam=1,
        ).pk

    def microvolts(exam: Exam) -> Any:
        values = storage.load_signal(exam.signal_key)
        return np.rint(values * exam.signal_gain).astype(np.int16)

    ids = {
        "dicom": campaign("dicom", [dicom]),
        "synthetic": campaign("synthetic", [single]),
        "mitdb": campaign("mitdb", [mitdb]),
        "flow": campaign("flow", flow),
        "int16_bytes": {
            "dicom": 2 * dicom.n_samples * len(dicom.lead_names),
            "synthetic": 2 * single.n_samples * len(single.lead_names),
            "mitdb": 2 * mitdb.n_samples * len(mitdb.lead_names),
            "mitdb_fs": mitdb.sampling_rate,
            "mitdb_leads": len(mitdb.lead_names),
        },
    }
    figures = out.parent
    for name, exam in (("dicom", dicom), ("synthetic", single)):
        naive = naive_12_lead(microvolts(exam), exam.sampling_rate, exam.lead_names)
        (figures / f"naive-{name}.json").write_text(naive)
    long = naive_scattergl(microvolts(mitdb), mitdb.sampling_rate, mitdb.lead_names)
    (figures / "naive-mitdb.json").write_text(long)
    out.write_text(json.dumps(ids))


def naive_12_lead(uv: Any, fs: float, leads: list[str]) -> str:
    """The 3x4 + II figure as a naive app would send it: 13 subplots, float lists."""
    import numpy as np
    from plotly.subplots import make_subplots

    specs = [[{}, {}, {}, {}] for _ in range(3)] + [[{"colspan": 4}, None, None, None]]
    figure = make_subplots(rows=4, cols=4, specs=specs, vertical_spacing=0.03)
    n = uv.shape[1]
    t = np.arange(n) / fs
    mv = uv / 1000.0
    rows = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3"]]
    rows[2].append("V6")
    quarter = n // 4
    for r, names in enumerate(rows):
        for c, name in enumerate(names):
            part = slice(c * quarter, (c + 1) * quarter)
            figure.add_scatter(
                x=t[part].tolist(),
                y=mv[leads.index(name), part].tolist(),
                mode="lines",
                name=name,
                row=r + 1,
                col=c + 1,
            )
    figure.add_scatter(
        x=t.tolist(), y=mv[leads.index("II")].tolist(), mode="lines", row=4, col=1
    )
    figure.update_layout(width=1456, height=784, showlegend=False)
    return figure.to_json()


def naive_scattergl(uv: Any, fs: float, leads: list[str]) -> str:
    """Every sample of a long record as scattergl lines, float lists, one row each."""
    import numpy as np
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=len(leads), cols=1, shared_xaxes=True)
    t = (np.arange(uv.shape[1]) / fs).tolist()
    for i, name in enumerate(leads):
        figure.add_scattergl(
            x=t, y=(uv[i] / 1000.0).tolist(), mode="lines", name=name, row=i + 1, col=1
        )
    figure.update_layout(width=1456, height=500, showlegend=False)
    return figure.to_json()


# --- The naive pages' server ---------------------------------------------------------

NAIVE_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>naive</title>
<script>window.__figure = fetch('/{name}.json').then((r) => r.json());</script>
<script src="{plotly}"></script></head><body><div id="g"></div><script>
(async () => {{
  const figure = await window.__figure;
  await Plotly.newPlot('g', figure.data, figure.layout, {{displaylogo: false}});
  await finishGl();
  await new Promise((r) => requestAnimationFrame(r));
  window.__bench.drawn.push({{at: performance.now(), reason: 'load'}});
}})();
async function finishGl() {{
  // WebGL draws later on another thread: read one pixel to wait for it.
  for (const canvas of document.querySelectorAll('#g canvas')) {{
    const gl = canvas.getContext('webgl') || canvas.getContext('webgl2');
    if (gl) gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
  }}
}}
window.zoomTo = async (a, b) => {{
  const start = performance.now();
  await Plotly.relayout('g', {{'xaxis.range': [a, b]}});
  await finishGl();
  await new Promise((r) => requestAnimationFrame(r));
  return performance.now() - start;
}};
</script></body></html>"""


def naive_server(folder: Path, plotly_url: str) -> tuple[ThreadingHTTPServer, str]:
    """Serve naive-<name>.html/.json from ``folder`` (gzip, like the app)."""
    bodies: dict[str, tuple[bytes, str]] = {}
    for path in folder.glob("naive-*.json"):
        name = path.stem
        bodies[f"/{name}.json"] = (gzip.compress(path.read_bytes(), 6), "json")
        page = NAIVE_PAGE.format(name=name, plotly=plotly_url).encode()
        bodies[f"/{name}.html"] = (gzip.compress(page, 6), "html")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            body = bodies.get(self.path)
            if body is None:
                self.send_error(404)
                return
            data, kind = body
            self.send_response(200)
            self.send_header(
                "Content-Type", "application/json" if kind == "json" else "text/html"
            )
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# --- The app under gunicorn -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(env: dict[str, str], cwd: Path = REPO) -> Iterator[str]:
    """gunicorn serving the checkout at ``cwd`` on a free port; its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "annotator.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=cwd,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/health/", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# --- Measuring ---------------------------------------------------------------------


def median_range(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.0f} [{min(values):.0f}-{max(values):.0f}]"


def submit_and_time(page: Any, key: str, look_ms: int) -> float:
    """Tick ``key`` after looking ``look_ms`` at the ECG, press Enter, and return
    the ms from Enter to the next exam drawn (the init script's ``drawn`` log)."""
    page.wait_for_timeout(look_ms)
    before = page.evaluate("window.__bench.drawn.length")
    page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(n) => window.__bench.drawn.length > n "
        "&& window.__bench.drawn.at(-1).reason === 'load'",
        arg=before,
    )
    return page.evaluate("window.__bench.drawn.at(-1).at - window.__bench.enter")


def first_draw(page: Any, url: str, timeout: float = 120_000) -> float:
    """Navigate and return ms from navigation start to the first draw."""
    page.goto(url, wait_until="commit")
    page.wait_for_function("window.__bench.drawn.length >= 1", timeout=timeout)
    return page.evaluate("window.__bench.drawn[0].at")


def resources(page: Any, part: str) -> list[dict[str, Any]]:
    """Resource timing sizes of the requests whose URL contains ``part``."""
    return page.evaluate(
        """(part) => performance.getEntriesByType('resource')
        .filter((e) => e.name.includes(part))
        .map((e) => ({url: e.name, transfer: e.transferSize,
                      body: e.encodedBodySize, decoded: e.decodedBodySize}))""",
        part,
    )


def signal_bytes(page: Any) -> list[dict[str, Any]]:
    return resources(page, "/signal/")


def naive_bytes(page: Any) -> list[dict[str, Any]]:
    return resources(page, ".json")


class Bench:
    def __init__(self, browser: Any, app: str, naive: str, state: Any, ids: dict):
        self.browser = browser
        self.app = app
        self.naive = naive
        self.state = state
        self.ids = ids

    def context(self) -> Any:
        context = self.browser.new_context(viewport=VIEWPORT, storage_state=self.state)
        context.set_default_timeout(120_000)
        context.add_init_script(INIT_SCRIPT)
        return context

    def cold(self, url: str, runs: int, then: Callable | None = None) -> list[float]:
        times = []
        for _ in range(runs):
            context = self.context()
            page = context.new_page()
            times.append(first_draw(page, url))
            if then:
                then(page)
            context.close()
        return times

    def warm(self, url: str, runs: int) -> list[float]:
        context = self.context()
        page = context.new_page()
        first_draw(page, url)  # fills the HTTP cache; not counted
        times = [first_draw(page, url) for _ in range(runs)]
        context.close()
        return times

    def read_url(self, name: str) -> str:
        return f"{self.app}/read/{self.ids[name]}/"

    def submit_and_next(self, runs: int) -> tuple[list[float], int]:
        """Enter -> the next exam drawn, ``runs`` times on one page."""
        context = self.context()
        page = context.new_page()
        first_draw(page, self.read_url("flow"))
        times = []
        for i in range(runs):
            times.append(submit_and_time(page, "s" if i % 2 else "a", 1000))
        requests = len(signal_bytes(page))
        context.close()
        return times, requests

    def long_record(self, runs: int) -> dict[str, Any]:
        """MIT-BIH 100, cold: open (the M4 overview), then zoom to a 10 s window."""
        out: dict[str, Any] = {"first": [], "zoom": [], "bytes": []}
        for run in range(runs):
            context = self.context()
            page = context.new_page()
            out["first"].append(first_draw(page, self.read_url("mitdb")))
            start = 60.0 + 300.0 * run
            out["zoom"].append(
                page.evaluate(
                    """async ([a, b]) => {
                    const gd = document.querySelector('#viewer .js-plotly-plot');
                    const n = window.__bench.drawn.length;
                    const t0 = performance.now();
                    await Plotly.relayout(gd, {'xaxis.range': [a, b]});
                    await new Promise((resolve) => {
                        const check = () => window.__bench.drawn.length > n
                            && window.__bench.drawn.at(-1).reason === 'zoom'
                            ? resolve() : setTimeout(check, 2);
                        check();
                    });
                    return window.__bench.drawn.at(-1).at - t0;
                }""",
                    [start, start + 10.0],
                )
            )
            if not out["bytes"]:
                out["bytes"] = signal_bytes(page)  # the overview, then the window
            context.close()
        out["warm"] = self.warm(self.read_url("mitdb"), runs)
        return out

    def naive_long(self, runs: int) -> dict[str, Any]:
        out: dict[str, Any] = {"first": [], "zoom": []}
        for run in range(runs):
            context = self.context()
            page = context.new_page()
            out["first"].append(first_draw(page, f"{self.naive}/naive-mitdb.html"))
            out.setdefault("bytes", naive_bytes(page))
            start = 60.0 + 300.0 * run
            out["zoom"].append(
                page.evaluate("([a, b]) => zoomTo(a, b)", [start, start + 10.0])
            )
            context.close()
        out["warm"] = self.warm(f"{self.naive}/naive-mitdb.html", runs)
        return out


def wait_for_quiet_machine(max_load: float, budget_s: float = 900) -> str:
    """Wait for the load to fall under ``max_load``; the machine's ``uptime``."""
    wait_for_load(max_load, budget_s)
    return subprocess.run(
        ["uptime"], capture_output=True, text=True, check=False
    ).stdout.strip()


def login_state(browser: Any, app: str) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{app}/login/")
    page.fill("#id_username", "bench")
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{app}/")
    state = context.storage_state()
    context.close()
    return state


def server_env(folder: Path, name: str) -> dict[str, str]:
    """The environment of a benchmark's app server: its own data folder, SQLite."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "annotator.settings",
        "ANNOTATOR_DATA_DIR": str(folder / "data"),
        "SECRET_KEY": f"{name}-not-secret",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    env.pop("DEBUG", None)
    env.pop("DATABASE_URL", None)
    return env


def run(args: argparse.Namespace) -> str:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    env = server_env(folder, "bench-viewer")
    ids_file = folder / "ids.json"
    try:
        print("seeding (migrate, collectstatic, exams, naive figures)...", flush=True)
        subprocess.run(
            [sys.executable, __file__, "--seed", str(ids_file)],
            cwd=REPO,
            env=env,
            check=True,
        )
        ids = json.loads(ids_file.read_text())
        machine = wait_for_quiet_machine(args.max_load)
        print(machine, flush=True)
        with app_server(env) as app, sync_playwright() as playwright:
            import plotly

            plotly_url = f"{app}/vendor/plotly-{plotly.__version__}.min.js"
            server, naive = naive_server(folder, plotly_url)
            browser = playwright.chromium.launch(
                executable_path=args.chromium, headless=True, args=LAUNCH_ARGS
            )
            try:
                bench = Bench(browser, app, naive, login_state(browser, app), ids)
                bench.cold(bench.read_url("synthetic"), 1)  # warm the server up
                table = measure(bench, args.runs, ids)
            finally:
                browser.close()
                server.shutdown()
        return report(args, machine, table)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(bench: Bench, runs: int, ids: dict) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    sizes: dict[str, list[dict[str, Any]]] = {}

    def keep_bytes(name: str, of: Callable[[Any], Any]) -> Callable[[Any], None]:
        return lambda page: sizes.setdefault(name, of(page))

    for name, label in (
        ("dicom", "pydicom 12-lead, 1000 Hz"),
        ("synthetic", "synthetic 12-lead, 500 Hz"),
    ):
        print(f"(a) {label}...", flush=True)
        url = bench.read_url(name)
        naive_url = f"{bench.naive}/naive-{name}.html"
        ours_cold = bench.cold(url, runs, keep_bytes(name, signal_bytes))
        naive_cold = bench.cold(
            naive_url, runs, keep_bytes(f"naive-{name}", naive_bytes)
        )
        ours_warm = bench.warm(url, runs)
        naive_warm = bench.warm(naive_url, runs)
        rows += [
            (
                f"(a) open -> ECG drawn, {label}, cold",
                median_range(ours_cold),
                median_range(naive_cold),
                ratio(naive_cold, ours_cold),
                "LS 1884/1809",
            ),
            (
                f"(a) open -> ECG drawn, {label}, warm (cached)",
                median_range(ours_warm),
                median_range(naive_warm),
                ratio(naive_warm, ours_warm),
                "LS 1794/1715",
            ),
        ]

    print("(b) submit-and-next...", flush=True)
    flow, requests = bench.submit_and_next(max(runs, 5) * 2)
    rows.append(
        (
            f"(b) Enter -> next ECG drawn ({len(flow)} exams, 500 Hz)",
            median_range(flow),
            "",
            "",
            "<= 120; LS 786",
        )
    )

    print("(c) MIT-BIH 100, 30 min...", flush=True)
    ours = bench.long_record(runs)
    naive = bench.naive_long(runs)
    rows += [
        (
            "(c) MIT-BIH 100: open -> drawn, cold",
            median_range(ours["first"]),
            median_range(naive["first"]),
            ratio(naive["first"], ours["first"]),
            ">= 20x",
        ),
        (
            "(c) MIT-BIH 100: open -> drawn, warm (cached)",
            median_range(ours["warm"]),
            median_range(naive["warm"]),
            ratio(naive["warm"], ours["warm"]),
            ">= 20x",
        ),
        (
            "(c) MIT-BIH 100: zoom to 10 s -> drawn at full resolution",
            median_range(ours["zoom"]),
            median_range(naive["zoom"]),
            ratio(naive["zoom"], ours["zoom"]),
            "<= 150; >= 20x",
        ),
    ]

    int16 = ids["int16_bytes"]
    window = int(20 * int16["mitdb_fs"]) * int16["mitdb_leads"] * 2
    rows += [
        bytes_row(
            "pydicom 12-lead (raw)",
            sizes["dicom"][0],
            sizes["naive-dicom"][0],
            int16["dicom"],
        ),
        bytes_row(
            "synthetic 12-lead (raw)",
            sizes["synthetic"][0],
            sizes["naive-synthetic"][0],
            int16["synthetic"],
        ),
        bytes_row(
            "MIT-BIH overview (M4)", ours["bytes"][0], naive["bytes"][0], int16["mitdb"]
        ),
        bytes_row("MIT-BIH 20 s window (raw)", ours["bytes"][1], None, window),
    ]
    rows.append(
        (
            "(b) signal requests during the submit loop",
            str(requests),
            "",
            "",
            f"{len(flow) + 1} = one per exam",
        )
    )
    return rows


def bytes_row(
    label: str, ours: dict[str, Any], naive: dict[str, Any] | None, int16: int
) -> tuple[str, ...]:
    """Transfer sizes (gzip body + headers) as bytes and as a multiple of int16."""

    def cell(entry: dict[str, Any]) -> str:
        return f"{entry['transfer']:,} B = {entry['transfer'] / int16:.2f}x"

    return (
        f"(d) on the wire, x int16 ({int16:,} B): {label}",
        cell(ours),
        cell(naive) if naive else "",
        f"{naive['transfer'] / ours['transfer']:.1f}x" if naive else "",
        "<= 1.1x",
    )


def ratio(naive: list[float], ours: list[float]) -> str:
    if not naive or not ours:
        return ""
    return f"{statistics.median(naive) / statistics.median(ours):.1f}x"


def report(args: argparse.Namespace, machine: str, rows: list[tuple[str, ...]]) -> str:
    header = (
        "measurement (ms unless bytes)",
        "viewer",
        "naive",
        "naive/viewer",
        "target",
    )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in [header, *rows]
    ]
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_results(args, machine, table)
    return table


def write_results(args: argparse.Namespace, machine: str, table: str) -> None:
    import plotly

    chromium = subprocess.run(
        [args.chromium, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    after = subprocess.run(
        ["uptime"], capture_output=True, text=True, check=False
    ).stdout.strip()
    command = "bench/bench_viewer.py --write"
    if args.runs != 5:
        command += f" --runs {args.runs}"
    setup = (
        f"{chromium}, headless with software rendering, viewport 1920x1080, DPR 1;"
        f" plotly.js from plotly.py {plotly.__version__}; the app under gunicorn"
        " (2 workers x 4 threads, DEBUG off, whitenoise) with SQLite, all on"
        f" 127.0.0.1. Medians of {args.runs} runs [min-max] ((b): of its exams)."
        ' "viewer" is the labeling page `/read/<id>/` (claim, taxonomy, signal,'
        ' draw); "naive" is the same exam as a full-resolution Plotly figure with'
        " float lists in JSON (13 subplots; for MIT-BIH `scattergl` with every"
        " sample), served gzip by the benchmark itself. Cold = a fresh browser"
        " context; warm = the same context again (plotly.js and the signal from the"
        " HTTP cache). LS = Label Studio 1.23.2 on the same machine class"
        " (shared/research/peer-labelstudio.md; 1000/500 Hz), not rerun here."
    )
    reading = (
        "How to read it: a cold open is mostly plotly.js, the same 4.8 MB (1.5 MB"
        " gzip) for the viewer and the naive page, which V8 takes about 0.75 s to"
        " compile and run, so the viewer and the naive figure open cold in about"
        " the same time; with plotly.js cached an exam opens in 0.2-0.3 s. The loop a"
        " reader repeats, (b), draws the next exam from memory: it was claimed"
        " ahead and its signal fetched while the reader looked at the current one"
        " (one signal request per exam, none at the moment of the Enter). On the"
        " 30-minute record the viewer draws at most 4 points per pixel column (M4)"
        " and a zoom fetches the 10 s window at full resolution, where `scattergl`"
        " with every sample waits for software WebGL; cold, both sides also pay for"
        " plotly.js, most of the viewer's time. Gzip makes the raw int16"
        " samples smaller than their own size (d)."
    )
    section = "\n".join(
        [
            SECTION,
            "",
            "```",
            f".venv/bin/python {command}",
            "```",
            "",
            textwrap.fill(setup, 88, break_on_hyphens=False),
            "",
            f"Machine load before the run: `{machine}`; after it: `{after}`.",
            "",
            "```",
            table,
            "```",
            "",
            textwrap.fill(reading, 88, break_on_hyphens=False),
            "",
        ]
    )
    replace_section(SECTION, section)


def replace_section(title: str, section: str) -> None:
    """Put ``section`` (starting with the ``title`` line) in RESULTS.md in place
    of the section of that title, or at the end; the others are kept."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if title in text:
        head, _, rest = text.partition(title)
        following = rest.find("\n## ")
        tail = rest[following + 1 :] if following >= 0 else ""
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)
    print(f"wrote {RESULTS.relative_to(REPO)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update RESULTS.md")
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument(
        "--chromium",
        default=os.environ.get("CHROMIUM") or shutil.which("chromium") or "chromium",
    )
    parser.add_argument("--seed", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        sys.path.insert(0, str(REPO))
        seed(args.seed)
        return
    if not MITDB.exists():
        sys.exit(f"MIT-BIH record 100 not found at {MITDB}")
    run(args)


if __name__ == "__main__":
    main()
