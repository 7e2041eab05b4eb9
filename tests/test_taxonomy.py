"""The default 66-class taxonomy and loading other taxonomy files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from annotator.models import DiagnosticClass, TaxonomyVersion
from annotator.taxonomy import (
    COLUMNS,
    DEFAULT_TAXONOMY_FILE,
    TaxonomyError,
    load_default_taxonomy,
    parse_taxonomy_file,
)

# The CODE-15% six with the PhysioNet Challenge 2020/21 SNOMED CT codes.
CODE15_SIX = {
    "1dAVb": "270492004",
    "RBBB": "59118001",
    "LBBB": "164909002",
    "SB": "426177001",
    "AF": "164889003",
    "ST": "427084000",
}
GROUPS = {
    "Overall",
    "Rhythm",
    "AV conduction",
    "Intraventricular conduction",
    "Ischemia / infarction",
    "Repolarization",
    "Chamber overload",
    "Axis and voltage",
    "Pacing",
    "Other / technical",
}


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    columns = list(COLUMNS)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def test_default_taxonomy_has_66_unique_classes_with_definitions():
    specs = parse_taxonomy_file(DEFAULT_TAXONOMY_FILE)
    assert len(specs) == 66
    assert len({s.code for s in specs}) == 66
    assert all(s.definition and s.name for s in specs)
    assert {s.group for s in specs} == GROUPS


def test_default_taxonomy_has_normal_and_code15_six_with_challenge_snomed_codes():
    by_code = {s.code: s for s in parse_taxonomy_file(DEFAULT_TAXONOMY_FILE)}
    assert by_code["NORM"].name == "Normal ECG"
    for code, snomed in CODE15_SIX.items():
        assert by_code[code].snomed_ct == snomed, code


def test_default_taxonomy_declares_one_dominant_rhythm():
    specs = parse_taxonomy_file(DEFAULT_TAXONOMY_FILE)
    rhythm = {s.code for s in specs if s.exclusive_group == "dominant_rhythm"}
    assert {"SR", "SB", "ST", "AF", "AFL"} <= rhythm
    assert "PVC" not in rhythm  # ectopy co-exists with any rhythm


@pytest.mark.django_db
def test_database_holds_the_default_taxonomy_in_file_order():
    taxonomy = load_default_taxonomy()
    specs = parse_taxonomy_file(DEFAULT_TAXONOMY_FILE)
    assert taxonomy.codes() == [s.code for s in specs]
    mobitz = DiagnosticClass.objects.get(taxonomy=taxonomy, code="MOBI")
    assert mobitz.parent.code == "2AVB"
    before = TaxonomyVersion.objects.count()
    assert load_default_taxonomy() == taxonomy
    assert TaxonomyVersion.objects.count() == before  # loading again adds nothing


@pytest.mark.django_db
def test_load_taxonomy_command_loads_a_csv_as_a_new_version(tmp_path, capsys):
    path = write_csv(
        tmp_path / "mini.csv",
        [
            {"code": "NORM", "name": "Normal", "group": "Overall"},
            {
                "code": "AF",
                "name": "Atrial fibrillation",
                "group": "Rhythm",
                "snomed_ct": "164889003",
                "shortcut": "a",
            },
            {"code": "AFL", "name": "Flutter", "group": "Rhythm", "parent": "AF"},
        ],
    )
    call_command("load_taxonomy", str(path), "--name", "Mini", "--tv", "2")
    taxonomy = TaxonomyVersion.objects.get(name="Mini", version="2")
    assert taxonomy.codes() == ["NORM", "AF", "AFL"]
    assert taxonomy.classes.get(code="AFL").parent.code == "AF"
    assert "3 classes" in capsys.readouterr().out
    call_command("load_taxonomy", str(path), "--name", "Mini", "--tv", "2")
    assert TaxonomyVersion.objects.filter(name="Mini").count() == 1


@pytest.mark.django_db
def test_load_taxonomy_accepts_json(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            {
                "classes": [
                    {"code": "A", "name": "Alpha", "group": "G", "snomed_ct": None},
                ]
            }
        )
    )
    call_command("load_taxonomy", str(path), "--name", "J")
    assert TaxonomyVersion.objects.get(name="J").codes() == ["A"]


BAD_ROWS = [
    ([{"code": "", "name": "x", "group": "g"}], "row 2: 'code' is empty"),
    (
        [
            {"code": "A", "name": "x", "group": "g"},
            {"code": "A", "name": "y", "group": "g"},
        ],
        "row 3: code 'A' repeats row 2",
    ),
    ([{"code": "A B", "name": "x", "group": "g"}], "row 2: code 'A B'"),
    (
        [{"code": "A", "name": "x", "group": "g", "snomed_ct": "12ab"}],
        "row 2: SNOMED CT code '12ab'",
    ),
    ([{"code": "A", "name": "x", "group": "g", "parent": "Z"}], "row 2: parent 'Z'"),
    (
        [
            {"code": "A", "name": "x", "group": "g", "shortcut": "a"},
            {"code": "B", "name": "y", "group": "g", "shortcut": "a"},
        ],
        "row 3: shortcut 'a' is already used by A",
    ),
    ([{"code": "A", "name": "", "group": "g"}], "row 2: 'name' is empty"),
    (
        [{"code": "A", "name": "x", "group": "g", "shortcut": "C"}],
        "row 2: shortcut 'C' must be one lower-case letter or digit",
    ),
    (
        [{"code": "A", "name": "x", "group": "g", "shortcut": "+"}],
        "row 2: shortcut '+' must be one lower-case",
    ),
    (
        [{"code": "A", "name": "x", "group": "g", "shortcut": "ab"}],
        "row 2: shortcut 'ab' must be one",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("rows", "message"), BAD_ROWS)
def test_load_taxonomy_names_the_bad_row_and_stores_nothing(tmp_path, rows, message):
    path = write_csv(tmp_path / "bad.csv", rows)
    before = TaxonomyVersion.objects.count()
    with pytest.raises(CommandError) as error:
        call_command("load_taxonomy", str(path), "--name", "Bad")
    assert message in str(error.value)
    assert "bad.csv" in str(error.value)
    assert TaxonomyVersion.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,group\nx,y\n", "missing column(s) code"),
        ("code,name,group\n", "no classes"),
        ("{not json", "not valid JSON"),
    ],
)
def test_load_taxonomy_rejects_malformed_files(tmp_path, content, message):
    suffix = ".json" if content.startswith("{") else ".csv"
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(
        CommandError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        call_command("load_taxonomy", str(path), "--name", "Bad")
    assert not TaxonomyVersion.objects.filter(name="Bad").exists()


@pytest.mark.django_db
def test_same_name_and_version_with_other_classes_is_refused(tmp_path):
    first = write_csv(tmp_path / "a.csv", [{"code": "A", "name": "x", "group": "g"}])
    second = write_csv(tmp_path / "b.csv", [{"code": "B", "name": "y", "group": "g"}])
    call_command("load_taxonomy", str(first), "--name", "T")
    with pytest.raises(CommandError, match="already exists with different classes"):
        call_command("load_taxonomy", str(second), "--name", "T")
    assert TaxonomyVersion.objects.get(name="T").codes() == ["A"]


@pytest.mark.django_db
def test_a_frozen_taxonomy_cannot_be_edited():
    taxonomy = load_default_taxonomy()
    taxonomy.freeze()
    af = taxonomy.classes.get(code="AF")
    af.name = "Something else"
    with pytest.raises(ValidationError, match="frozen"):
        af.save()
    assert taxonomy.classes.get(code="AF").name == "Atrial fibrillation"


def test_parse_reports_unreadable_file(tmp_path):
    with pytest.raises(TaxonomyError, match="cannot read"):
        parse_taxonomy_file(tmp_path / "missing.csv")
