"""Ages are shown one way: "90+" at the cap, through one function per language.

The data keeps ages capped at ``AGE_CAP`` (90, meaning "90 or older"). Pages
and the admin show them through ``age_text`` (Python) and ``ageText`` (dom.js);
the API and the exports keep the number.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from annotator.models import AGE_CAP, Exam, age_text
from tests import factories

JS = Path(__file__).resolve().parent.parent / "frontend" / "static" / "frontend" / "js"


@pytest.mark.parametrize(
    ("age", "shown"), [(None, ""), (0, "0"), (63, "63"), (89, "89"), (90, "90+")]
)
def test_an_age_at_the_cap_reads_90_plus(age, shown):
    assert age_text(age) == shown
    assert Exam(age=age).age_text == shown


def test_the_pages_scripts_cap_where_the_model_does():
    dom = (JS / "dom.js").read_text()
    assert re.search(rf"export const AGE_CAP = {AGE_CAP};", dom)


def test_no_page_script_formats_an_age_of_its_own():
    for script in sorted(JS.glob("*.js")):
        if script.name == "dom.js":
            continue
        text = script.read_text()
        # The age reaches the screen only through ageText (dom.js).
        assert not re.search(r"\.age\b(?!Text)", text), script.name
        assert "≥90" not in text and "90+" not in text, script.name


def test_the_admin_shows_an_age_at_the_cap_as_90_plus(cast):
    old = factories.make_exam("OLD", age=AGE_CAP)
    factories.make_exam("YOUNG", age=42)
    client = Client()
    client.force_login(cast.manager)
    cast.manager.is_staff = cast.manager.is_superuser = True
    cast.manager.save()
    listed = client.get("/admin/annotator/exam/").content.decode()
    cells = re.findall(r'<td class="field-age_shown">([^<]*)</td>', listed)
    assert sorted(cells) == ["42", "90+"]
    page = client.get(f"/admin/annotator/exam/{old.pk}/change/").content.decode()
    assert "90+" in page
    assert not re.search(r'<div class="readonly">\s*90\s*</div>', page)


def test_the_api_keeps_the_stored_number(cast):
    exam = factories.make_exam("OLD", age=AGE_CAP)
    client = Client()
    client.force_login(cast.manager)
    assert client.get(f"/api/exams/{exam.pk}/").json()["age"] == AGE_CAP
