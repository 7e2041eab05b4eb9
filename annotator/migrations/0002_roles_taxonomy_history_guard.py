"""Roles as groups, the default 66-class taxonomy, and the label-history guard.

The guard refuses row UPDATE and DELETE on PostgreSQL. TRUNCATE is left to
privileges (only the table owner may truncate; run the app as another role),
because Django's own flush, used by `manage.py flush` and tests, truncates.
"""

from __future__ import annotations

from django.db import migrations

from annotator.migrations._postgres import postgres_sql

HISTORY_GUARD_SQL = """
CREATE OR REPLACE FUNCTION annotator_label_history_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'label history is append-only: %% on annotator_labelrevision refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER annotator_labelrevision_append_only
    BEFORE UPDATE OR DELETE ON annotator_labelrevision
    FOR EACH ROW EXECUTE FUNCTION annotator_label_history_append_only();
"""
DROP_HISTORY_GUARD_SQL = """
DROP TRIGGER IF EXISTS annotator_labelrevision_append_only ON annotator_labelrevision;
DROP FUNCTION IF EXISTS annotator_label_history_append_only();
"""


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    from annotator.roles import MANAGER_PERMISSIONS

    # Permissions are normally created after all migrations; roles need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name in ("reader", "adjudicator", "manager"):
        Group.objects.get_or_create(name=name)
    manager = Group.objects.get(name="manager")
    manager.permissions.set(
        Permission.objects.filter(
            content_type__app_label="annotator", codename__in=MANAGER_PERMISSIONS
        )
    )


def load_default_taxonomy(apps, schema_editor):
    from annotator.taxonomy import (
        DEFAULT_TAXONOMY_FILE,
        DEFAULT_TAXONOMY_NAME,
        parse_taxonomy_file,
    )

    # The version this migration was written for. Later versions carry synonyms
    # and exclusion rules, which this historical model lacks, so they are loaded
    # by annotator.taxonomy.load_default_taxonomy() when first needed.
    version = "1.0"

    TaxonomyVersion = apps.get_model("annotator", "TaxonomyVersion")
    DiagnosticClass = apps.get_model("annotator", "DiagnosticClass")
    if TaxonomyVersion.objects.filter(
        name=DEFAULT_TAXONOMY_NAME, version=version
    ).exists():
        return
    specs = parse_taxonomy_file(DEFAULT_TAXONOMY_FILE)
    taxonomy = TaxonomyVersion.objects.create(
        name=DEFAULT_TAXONOMY_NAME,
        version=version,
        source=DEFAULT_TAXONOMY_FILE.name,
        description="66 classes modeled on CODE-II's groups, with PhysioNet Challenge "
        "SNOMED CT codes. Replace with the official CODE-II list when available.",
    )
    by_code = {}
    for order, spec in enumerate(specs):
        by_code[spec.code] = DiagnosticClass.objects.create(
            taxonomy=taxonomy,
            code=spec.code,
            name=spec.name,
            group=spec.group,
            snomed_ct=spec.snomed_ct,
            definition=spec.definition,
            display_order=order,
            shortcut=spec.shortcut,
            exclusive_group=spec.exclusive_group,
        )
    for spec in specs:
        if spec.parent:
            child = by_code[spec.code]
            child.parent = by_code[spec.parent]
            child.save(update_fields=["parent"])


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(load_default_taxonomy, migrations.RunPython.noop),
        postgres_sql(HISTORY_GUARD_SQL, DROP_HISTORY_GUARD_SQL),
    ]
