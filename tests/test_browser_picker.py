"""The taxonomy picker on the labeling page, in Chromium: synonyms and accents in
the search, the keyboard round trip from the search back to the shortcuts, and the
taxonomy's exclusion rules as the reader picks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_browser_reading import (  # noqa: F401 (fixtures)
    NARROW,
    Tab,
    login,
    pilot,
)

pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHECKED = "(code) => document.getElementById('class-' + code).checked"
BEST = """() => {
    const best = document.querySelector('#taxonomy li.class.best');
    return best && {code: best.dataset.code,
                    synonym: best.querySelector('.synonym').textContent};
}"""


def search(tab: Tab, query: str) -> dict[str, Any]:
    """Type ``query`` in the search box; the class Enter would choose."""
    tab.page.fill("#class-search", query)
    return tab.page.evaluate(BEST)


def active(tab: Tab) -> str:
    return tab.page.evaluate(
        "document.activeElement.id || document.activeElement.tagName"
    )


def test_search_finds_synonyms_abbreviations_and_words_without_accents(pilot, login):
    tab = login("reader1", NARROW)
    tab.read(pilot)
    assert search(tab, "pacemaker") == {"code": "PACE", "synonym": "pacemaker"}
    assert search(tab, "brd") == {"code": "RBBB", "synonym": "BRD"}
    assert search(tab, "1avb") == {"code": "1dAVb", "synonym": "1avb"}
    assert search(tab, "fibrilacao") == {"code": "AF", "synonym": "fibrilação atrial"}
    assert search(tab, "BAIXA VOLTAGEM") == {
        "code": "LQRSV",
        "synonym": "baixa voltagem",
    }
    # Found by its code or name: no synonym shown.
    assert search(tab, "lbbb") == {"code": "LBBB", "synonym": ""}
    assert search(tab, "sinus rhythm") == {"code": "SR", "synonym": ""}
    shown = tab.page.evaluate(
        "[...document.querySelectorAll('#taxonomy li.class:not([hidden])')]"
        ".map((li) => li.dataset.code)"
    )
    assert shown[0] == "SR"
    tab.page.fill("#class-search", "")
    assert tab.page.evaluate(BEST) is None
    synonyms = tab.page.locator("#taxonomy .synonym").all_text_contents()
    assert set(synonyms) == {""}  # none left once the search is cleared


def test_a_class_picked_from_the_search_hands_the_keys_back_to_the_page(pilot, login):
    tab = login("reader1", NARROW)
    tab.read(pilot)
    keys = tab.page.keyboard
    keys.press("/")
    assert active(tab) == "class-search"
    keys.type("1avb")
    keys.press("Enter")
    assert tab.page.evaluate(CHECKED, "1dAVb")
    assert tab.page.input_value("#class-search") == ""
    assert active(tab) == "main"
    keys.press("s")  # a shortcut again, not a letter in the search
    assert tab.page.evaluate(CHECKED, "SR")
    assert tab.page.input_value("#class-search") == ""

    # Esc clears the search and leaves it.
    keys.press("/")
    keys.type("flutter")
    keys.press("Escape")
    assert tab.page.input_value("#class-search") == ""
    assert active(tab) != "class-search"
    assert not tab.page.evaluate(CHECKED, "AFL")
    keys.press("b")
    assert tab.page.evaluate(CHECKED, "SB")

    # A click on a search result does the same.
    tab.page.fill("#class-search", "bdas")
    tab.page.click("#taxonomy li.class.best label")
    assert tab.page.evaluate(CHECKED, "LAFB")
    assert tab.page.input_value("#class-search") == ""
    assert active(tab) == "main"


def test_the_picker_says_which_rule_a_pick_breaks_and_keeps_the_readers_set(
    pilot, login
):
    tab = login("reader1", NARROW)
    tab.read(pilot)
    result = tab.page.evaluate(
        """async (id) => {
            const { TaxonomyPicker } = await import(
                "/static/frontend/js/taxonomy-picker.js");
            const make = (tag) => document.body.appendChild(
                document.createElement(tag));
            const said = [];
            let entered = 0;
            const picker = new TaxonomyPicker({
                list: make("div"), search: make("input"), chosen: make("ul"),
                idPrefix: "t", announce: (m) => said.push(m),
                onEmptyEnter: () => entered++,
            });
            const response = await fetch(`/api/taxonomies/${id}/`);
            picker.setTaxonomy(await response.json());
            picker.toggle("NORM");
            picker.toggle("SR");
            const clean = picker.conflicts();
            picker.toggle("AF");  // replaces SR (one dominant rhythm)
            picker.toggle("1dAVb");
            picker.search.dispatchEvent(
                new KeyboardEvent("keydown", {key: "Enter", bubbles: true}));
            return {
                said, clean, codes: picker.codes, entered,
                conflicts: picker.conflicts(),
                marks: [...picker.chips.querySelectorAll(".chip")].map(
                    (chip) => [chip.querySelector(".code").textContent,
                               chip.className]),
            };
        }""",
        pilot.taxonomy_id,
    )
    norm_af = "Normal ECG (NORM) excludes Atrial fibrillation (AF); remove one."
    norm_avb = "Normal ECG (NORM) excludes First-degree AV block (1dAVb); remove one."
    af_avb = (
        "Atrial fibrillation (AF) usually excludes First-degree AV block (1dAVb); "
        "check that both apply."
    )
    assert result["clean"] == {"refused": [], "warnings": []}
    assert result["codes"] == ["NORM", "AF", "1dAVb"]  # as the reader made it
    assert result["conflicts"] == {"refused": [norm_af, norm_avb], "warnings": [af_avb]}
    assert norm_af in result["said"][2] and "replaces SR" in result["said"][2]
    assert result["said"][3] == (
        f"First-degree AV block (1dAVb) chosen. {norm_avb} {af_avb}"
    )
    assert result["marks"] == [
        ["NORM", "chip conflict"],
        ["AF", "chip conflict"],
        ["1dAVb", "chip conflict"],
    ]
    assert result["entered"] == 1  # Enter in the empty search
