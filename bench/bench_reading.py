"""Reading benchmark in headless Chromium: submit-and-next against a baseline, and
"Previous read".

One run measures, on this machine and in the same minutes:

(a) submit-and-next (Enter pressed -> the next exam drawn) on this checkout and
    on a baseline commit (``--baseline``, default the commit before the complete
    read: Previous read, drafts, two tabs), each served by its own gunicorn
    from its own checkout and database, measured in alternating rounds so both
    see the same machine (target: this checkout within 10 % of the baseline);
(b) "Previous read" (Backspace) -> the previous read editable on screen: its
    exam drawn, its labels in the panel, one animation frame later (target
    <= 150 ms), against the obvious alternative: opening the same read from
    "My reads" (a page load of ``/read/<campaign>/?decision=<id>``).

Both servers run SQLite with DEBUG off, static files collected, on 127.0.0.1;
the baseline is checked out into a temporary git worktree. Times are medians
with [min-max] over every measured step.

    .venv/bin/python bench/bench_reading.py [--rounds 4] [--baseline REF]
        [--write] [--max-load 1.5] [--chromium PATH]

``--write`` replaces the "Reading: submit-and-next and Previous read" section
of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_signal import synthetic_exam
from bench_viewer import (
    LAUNCH_ARGS,
    REPO,
    VIEWPORT,
    app_server,
    median_range,
    replace_section,
    server_env,
    submit_and_time,
    wait_for_quiet_machine,
)

SECTION = "## Reading: submit-and-next and Previous read (issue: complete read)"
PASSWORD = "bench-reading-password"
BASELINE = "5083b6a"  # main before the complete read (issue 11)
STEPS = 3  # submits per round and side
INIT_SCRIPT = """
window.__bench = {drawn: [], enter: null, back: null, opened: []};
document.addEventListener('drawn', (e) => window.__bench.drawn.push(
    {...e.detail, at: performance.now()}), true);
document.addEventListener('read-opened', () => requestAnimationFrame(
    () => window.__bench.opened.push(performance.now())), true);
window.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') window.__bench.enter = performance.now();
    if (e.key === 'Backspace') window.__bench.back = performance.now(); }, true);
"""


# --- Seeding (child process with Django, in the checkout being measured) ----------


def seed(out: Path, n_exams: int) -> None:
    """Migrate, one reader, a campaign of synthetic exams; write its id.

    Runs in the checkout named by PYTHONPATH (the baseline's or this one), ahead
    of the repository the benchmark modules put on the path.
    """
    sys.path.insert(0, os.environ["PYTHONPATH"])
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
    exams = [synthetic_exam(seed=200 + i) for i in range(n_exams)]
    campaign = services.create_campaign(
        name="reading",
        taxonomy=load_default_taxonomy(),
        exams=exams,
        readers=[reader],
        readers_per_exam=1,
    )
    out.write_text(json.dumps({"campaign": campaign.pk}))


# --- Servers ---------------------------------------------------------------------


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """``ref`` in a temporary git worktree."""
    folder = Path(tempfile.mkdtemp(prefix="bench-reading-ref-"))
    path = folder / "src"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), ref],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)],
            cwd=REPO,
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def side(source: Path, name: str, n_exams: int) -> Iterator[tuple[str, int]]:
    """Seed and serve the checkout at ``source``: (its URL, the campaign id)."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-reading-{name}-"))
    env = {**server_env(folder, f"bench-reading-{name}"), "PYTHONPATH": str(source)}
    try:
        ids = folder / "ids.json"
        subprocess.run(
            [sys.executable, __file__, "--seed", str(ids), "--exams", str(n_exams)],
            cwd=source,
            env=env,
            check=True,
        )
        with app_server(env, cwd=source) as url:
            yield url, json.loads(ids.read_text())["campaign"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- Measuring ---------------------------------------------------------------------


class Reader:
    """One logged-in reading page on one server."""

    def __init__(self, browser: Any, url: str, campaign: int) -> None:
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.add_init_script(INIT_SCRIPT)
        self.url, self.campaign = url, campaign
        page = self.context.new_page()
        page.goto(f"{url}/login/")
        page.fill("#id_username", "bench")
        page.fill("#id_password", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/")
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(error.stack or str(error)))
        page.on(
            "console",
            lambda m: m.type == "error" and errors.append(m.text),
        )
        page.goto(f"{url}/read/{campaign}/")
        try:
            page.wait_for_function("window.__bench.drawn.length >= 1")
        except Exception as exc:
            alert = page.inner_text("#alert") if page.locator("#alert").count() else ""
            raise RuntimeError(f"{url}: no ECG drawn ({alert!r}, {errors})") from exc
        self.page = page

    def submit_and_next(self, steps: int) -> list[float]:
        return [
            submit_and_time(self.page, "s" if i % 2 else "a", 800) for i in range(steps)
        ]

    def previous_reads(self, steps: int) -> list[float]:
        """Backspace ``steps`` times: each the read before, editable on screen."""
        page, times = self.page, []
        for _ in range(steps):
            page.wait_for_timeout(500)
            before = page.evaluate("window.__bench.opened.length")
            page.keyboard.press("Backspace")
            page.wait_for_function(
                "(n) => window.__bench.opened.length > n", arg=before
            )
            times.append(
                page.evaluate("window.__bench.opened.at(-1) - window.__bench.back")
            )
        page.keyboard.press("Escape")
        return times

    def opened_from_my_reads(self, steps: int) -> list[float]:
        """The alternative: each read opened by its link (a page load)."""
        data = self.page.evaluate(
            f"fetch('/api/campaigns/{self.campaign}/reads/').then(r => r.json())"
        )
        times = []
        for read in data["results"][:steps]:
            page = self.context.new_page()
            page.goto(f"{self.url}/read/{self.campaign}/?decision={read['id']}")
            page.wait_for_function("window.__bench.opened.length >= 1")
            times.append(page.evaluate("window.__bench.opened[0]"))  # from navigation
            page.close()
        return times

    def close(self) -> None:
        self.context.close()


def run(args: argparse.Namespace) -> str:
    from playwright.sync_api import sync_playwright

    exams = STEPS * args.rounds + 2  # every submit of every round, and one left
    with (
        checkout(args.baseline) as base_source,
        side(base_source, "baseline", exams) as (base_url, base_campaign),
        side(REPO, "current", exams) as (url, campaign),
        sync_playwright() as playwright,
    ):
        machine = wait_for_quiet_machine(args.max_load)
        print(machine, flush=True)
        browser = playwright.chromium.launch(
            executable_path=args.chromium, headless=True, args=LAUNCH_ARGS
        )
        try:
            readers = {
                "baseline": Reader(browser, base_url, base_campaign),
                "current": Reader(browser, url, campaign),
            }
            times: dict[str, list[float]] = {"baseline": [], "current": []}
            for round_ in range(args.rounds):
                order = (
                    ("baseline", "current") if round_ % 2 else ("current", "baseline")
                )
                for name in order:
                    times[name] += readers[name].submit_and_next(STEPS)
            back = readers["current"].previous_reads(min(6, STEPS * args.rounds))
            linked = readers["current"].opened_from_my_reads(5)
            for reader in readers.values():
                reader.close()
        finally:
            browser.close()
        after = wait_for_quiet_machine(99)
    return report(args, machine, after, times, back, linked)


def report(
    args: argparse.Namespace,
    machine: str,
    after: str,
    times: dict[str, list[float]],
    back: list[float],
    linked: list[float],
) -> str:
    from statistics import median

    base, ours = median(times["baseline"]), median(times["current"])
    rows = [
        (
            f"(a) Enter -> next ECG drawn, baseline {args.baseline}",
            median_range(times["baseline"]),
            f"n={len(times['baseline'])}",
            "",
        ),
        (
            "(a) Enter -> next ECG drawn, this checkout",
            median_range(times["current"]),
            f"n={len(times['current'])}",
            f"{ours / base:.2f}x baseline (<= 1.10x)",
        ),
        (
            "(b) Previous read (Backspace) -> editable on screen",
            median_range(back),
            f"n={len(back)}",
            "<= 150",
        ),
        (
            "(b) the same read opened from My reads (page load)",
            median_range(linked),
            f"n={len(linked)}",
            f"{median(linked) / median(back):.1f}x Previous read",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measurement (ms)'.ljust(width)}  median [min-max]      n     target"]
    lines += [
        f"{a.ljust(width)}  {b.ljust(20)}  {c.ljust(5)} {d}" for a, b, c, d in rows
    ]
    table = "\n".join(lines)
    print(table)
    return (
        f"{SECTION}\n\n```\n.venv/bin/python bench/bench_reading.py "
        f"--rounds {args.rounds} --write\n```\n\n"
        f"Chromium headless (software rendering), 1920x1080; each side under gunicorn "
        f"(2 workers x 4 threads, DEBUG off) with its own SQLite database; "
        f"{args.rounds} alternating rounds of {STEPS} submits per side.\n\n"
        f"Machine load before: `{machine}`; after: `{after}`.\n\n```\n{table}\n```\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--write", action="store_true", help="update RESULTS.md")
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument(
        "--chromium",
        default=os.environ.get("CHROMIUM") or shutil.which("chromium") or "chromium",
    )
    parser.add_argument("--seed", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--exams", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        seed(args.seed, args.exams)
        return
    section = run(args)
    if args.write:
        replace_section(SECTION, section)


if __name__ == "__main__":
    main()
