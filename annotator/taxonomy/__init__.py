"""Taxonomy files: parse and validate a class table, and load it as a new version.

A taxonomy file is a CSV (or JSON list of objects) with the columns
``code, name, group, parent, snomed_ct, shortcut, exclusive_group, definition,
synonyms, excludes, exclusion``; only ``code``, ``name`` and ``group`` are
required. Row order is display order.

``synonyms`` are other words a reader may search for, separated by ``|`` (in JSON
also a list of strings). ``excludes`` names the classes that cannot be chosen with
this one, space-separated; ``*`` (first) means every other class and ``-CODE``
after it an exception. ``exclusion`` says how: ``refuse`` (the default) or ``warn``
(the reader confirms). ``TaxonomyVersion.exclusion_rules`` expands them into pairs.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import transaction

if TYPE_CHECKING:
    from annotator.models import TaxonomyVersion

DEFAULT_TAXONOMY_FILE = Path(__file__).with_name("default.csv")
DEFAULT_TAXONOMY_NAME = "ECG Annotator default"
DEFAULT_TAXONOMY_VERSION = "1.1"

COLUMNS = (
    "code",
    "name",
    "group",
    "parent",
    "snomed_ct",
    "shortcut",
    "exclusive_group",
    "definition",
    "synonyms",
    "excludes",
    "exclusion",
)
REQUIRED = ("code", "name", "group")
CODE_RE = re.compile(r"^[A-Za-z0-9_]{1,32}$")
# Class shortcuts are lower-case letters and digits: the viewer's keys are
# capitals, symbols and arrows (frontend viewer-controls.js), so they never collide.
SHORTCUT_RE = re.compile(r"^[a-z0-9]$")
SNOMED_RE = re.compile(r"^[0-9]{6,18}$")
EXCLUSIONS = ("refuse", "warn", "")
SYNONYM_MAX = 100
EXCLUDES_MAX = 2000  # DiagnosticClass.excludes


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be loaded; the message names the bad row."""


@dataclass(frozen=True)
class ClassSpec:
    code: str
    name: str
    group: str
    parent: str = ""
    snomed_ct: str = ""
    shortcut: str = ""
    exclusive_group: str = ""
    definition: str = ""
    synonyms: tuple[str, ...] = ()
    excludes: str = ""
    exclusion: str = ""


def _read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaxonomyError(f"{path}: cannot read the file ({exc})") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TaxonomyError(f"{path}: not valid JSON ({exc})") from exc
        if isinstance(data, dict):
            data = data.get("classes")
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise TaxonomyError(f"{path}: expected a list of class objects")
        return [
            {
                k: v if isinstance(v, list) else "" if v is None else str(v)
                for k, v in row.items()
            }
            for row in data
        ]
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise TaxonomyError(f"{path}: missing column(s) {', '.join(missing)}")
    return [dict(row) for row in reader]


def _synonyms(value: Any, where: str) -> tuple[str, ...]:
    """A class's synonyms: a ``|``-separated string or (JSON) a list of strings."""
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise TaxonomyError(f"{where}: synonyms must be a list of strings")
        words = [v.strip() for v in value]
    elif value.strip():
        words = [v.strip() for v in value.split("|")]
    else:
        return ()
    seen: set[str] = set()
    for number, word in enumerate(words, start=1):
        if not word:
            raise TaxonomyError(f"{where}: synonym {number} is empty")
        if len(word) > SYNONYM_MAX:
            raise TaxonomyError(
                f"{where}: synonym {word[:20]!r}… is longer than {SYNONYM_MAX} "
                "characters"
            )
        if word.casefold() in seen:
            raise TaxonomyError(f"{where}: synonym {word!r} is given twice")
        seen.add(word.casefold())
    return tuple(words)


def _check_excludes(spec: ClassSpec, codes: set[str], where: str) -> None:
    """``excludes`` names classes of the file: ``*`` first, ``-CODE`` after it."""
    items = spec.excludes.split()
    if len(spec.excludes) > EXCLUDES_MAX:
        raise TaxonomyError(
            f"{where}: excludes is longer than {EXCLUDES_MAX} characters; use '*' "
            "with exceptions"
        )
    if spec.exclusion not in EXCLUSIONS:
        raise TaxonomyError(
            f"{where}: exclusion {spec.exclusion!r} must be 'refuse', 'warn' or empty"
        )
    if spec.exclusion and not items:
        raise TaxonomyError(
            f"{where}: exclusion {spec.exclusion!r} is given but excludes is empty"
        )
    every = bool(items) and items[0] == "*"
    named: set[str] = set()
    for position, item in enumerate(items):
        if item == "*":
            if position:
                raise TaxonomyError(
                    f"{where}: '*' in excludes must come first (it means every "
                    "other class)"
                )
            continue
        code = item[1:] if item.startswith("-") else item
        if item.startswith("-") and not every:
            raise TaxonomyError(
                f"{where}: excludes {item!r} is an exception to '*', so it must "
                "follow '*'"
            )
        if not item.startswith("-") and every:
            raise TaxonomyError(
                f"{where}: excludes {item!r} after '*' (every other class) is "
                f"redundant; write -{item} to keep it allowed"
            )
        if code == spec.code:
            raise TaxonomyError(f"{where}: a class cannot exclude itself")
        if code not in codes:
            raise TaxonomyError(
                f"{where}: excludes {code!r}, which is not a class of the file"
            )
        if code in named:
            raise TaxonomyError(f"{where}: excludes names {code!r} twice")
        named.add(code)


def parse_taxonomy_file(path: str | Path) -> list[ClassSpec]:
    """Read and validate a taxonomy file; errors name the file and the row."""
    path = Path(path)
    rows = _read_rows(path)
    if not rows:
        raise TaxonomyError(f"{path}: no classes")
    specs: list[ClassSpec] = []
    seen: dict[str, int] = {}
    shortcuts: dict[str, str] = {}
    for number, row in enumerate(
        rows, start=2 if path.suffix.lower() != ".json" else 1
    ):
        where = f"{path}, row {number}"
        synonyms = _synonyms(row.get("synonyms") or "", where)
        values = {c: str(row.get(c) or "").strip() for c in COLUMNS if c != "synonyms"}
        for column in REQUIRED:
            if not values[column]:
                raise TaxonomyError(f"{where}: '{column}' is empty")
        code = values["code"]
        if not CODE_RE.match(code):
            raise TaxonomyError(
                f"{where}: code {code!r} must be 1-32 letters, digits or underscores"
            )
        if code in seen:
            raise TaxonomyError(f"{where}: code {code!r} repeats row {seen[code]}")
        if values["snomed_ct"] and not SNOMED_RE.match(values["snomed_ct"]):
            raise TaxonomyError(
                f"{where}: SNOMED CT code {values['snomed_ct']!r} is not numeric"
            )
        if values["shortcut"] and not SHORTCUT_RE.match(values["shortcut"]):
            raise TaxonomyError(
                f"{where}: shortcut {values['shortcut']!r} must be one lower-case "
                "letter or digit (capitals and symbols are the ECG viewer's keys)"
            )
        if values["shortcut"]:
            if values["shortcut"] in shortcuts:
                raise TaxonomyError(
                    f"{where}: shortcut {values['shortcut']!r} is already used by "
                    f"{shortcuts[values['shortcut']]}"
                )
            shortcuts[values["shortcut"]] = code
        # One spelling of a rule, so that an identical file compares equal.
        values["excludes"] = " ".join(values["excludes"].split())
        seen[code] = number
        specs.append(ClassSpec(**values, synonyms=synonyms))
    for number, spec in zip(seen.values(), specs, strict=True):
        if spec.parent and spec.parent not in seen:
            raise TaxonomyError(
                f"{path}, row {number}: parent {spec.parent!r} is not a class"
            )
        if spec.parent == spec.code:
            raise TaxonomyError(
                f"{path}, row {number}: a class cannot be its own parent"
            )
        _check_excludes(spec, set(seen), f"{path}, row {number}")
    return specs


@transaction.atomic
def load_taxonomy(
    path: str | Path, *, name: str, version: str, description: str = ""
) -> TaxonomyVersion:
    """Create taxonomy ``name`` ``version`` from a file, or return it if identical.

    Loading the same file again is a no-op; loading different classes under an
    existing name and version is an error, so labels never change meaning.
    """
    from annotator.models import DiagnosticClass, TaxonomyVersion

    specs = parse_taxonomy_file(path)
    existing = TaxonomyVersion.objects.filter(name=name, version=version).first()
    if existing is not None:
        stored = [
            ClassSpec(
                code=c.code,
                name=c.name,
                group=c.group,
                parent=c.parent.code if c.parent else "",
                snomed_ct=c.snomed_ct,
                shortcut=c.shortcut,
                exclusive_group=c.exclusive_group,
                definition=c.definition,
                synonyms=tuple(c.synonyms),
                excludes=c.excludes,
                exclusion=c.exclusion,
            )
            for c in existing.classes.select_related("parent").order_by("display_order")
        ]
        if stored != specs:
            raise TaxonomyError(
                f"taxonomy {name!r} version {version!r} already exists with different "
                "classes; load the file under a new version"
            )
        return existing
    taxonomy = TaxonomyVersion.objects.create(
        name=name, version=version, description=description, source=Path(path).name
    )
    created = DiagnosticClass.objects.bulk_create(
        DiagnosticClass(
            taxonomy=taxonomy,
            code=s.code,
            name=s.name,
            group=s.group,
            snomed_ct=s.snomed_ct,
            definition=s.definition,
            display_order=order,
            shortcut=s.shortcut,
            exclusive_group=s.exclusive_group,
            synonyms=list(s.synonyms),
            excludes=s.excludes,
            exclusion=s.exclusion,
        )
        for order, s in enumerate(specs)
    )
    by_code = {c.code: c for c in created}
    children = []
    for spec in specs:
        if spec.parent:
            child = by_code[spec.code]
            child.parent = by_code[spec.parent]
            children.append(child)
    DiagnosticClass.objects.bulk_update(children, ["parent"])
    return taxonomy


def load_default_taxonomy() -> TaxonomyVersion:
    return load_taxonomy(
        DEFAULT_TAXONOMY_FILE,
        name=DEFAULT_TAXONOMY_NAME,
        version=DEFAULT_TAXONOMY_VERSION,
        description="66 classes modeled on CODE-II's groups, with PhysioNet Challenge "
        "SNOMED CT codes. Replace with the official CODE-II list when available.",
    )
