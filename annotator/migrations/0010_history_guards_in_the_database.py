"""The label history's guards that the database itself enforces (PostgreSQL).

- A revision's ``created_at`` is the database's clock at insert: a supplied value,
  such as a back-dated one, is ignored.
- A read's labels or quality flags change only with their history entry: an
  UPDATE of ``annotator_decision`` that changes them must, by the end of its
  transaction, have a revision of the decision at the new version with the new
  labels and flags. The services write both; a bare UPDATE is refused at commit.

Together with ``manage.py grant_app_role`` (an application role that may only
INSERT and SELECT the history, and owns nothing, so it cannot drop or disable
these triggers or replace their functions), the history cannot be rewritten by
the application's own database role.
"""

from __future__ import annotations

from django.db import migrations

from annotator.migrations._postgres import postgres_sql

GUARDS_SQL = """
CREATE OR REPLACE FUNCTION annotator_label_history_stamp() RETURNS trigger AS $$
BEGIN
    NEW.created_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER annotator_labelrevision_stamp
    BEFORE INSERT ON annotator_labelrevision
    FOR EACH ROW EXECUTE FUNCTION annotator_label_history_stamp();

CREATE OR REPLACE FUNCTION annotator_decision_change_recorded() RETURNS trigger AS $$
BEGIN
    IF (NEW.labels IS DISTINCT FROM OLD.labels OR NEW.quality IS DISTINCT FROM OLD.quality)
       AND NOT EXISTS (
           SELECT 1 FROM annotator_labelrevision r
           WHERE r.decision_id = NEW.id AND r.version = NEW.version
             AND r.new_labels = NEW.labels AND r.new_quality = NEW.quality
       ) THEN
        RAISE EXCEPTION 'decision %%: labels change only with their entry in the label history', NEW.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER annotator_decision_change_recorded
    AFTER UPDATE ON annotator_decision
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION annotator_decision_change_recorded();
"""

DROP_GUARDS_SQL = """
DROP TRIGGER IF EXISTS annotator_decision_change_recorded ON annotator_decision;
DROP FUNCTION IF EXISTS annotator_decision_change_recorded();
DROP TRIGGER IF EXISTS annotator_labelrevision_stamp ON annotator_labelrevision;
DROP FUNCTION IF EXISTS annotator_label_history_stamp();
"""


class Migration(migrations.Migration):
    dependencies = [("annotator", "0009_assignment_reader_holding_index")]

    operations = [postgres_sql(GUARDS_SQL, DROP_GUARDS_SQL)]
