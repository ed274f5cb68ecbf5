"""The access log is insert-only, enforced by the database: UPDATE and DELETE are refused.

PostgreSQL: one BEFORE UPDATE OR DELETE row trigger raising SQLSTATE 23001
(restrict_violation, an IntegrityError in Django). SQLite: two BEFORE triggers with
RAISE(ABORT) (also an IntegrityError).

A purge (retention decided by the operator) is SQL run by hand, the trigger disabled
explicitly, in one transaction:

PostgreSQL::

    BEGIN;
    ALTER TABLE audit_journalacces DISABLE TRIGGER audit_journalacces_immuable;
    DELETE FROM audit_journalacces WHERE horodatage < now() - interval '…';
    ALTER TABLE audit_journalacces ENABLE TRIGGER audit_journalacces_immuable;
    COMMIT;

SQLite: ``BEGIN IMMEDIATE;`` then ``DROP TRIGGER audit_journalacces_sans_suppression;``,
the DELETE, the trigger's CREATE statement below again, ``COMMIT;``.

Not covered: PostgreSQL's TRUNCATE (the ORM never issues it; Django's ``flush``, used
between transactional tests, does). On SQLite, a later migration that rebuilds this table
(SQLite's ALTER TABLE emulation) drops its triggers: such a migration must run
SQLITE_FORWARD again (tests/test_audit.py checks the triggers after every migration).
"""

from django.db import migrations

MESSAGE = "journal_acces_immuable"

PG_FORWARD = [
    f"""CREATE OR REPLACE FUNCTION audit_journalacces_immuable() RETURNS trigger AS $$
       BEGIN
         RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
           MESSAGE = '{MESSAGE}: ' || TG_OP || ' refusé sur le journal des accès';
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_journalacces_immuable BEFORE UPDATE OR DELETE ON audit_journalacces
       FOR EACH ROW EXECUTE FUNCTION audit_journalacces_immuable()""",
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS audit_journalacces_immuable ON audit_journalacces",
    "DROP FUNCTION IF EXISTS audit_journalacces_immuable()",
]
SQLITE_FORWARD = [
    f"""CREATE TRIGGER audit_journalacces_sans_modification BEFORE UPDATE ON audit_journalacces
       BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER audit_journalacces_sans_suppression BEFORE DELETE ON audit_journalacces
       BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS audit_journalacces_sans_modification",
    "DROP TRIGGER IF EXISTS audit_journalacces_sans_suppression",
]


def forward(apps, schema_editor):
    _run(schema_editor, PG_FORWARD, SQLITE_FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, PG_BACKWARD, SQLITE_BACKWARD)


def _run(schema_editor, pg, sqlite):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": pg, "sqlite": sqlite}.get(vendor)
    if statements is None:
        raise RuntimeError(f"Unsupported database for the access log's triggers: {vendor}")
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
