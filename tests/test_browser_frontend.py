"""The shared frontend parts in Chromium: the taxonomy picker's two rules, the job
list's paging by the API's links, and the dashboard's pairwise kappa at scale.

Also, without a browser: every module a page script imports is in the import map,
and the server's enumerations reach every page once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from annotator import services
from annotator.models import CampaignExam, Decision, Job
from frontend.context_processors import SHARED_MODULES
from tests import factories
from tests.test_browser_pages import Console, open_page

pytestmark = [pytest.mark.django_db(transaction=True)]

JS = Path(__file__).resolve().parent.parent / "frontend" / "static" / "frontend" / "js"
IMPORT = re.compile(r'\} from "\./([\w.-]+\.js)";$', re.MULTILINE)


def test_every_module_a_page_script_imports_is_in_the_import_map():
    imported = {
        name for path in JS.glob("*.js") for name in IMPORT.findall(path.read_text())
    }
    assert imported == set(SHARED_MODULES)
    assert all((JS / name).exists() for name in SHARED_MODULES)


def test_each_page_gets_the_import_map_and_the_servers_enumerations(cast):
    page = Client().get("/login/").content.decode()
    importmap = re.search(r'<script type="importmap">(.*?)</script>', page, re.S)
    assert set(json.loads(importmap.group(1))["imports"]) == {
        f"/static/frontend/js/{name}" for name in SHARED_MODULES
    }
    enums = json.loads(
        re.search(r'<script id="enums"[^>]*>(.*?)</script>', page, re.S).group(1)
    )
    assert enums["quality"] == [
        {"value": value, "label": str(label)}
        for value, label in Decision.Quality.choices
    ]
    assert [e["value"] for e in enums["consensus_states"]] == list(
        CampaignExam.ConsensusState.values
    )
    assert [e["value"] for e in enums["job_kinds"]] == list(Job.Kind.values)
    assert [e["value"] for e in enums["job_statuses"]] == list(Job.Status.values)


# --- In the browser ------------------------------------------------------------------

browser_test = pytest.mark.browser

CLASSES = [
    {
        "code": "SR",
        "name": "Sinus rhythm",
        "group": "Rhythm",
        "exclusive_group": "dominant_rhythm",
    },
    {
        "code": "SB",
        "name": "Sinus bradycardia",
        "group": "Rhythm",
        "exclusive_group": "dominant_rhythm",
    },
    {
        "code": "AF",
        "name": "Atrial fibrillation",
        "group": "Rhythm",
        "exclusive_group": "dominant_rhythm",
    },
    {
        "code": "AFL",
        "name": "Atrial flutter",
        "group": "Rhythm",
        "exclusive_group": "dominant_rhythm",
    },
    {"code": "LBBB", "name": "Left bundle branch block", "group": "Conduction"},
    {
        "code": "ILBBB",
        "name": "Incomplete left bundle branch block",
        "group": "Conduction",
    },
    {
        "code": "PVC",
        "name": "Ventricular premature complexes",
        "group": "Ectopy",
        "snomed_ct": "427172004",
    },
]


@pytest.fixture
def console():
    seen = Console()
    yield seen
    assert seen.errors == []


def picker(page: Any, script: str) -> Any:
    """Run `script` with the picker module as `m` and CLASSES as `classes`."""
    return page.evaluate(
        f"""async (classes) => {{
            const m = await import("/static/frontend/js/taxonomy-picker.js");
            {script}
        }}""",
        CLASSES,
    )


@browser_test
def test_search_finds_the_exact_code_then_a_prefix_then_a_substring(
    browser, console, live_server, cast
):
    page = open_page(browser, console, live_server, "reader1")
    rank = "return m.rankClasses(classes, {!r}).map((c) => c.code);"
    assert picker(page, rank.format("lbbb")) == [
        "LBBB",
        "ILBBB",
    ]  # exact, then substring
    assert picker(page, rank.format("atrial")) == [
        "AF",
        "AFL",
    ]  # name prefixes, in order
    assert picker(page, rank.format("fl")) == ["AFL"]  # a substring of the code
    assert picker(page, rank.format("sinus b")) == ["SB"]
    assert picker(page, rank.format("flutter")) == ["AFL"]  # in the name
    assert picker(page, rank.format("4271")) == ["PVC"]  # the SNOMED CT code
    assert picker(page, rank.format("conduction")) == ["LBBB", "ILBBB"]  # the group
    assert picker(page, rank.format("  ")) == []


@browser_test
def test_choosing_a_class_of_an_exclusive_group_drops_the_others_of_that_group(
    browser, console, live_server, cast
):
    page = open_page(browser, console, live_server, "reader1")
    result = picker(
        page,
        """const byCode = new Map(classes.map((c) => [c.code, c]));
        const chosen = new Set(["SR", "LBBB"]);
        const first = m.chooseClass(chosen, byCode, "AF", true);
        const second = m.chooseClass(chosen, byCode, "PVC", true);
        const third = m.chooseClass(chosen, byCode, "AF", false);
        return {first, second, third, chosen: [...chosen]};""",
    )
    assert result == {
        "first": ["SR"],
        "second": [],
        "third": [],
        "chosen": ["LBBB", "PVC"],
    }


@browser_test
def test_the_jobs_page_follows_the_apis_links_to_older_and_newer_jobs(
    browser, console, live_server, cast
):
    for i in range(55):
        Job.objects.create(
            kind="export",
            params={"format": "csv", "n": i},
            status="failed",
            error=f"job {i}",
            created_by=cast.manager,
        )
    page = open_page(browser, console, live_server, "manager")
    page.goto(f"{live_server.url}/jobs/")
    rows = page.locator("#jobs-body tr[data-job]")
    page.wait_for_function(
        "document.querySelectorAll('#jobs-body tr[data-job]').length === 50"
    )
    newest = rows.first.get_attribute("data-job")
    assert page.locator("#prev-page").is_disabled()
    page.get_by_role("button", name="Older →").click()
    page.wait_for_function(
        "document.querySelectorAll('#jobs-body tr[data-job]').length === 5"
    )
    assert page.locator("#next-page").is_disabled()
    older = set(rows.evaluate_all("(rs) => rs.map((r) => r.dataset.job)"))
    assert newest not in older
    page.reload()  # the address keeps the API's position
    page.wait_for_function(
        "document.querySelectorAll('#jobs-body tr[data-job]').length === 5"
    )
    page.get_by_role("button", name="← Newer").click()
    page.wait_for_function(
        "document.querySelectorAll('#jobs-body tr[data-job]').length === 50"
    )
    assert rows.first.get_attribute("data-job") == newest


@browser_test
def test_the_dashboard_of_forty_readers_draws_pairwise_kappa_as_one_heatmap(
    browser, console, live_server, cast, inline_tasks
):
    readers = [factories.make_user(f"r{i:02d}", "reader") for i in range(40)]
    exams = factories.make_exams(24)
    campaign = services.create_campaign(
        name="Forty readers",
        taxonomy=factories.default_taxonomy(),
        exams=exams,
        readers=readers,
        adjudicators=[cast.adjudicator],
        created_by=cast.manager,
        readers_per_exam=40,
    )
    codes = ["SR", "AF", "LVH", "RBBB", "PVC", "NORM"]
    factories.seed_reads(
        campaign,
        readers,
        lambda exam, reader: [codes[(exam + (reader % 3 == 0) * (exam % 2)) % 6]],
    )
    job = services.start_agreement_job(
        campaign=campaign, user=cast.manager, bootstrap=0
    )
    job.refresh_from_db()
    assert job.status == "succeeded"
    report = job.result

    page = open_page(browser, console, live_server, "manager")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    page.locator("#pair-chart .main-svg").first.wait_for()
    choice = page.locator("#pair-class").input_value()
    heatmap = page.evaluate(
        "() => { const t = document.getElementById('pair-chart').data[0];"
        " return {type: t.type, x: t.x, z: t.z}; }"
    )
    names = [r.username for r in readers]
    assert heatmap["type"] == "heatmap" and heatmap["x"] == names
    by_pair = (
        report["macro"]["cohen_kappa"]
        if choice == ":macro"
        else report["classes"][choice]["cohen_kappa"]
    )
    assert heatmap["z"][0][0] is None
    assert heatmap["z"][0][1] == pytest.approx(by_pair["r00|r01"])
    assert heatmap["z"][1][0] == heatmap["z"][0][1]

    # Another class: its matrix is drawn (fetched alone, not with the report).
    page.select_option("#pair-class", "AF")
    page.wait_for_function(
        "(k) => { const z = document.getElementById('pair-chart').data[0].z;"
        " return z[0][2] !== null && Math.abs(z[0][2] - k) < 1e-9; }",
        arg=report["classes"]["AF"]["cohen_kappa"]["r00|r02"],
    )
    # The page stays small: no column per pair of readers anywhere.
    assert "Cohen's κ r00" not in page.locator("#class-table").inner_text()
    assert page.locator("#pair-table tbody tr").count() == 10
    assert page.evaluate("document.querySelectorAll('*').length") < 8000
