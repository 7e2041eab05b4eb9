"""A complete read in headless Chromium: back and edit, drafts, two tabs, My reads,
quality-flag keys and the end of a campaign."""

from __future__ import annotations

from typing import Any

import pytest

from annotator import services
from annotator.models import Decision, LabelRevision
from tests import factories
from tests.test_browser_reading import (  # noqa: F401 (fixtures)
    NARROW,
    Tab,
    ecg_exam,
    login,
    save_png,
    shots,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BANNER = "#edit-banner"


@pytest.fixture
def three(cast):
    """Three synthetic exams, two readers per exam."""
    exams = [ecg_exam(f"E-{i}", i) for i in range(1, 4)]
    return factories.make_campaign(cast, exams, name="Three")


def title(tab: Tab) -> str:
    return tab.page.inner_text("#exam-title")


def submit_with(tab: Tab, keys: list[str], draws: int) -> None:
    """Press class shortcuts then Enter; wait for the next exam's draw."""
    for key in keys:
        tab.page.keyboard.press(key)
    tab.page.keyboard.press("Enter")
    tab.drawn(draws)


def chosen(tab: Tab) -> list[str]:
    return tab.page.eval_on_selector_all(
        "#chosen .chip", "nodes => nodes.map(n => n.dataset.code || n.textContent)"
    )


def read_of(reader: Any, exam_key: str) -> Decision:
    return Decision.objects.get(
        reader=reader, assignment__exam_id=int(exam_key.split("#")[1].split()[0])
    )


def test_previous_read_reopens_a_read_saves_an_edit_and_reading_goes_on(
    three, cast, login, shots
):
    tab = login("reader1", NARROW)
    tab.read(three)
    first = title(tab)
    submit_with(tab, ["n"], 2)
    second = title(tab)
    submit_with(tab, ["s"], 3)
    third = title(tab)
    assert len({first, second, third}) == 3

    tab.page.get_by_role("button", name="Previous read").click()
    tab.drawn(4)
    banner = tab.page.locator(BANNER)
    banner.wait_for(state="visible")
    assert second.split()[-1] in banner.inner_text()
    tab.page.keyboard.press("Backspace")  # one further back
    tab.drawn(5)
    tab.page.wait_for_function(
        "(key) => document.querySelector('#edit-text').textContent.includes(key)",
        arg=first.split()[-1],
    )
    assert title(tab) == first
    assert tab.page.inner_text("#submit") == "Save changes"
    assert tab.page.locator("#chosen .chip").count() == 1
    save_png(tab.page, shots / "read-edit-1366.png")

    tab.page.keyboard.press("s")  # add sinus rhythm to the first read
    tab.page.keyboard.press("Enter")
    tab.drawn(6)
    banner.wait_for(state="hidden")
    assert title(tab) == third  # back where the reader was
    tab.page.wait_for_function(
        "() => document.querySelector('#status').textContent.includes('version 2')"
    )

    decision = read_of(cast.reader1, first)
    assert decision.version == 2 and decision.labels == ["NORM", "SR"]
    history = LabelRevision.objects.filter(decision=decision).order_by("version")
    assert [r.new_labels for r in history] == [["NORM"], ["NORM", "SR"]]
    # The exam on screen is still the claimed one: submitting reads it.
    tab.page.keyboard.press("b")
    tab.page.keyboard.press("Enter")
    tab.page.locator("#done").wait_for(state="visible")
    assert read_of(cast.reader1, third).labels == ["SB"]
    assert tab.errors == []


def test_esc_leaves_a_reopened_read_unchanged(three, cast, login):
    tab = login("reader1")
    tab.read(three)
    first = title(tab)
    submit_with(tab, ["n"], 2)
    second = title(tab)
    tab.page.keyboard.press("Backspace")
    tab.drawn(3)
    tab.page.keyboard.press("s")
    tab.page.keyboard.press("Escape")
    tab.drawn(4)
    tab.page.locator(BANNER).wait_for(state="hidden")
    assert title(tab) == second
    assert read_of(cast.reader1, first).version == 1
    assert tab.page.inner_text("#submit") == "Submit and next"
    assert tab.errors == []


def test_a_settled_read_opens_read_only_with_the_reason(three, cast, login):
    tab = login("reader1")
    tab.read(three)
    first = title(tab)
    submit_with(tab, ["n"], 2)
    # reader2 reads the same exam: every read of it is in, the read locks.
    exam = read_of(cast.reader1, first).assignment.exam
    assignment = services.claim_next(campaign=three, reader=cast.reader2)
    assert assignment.exam_id == exam.pk
    services.submit_decision(assignment=assignment, reader=cast.reader2, labels=["AF"])
    tab.page.keyboard.press("Backspace")
    tab.drawn(3)
    banner = tab.page.locator(BANNER)
    banner.wait_for(state="visible")
    assert services.READS_COMPLETE in banner.inner_text()
    assert tab.page.locator("#submit").is_disabled()
    assert tab.page.evaluate("document.getElementById('panel-body').inert")
    # Nothing the reader was shown tells them how the other reader read.
    assert "AF" not in banner.inner_text()
    assert tab.errors == []


def test_a_reload_brings_back_what_was_ticked_and_a_submit_clears_it(
    three, cast, login
):
    tab = login("reader1")
    tab.read(three)
    first = title(tab)
    tab.page.keyboard.press("n")
    tab.page.keyboard.press("Shift+Digit1")  # noise
    tab.page.fill("#comment", "baseline wander in V1")
    tab.page.locator("#chosen-quality .chip").wait_for()
    tab.page.wait_for_timeout(400)  # past the draft's save delay
    tab.page.reload()
    tab.drawn(1)
    assert title(tab) == first
    tab.page.wait_for_function(
        "() => document.querySelectorAll('#chosen .chip').length === 1"
    )
    assert tab.page.locator("input[name=quality][value=noise]").is_checked()
    assert tab.page.input_value("#comment") == "baseline wander in V1"
    assert "Noise" in tab.page.inner_text("#chosen-quality")

    tab.page.locator("#main").focus()
    tab.page.keyboard.press("Enter")
    tab.drawn(2)
    # The next exam is drawn while the decision travels; the draft goes once the
    # page has the server's answer (it stays if the read was not stored), so
    # the stored read is looked at only after that.
    tab.page.wait_for_function(
        "() => !Object.keys(localStorage)"
        ".some((k) => k.startsWith('ecg-annotator.draft.'))"
    )
    decision = read_of(cast.reader1, first)
    assert decision.labels == ["NORM"] and decision.quality == ["noise"]
    assert decision.comment == "baseline wander in V1"
    # The next exam starts clean.
    assert tab.page.locator("#chosen .chip").count() == 0
    assert tab.page.input_value("#comment") == ""
    assert tab.errors == []


def test_a_second_tab_submitting_the_same_exam_moves_on_in_plain_words(
    three, cast, login
):
    one, two = login("reader1"), login("reader1")
    one.read(three)
    two.read(three)
    assert title(one) == title(two)  # the reader's one open claim
    first = title(one)
    submit_with(one, ["n"], 2)
    two.page.keyboard.press("a")
    two.page.keyboard.press("Enter")
    two.drawn(2)
    two.page.wait_for_function(
        "() => document.querySelector('#status').textContent.includes('another tab')"
    )
    assert title(two) != first
    assert two.page.locator("#alert").is_hidden()
    body = two.page.inner_text("body")
    assert "PUT" not in body and "/api/" not in body
    assert read_of(cast.reader1, first).labels == ["NORM"]  # the first tab's read
    # The browser logs the refused request itself; the page adds nothing.
    two.errors[:] = [e for e in two.errors if "status of 409" not in e]
    assert two.errors == []
    assert one.errors == []


def test_an_error_is_said_without_taking_the_keys_away(three, login):
    tab = login("reader1")
    tab.read(three)
    tab.page.locator("#main").focus()
    tab.page.keyboard.press("Enter")  # nothing chosen
    alert = tab.page.locator("#alert")
    alert.wait_for(state="visible")
    assert "Choose at least one class" in alert.inner_text()
    assert tab.page.evaluate("document.activeElement.id") != "class-search"
    tab.page.keyboard.press("n")  # still a shortcut
    assert tab.page.locator("#chosen .chip").count() == 1
    assert tab.errors == []


def test_my_reads_lists_finds_and_reopens_a_read(three, cast, login, shots):
    tab = login("reader1", NARROW)
    tab.read(three)
    first = title(tab)
    submit_with(tab, ["s"], 2)
    second = title(tab)
    submit_with(tab, ["n"], 3)
    current = title(tab)

    tab.page.get_by_role("link", name="My reads").click()
    tab.page.wait_for_url("**/mine/")
    rows = tab.page.locator("#reads-body tr")
    tab.page.wait_for_function(
        "() => document.getElementById('reads-body')?.getAttribute('aria-busy') === "
        "'false'"
    )
    assert rows.count() == 2
    keys = [k.split()[-1] for k in (second, first)]
    assert [rows.nth(i).locator("th").inner_text() for i in range(2)] == keys
    save_png(tab.page, shots / "my-reads-1366.png")
    tab.page.fill("input[name=q]", keys[1])
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_function(
        "() => document.querySelectorAll('#reads-body tr').length === 1"
    )
    tab.page.get_by_role("link", name=f"Open your read of exam {keys[1]}").click()
    tab.page.locator(BANNER).wait_for(state="visible")
    tab.drawn(1)
    assert title(tab) == first
    assert "decision=" not in tab.page.url  # the address goes back to reading
    tab.page.keyboard.press("p")
    tab.page.keyboard.press("Enter")
    tab.page.locator(BANNER).wait_for(state="hidden")
    tab.drawn(2)
    assert title(tab) == current
    assert read_of(cast.reader1, first).labels == ["SR", "PAC"]
    assert tab.errors == []


def test_all_done_clears_and_hides_the_label_panel(cast, login):
    one = factories.make_campaign(cast, [ecg_exam("E-1", 1)], name="One")
    tab = login("reader1")
    tab.read(one)
    tab.page.keyboard.press("n")
    tab.page.keyboard.press("Enter")
    tab.page.locator("#done").wait_for(state="visible")
    assert tab.page.locator("#decision").is_hidden()
    assert tab.page.locator("#chosen .chip").count() == 0
    assert tab.errors == []


def test_a_hard_rule_is_refused_with_its_message_and_nothing_is_sent(
    three, cast, login
):
    tab = login("reader1")
    tab.read(three)
    tab.page.keyboard.press("n")  # Normal ECG
    tab.page.keyboard.press("a")  # atrial fibrillation: Normal ECG excludes it
    tab.page.locator("#main").focus()
    tab.page.keyboard.press("Enter")
    alert = tab.page.locator("#alert")
    alert.wait_for(state="visible")
    text = alert.inner_text()
    assert "Normal ECG (NORM)" in text and "Atrial fibrillation (AF)" in text
    assert Decision.objects.count() == 0
    assert tab.draws() == 1  # still on the same exam
    assert tab.errors == []


def test_a_warning_is_sent_only_once_the_reader_confirms_it(three, cast, login):
    tab = login("reader1")
    tab.read(three)
    first = title(tab)
    answers = iter([False, True])
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        (dialog.accept if next(answers) else dialog.dismiss)()

    tab.page.on("dialog", answer)
    tab.page.keyboard.press("a")  # atrial fibrillation
    tab.page.keyboard.press("p")  # atrial premature complexes: a warning with AF
    tab.page.locator("#main").focus()
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_function(
        "() => document.querySelector('#alert').textContent.includes('confirm')"
    )
    assert Decision.objects.count() == 0
    tab.page.keyboard.press("Enter")
    tab.drawn(2)
    assert len(asked) == 2 and "(AF)" in asked[0] and "(PAC)" in asked[0]
    # The next ECG can be on screen before the submission's answer is back
    # (it was fetched ahead): wait for the read itself, not only the page.
    for _ in range(50):
        if Decision.objects.filter(reader=cast.reader1).exists():
            break
        tab.page.wait_for_timeout(100)
    assert read_of(cast.reader1, first).labels == ["AF", "PAC"]
    assert tab.errors == []


def test_search_then_shortcut_then_enter_in_the_empty_search_by_keyboard_alone(
    three, cast, login
):
    tab = login("reader1")
    tab.read(three)
    first = title(tab)
    keys = tab.page.keyboard
    keys.press("/")
    keys.type("brd")  # Portuguese abbreviation of right bundle branch block
    keys.press("Enter")
    keys.press("s")  # a shortcut again: sinus rhythm
    keys.press("/")
    keys.press("Enter")  # the empty search submits
    tab.drawn(2)
    assert read_of(cast.reader1, first).labels == ["SR", "RBBB"]
    assert tab.errors == []
