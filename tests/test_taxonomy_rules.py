"""Class synonyms and exclusion rules: the taxonomy file's columns, their expansion
into pairs, the default taxonomy's rules, and reads that break them."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator import services
from annotator.models import Decision, TaxonomyVersion
from annotator.models.taxonomy import ExclusionRule, expand_exclusions
from annotator.services import InvalidLabels
from annotator.taxonomy import (
    DEFAULT_TAXONOMY_FILE,
    DEFAULT_TAXONOMY_NAME,
    DEFAULT_TAXONOMY_VERSION,
    TaxonomyError,
    load_default_taxonomy,
    load_taxonomy,
    parse_taxonomy_file,
)
from tests import factories
from tests.test_taxonomy import write_csv

# A small file to vary: three rhythms, a block, two voltages.
MINI = [
    {"code": "NORM", "name": "Normal ECG", "group": "Overall"},
    {"code": "SR", "name": "Sinus rhythm", "group": "Rhythm"},
    {"code": "AF", "name": "Atrial fibrillation", "group": "Rhythm"},
    {"code": "AVB1", "name": "First-degree AV block", "group": "AV"},
    {"code": "LOW", "name": "Low QRS voltage", "group": "Voltage"},
    {"code": "HIGH", "name": "High QRS voltage", "group": "Voltage"},
]


def mini(**changes: dict[str, str]) -> list[dict[str, str]]:
    """MINI with some rows' columns changed, by code."""
    return [{**row, **changes.get(row["code"], {})} for row in MINI]


def tax(code: str, excludes: str, exclusion: str = "") -> tuple[str, str, str]:
    return (code, excludes, exclusion)


# --- The file's columns -------------------------------------------------------------

BAD_RULES = [
    (
        mini(NORM={"excludes": "AF ZZZ"}),
        "row 2: excludes 'ZZZ', which is not a class of the file",
    ),
    (mini(AF={"excludes": "AF"}), "row 4: a class cannot exclude itself"),
    (mini(NORM={"excludes": "* -NORM"}), "row 2: a class cannot exclude itself"),
    (mini(NORM={"excludes": "AF *"}), "row 2: '*' in excludes must come first"),
    (
        mini(NORM={"excludes": "-SR"}),
        "row 2: excludes '-SR' is an exception to '*', so it must follow '*'",
    ),
    (
        mini(NORM={"excludes": "* AF"}),
        "row 2: excludes 'AF' after '*' (every other class) is redundant",
    ),
    (mini(LOW={"excludes": "HIGH HIGH"}), "row 6: excludes names 'HIGH' twice"),
    (
        mini(LOW={"excludes": "HIGH", "exclusion": "maybe"}),
        "row 6: exclusion 'maybe' must be 'refuse', 'warn' or empty",
    ),
    (
        mini(LOW={"exclusion": "warn"}),
        "row 6: exclusion 'warn' is given but excludes is empty",
    ),
    (mini(AF={"synonyms": "afib||fa"}), "row 4: synonym 2 is empty"),
    (mini(AF={"synonyms": "afib| "}), "row 4: synonym 2 is empty"),
    (
        mini(AF={"synonyms": "x" * 101}),
        "row 4: synonym 'xxxxxxxxxxxxxxxxxxxx'… is longer than 100 characters",
    ),
    (
        mini(AF={"synonyms": "afib|fibrilação atrial|AFib"}),
        "row 4: synonym 'AFib' is given twice",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("rows", "message"), BAD_RULES)
def test_load_taxonomy_names_the_bad_rule_or_synonym_and_stores_nothing(
    tmp_path, rows, message
):
    path = write_csv(tmp_path / "rules.csv", rows)
    before = TaxonomyVersion.objects.count()
    with pytest.raises(CommandError) as error:
        call_command("load_taxonomy", str(path), "--name", "Bad")
    assert message in str(error.value)
    assert "rules.csv" in str(error.value)
    assert TaxonomyVersion.objects.count() == before


@pytest.mark.django_db
def test_json_synonyms_must_be_strings(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps([{"code": "A", "name": "Alpha", "group": "G", "synonyms": [1]}])
    )
    with pytest.raises(TaxonomyError, match=r"t.json, row 1: synonyms must be a list"):
        load_taxonomy(path, name="J", version="1")
    assert not TaxonomyVersion.objects.filter(name="J").exists()


@pytest.mark.django_db
def test_a_csv_loads_synonyms_and_rules_and_expands_them_into_pairs(tmp_path):
    rows = mini(
        NORM={"excludes": "* -SR", "exclusion": "refuse"},
        AF={"synonyms": " afib | fibrilação atrial ", "excludes": "AVB1"},
        AVB1={"excludes": "AF", "exclusion": "warn"},
        LOW={"excludes": "HIGH", "exclusion": "warn"},
    )
    taxonomy = load_taxonomy(
        write_csv(tmp_path / "t.csv", rows), name="Rules", version="1"
    )
    af = taxonomy.classes.get(code="AF")
    assert af.synonyms == ["afib", "fibrilação atrial"]
    assert (af.excludes, af.exclusion) == ("AVB1", "")
    assert taxonomy.exclusion_rules() == [
        ("NORM", "AF", "refuse"),
        ("NORM", "AVB1", "refuse"),
        ("NORM", "LOW", "refuse"),
        ("NORM", "HIGH", "refuse"),
        ("AF", "AVB1", "refuse"),  # named twice: the stricter rule
        ("LOW", "HIGH", "warn"),
    ]


@pytest.mark.django_db
def test_json_synonyms_are_a_list_or_a_bar_separated_string(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            {
                "classes": [
                    {"code": "A", "name": "Alpha", "group": "G", "synonyms": ["a1"]},
                    {"code": "B", "name": "Beta", "group": "G", "synonyms": "b1|b2"},
                    {"code": "C", "name": "Gamma", "group": "G", "excludes": "A B"},
                ]
            }
        )
    )
    taxonomy = load_taxonomy(path, name="J", version="1")
    synonyms = dict(taxonomy.classes.values_list("code", "synonyms"))
    assert synonyms == {"A": ["a1"], "B": ["b1", "b2"], "C": []}
    assert taxonomy.exclusion_rules() == [("C", "A", "refuse"), ("C", "B", "refuse")]


@pytest.mark.django_db
def test_loading_the_same_rules_again_is_a_no_op_and_other_rules_are_refused(
    tmp_path,
):
    rows = mini(AF={"synonyms": "afib", "excludes": "AVB1", "exclusion": "warn"})
    path = write_csv(tmp_path / "t.csv", rows)
    first = load_taxonomy(path, name="T", version="1")
    assert load_taxonomy(path, name="T", version="1") == first
    for change in (
        {"synonyms": "afib|FA"},
        {"excludes": "AVB1 SR"},
        {"exclusion": "refuse"},
    ):
        other = write_csv(tmp_path / "other.csv", mini(AF={**rows[2], **change}))
        with pytest.raises(TaxonomyError, match="already exists with different"):
            load_taxonomy(other, name="T", version="1")
    assert TaxonomyVersion.objects.filter(name="T").count() == 1


# --- Expansion ----------------------------------------------------------------------


def test_a_rule_makes_a_symmetric_pair_and_the_stricter_of_two_wins():
    rules = expand_exclusions(
        [
            tax("A", "* -C"),
            tax("B", "D", "warn"),
            tax("C", ""),
            tax("D", "B A", "warn"),
        ]
    )
    assert rules == (
        ExclusionRule("A", "B", "refuse"),
        ExclusionRule("A", "D", "refuse"),  # D's warning loses to A's refusal
        ExclusionRule("B", "D", "warn"),  # named by both: once, by the first
    )


@pytest.mark.django_db
def test_a_frozen_taxonomys_rules_are_read_once(django_assert_num_queries):
    taxonomy = load_default_taxonomy()
    taxonomy.freeze()
    taxonomy.exclusion_rules()
    fresh = TaxonomyVersion.objects.get(pk=taxonomy.pk)
    with django_assert_num_queries(0):
        assert fresh.exclusion_rules() == taxonomy.exclusion_rules()
        fresh.codes()
        fresh.class_names()


# --- The default taxonomy -----------------------------------------------------------


def default_rules() -> dict[frozenset[str], str]:
    specs = parse_taxonomy_file(DEFAULT_TAXONOMY_FILE)
    rules = expand_exclusions((s.code, s.excludes, s.exclusion) for s in specs)
    return {frozenset((r.a, r.b)): r.severity for r in rules}


def test_every_default_class_has_synonyms_in_english_and_portuguese():
    by_code = {s.code: s for s in parse_taxonomy_file(DEFAULT_TAXONOMY_FILE)}
    assert all(len(s.synonyms) >= 3 for s in by_code.values())
    expected = {
        "1dAVb": {"1avb", "first degree", "BAV 1º grau", "PR longo"},
        "RBBB": {"BRD", "bloqueio de ramo direito"},
        "AF": {"afib", "a fib", "fibrilação atrial", "FA"},
        "LQT": {"long QT", "QT longo"},
        "QAB": {"infarct", "old MI", "área inativa", "zona eletricamente inativa"},
        "LQRSV": {"low voltage", "baixa voltagem"},
        "PACE": {"pacemaker", "marcapasso"},
        "LAFB": {"LAHB", "BDAS", "bloqueio divisional anterossuperior"},
        "LVH": {"SVE", "sobrecarga ventricular esquerda"},
        "PVC": {"ESV", "extrassístole ventricular"},
        "PAC": {"ESSV", "extrassístole supraventricular"},
        "STE": {"supradesnivelamento de ST"},
        "STD": {"infradesnivelamento de ST"},
    }
    for code, words in expected.items():
        assert words <= set(by_code[code].synonyms), code


def test_default_rules_refuse_contradictions_and_warn_on_the_unlikely():
    rules = default_rules()
    pair = frozenset
    assert rules[pair(("NORM", "AF"))] == "refuse"
    assert rules[pair(("NORM", "LBBB"))] == "refuse"
    assert pair(("NORM", "SR")) not in rules
    assert pair(("NORM", "SA")) not in rules
    assert rules[pair(("SPR", "1dAVb"))] == "refuse"
    assert rules[pair(("LQRSV", "HVOLT"))] == "refuse"
    for other in ("1dAVb", "SPR", "PAC", "SA"):
        assert rules[pair(("AF", other))] == "warn"
        assert rules[pair(("AFL", other))] == "warn"
    assert rules[pair(("3AVB", "1dAVb"))] == "warn"
    for other in ("RBBB", "IRBBB", "LAFB", "LPFB", "IVCD"):
        assert rules[pair(("LBBB", other))] == "warn"
    # Pairs of one exclusive group are already refused by it, never restated.
    specs = parse_taxonomy_file(DEFAULT_TAXONOMY_FILE)
    group = {s.code: s.exclusive_group for s in specs}
    for codes in rules:
        a, b = sorted(codes)
        if a != "NORM" and b != "NORM":
            assert not group[a] or group[a] != group[b], (a, b)


@pytest.mark.django_db
def test_the_default_taxonomy_is_version_1_1_beside_the_1_0_already_stored():
    taxonomy = load_default_taxonomy()
    assert (taxonomy.name, taxonomy.version) == (DEFAULT_TAXONOMY_NAME, "1.1")
    assert DEFAULT_TAXONOMY_VERSION == "1.1"
    assert taxonomy.classes.get(code="RBBB").synonyms
    # Databases migrated before synonyms and rules keep 1.0 as it was.
    old = TaxonomyVersion.objects.filter(name=DEFAULT_TAXONOMY_NAME, version="1.0")
    if old.exists():
        assert old.get().codes() == taxonomy.codes()
        assert old.get().exclusion_rules() == []


# --- Reads --------------------------------------------------------------------------


@pytest.fixture
def campaign(cast):
    return factories.make_campaign(cast, factories.make_exams(2))


def reader_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user)}")
    return client


def submit(client: APIClient, campaign, labels: list[str]):
    claim = client.post(f"/api/campaigns/{campaign.pk}/next/").json()
    return client.post(
        f"/api/assignments/{claim['assignment']}/decision/",
        {"labels": labels, "quality": [], "comment": "", "duration_ms": 900},
        format="json",
    )


def test_a_read_breaking_a_hard_rule_is_refused_naming_both_classes(cast, campaign):
    response = submit(reader_client(cast.reader1), campaign, ["NORM", "AF"])
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Normal ECG (NORM) excludes Atrial fibrillation (AF); remove one."
    )
    assert Decision.objects.count() == 0


def test_every_hard_pair_of_a_read_is_named(cast, campaign):
    with pytest.raises(InvalidLabels) as error:
        services.clean_labels(campaign, ["1dAVb", "SPR", "HVOLT", "LQRSV"])
    assert str(error.value) == (
        "Short PR interval (SPR) excludes First-degree AV block (1dAVb); remove one. "
        "Low QRS voltage (LQRSV) excludes High QRS voltage (HVOLT); remove one."
    )


def test_a_read_with_a_warned_pair_is_accepted(cast, campaign):
    response = submit(reader_client(cast.reader1), campaign, ["AF", "1dAVb"])
    assert response.status_code == 201, response.content
    assert Decision.objects.get().labels == ["AF", "1dAVb"]


def test_the_taxonomy_endpoint_gives_synonyms_and_the_expanded_rules(cast, campaign):
    response = reader_client(cast.reader1).get(
        f"/api/taxonomies/{campaign.taxonomy_id}/"
    )
    assert response.status_code == 200
    body = response.json()
    classes = {c["code"]: c for c in body["classes"]}
    assert "BRD" in classes["RBBB"]["synonyms"]
    assert classes["NORM"]["excludes"] == "* -SR -SA"
    assert {"a": "NORM", "b": "AF", "severity": "refuse"} in body["rules"]
    assert {"a": "AF", "b": "1dAVb", "severity": "warn"} in body["rules"]
    assert len(body["rules"]) == len(campaign.taxonomy.exclusion_rules())
    assert not any(r["a"] == "NORM" and r["b"] == "SR" for r in body["rules"])


def test_an_adjudication_breaking_a_hard_rule_is_refused(cast, campaign):
    for reader, labels in ((cast.reader1, ["SR"]), (cast.reader2, ["AF"])):
        claim = services.claim_next(campaign=campaign, reader=reader)
        services.submit_decision(assignment=claim, reader=reader, labels=labels)
    with pytest.raises(InvalidLabels, match=r"Normal ECG \(NORM\) excludes"):
        services.adjudicate(
            campaign=campaign,
            exam=claim.exam,
            adjudicator=cast.adjudicator,
            labels=["NORM", "PVC"],
        )
    assert not campaign.adjudications.exists()
