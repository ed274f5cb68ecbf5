"""Integrity rules a plain CHECK cannot express, enforced by the database itself.

- A doctor's active slots never overlap: an exclusion constraint on PostgreSQL
  (btree_gist), BEFORE INSERT/UPDATE triggers on SQLite.
- A slot in the past cannot be booked: a BEFORE INSERT trigger on both.
"""

from django.db import migrations

PG_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """ALTER TABLE rendezvous_creneau ADD CONSTRAINT creneau_sans_chevauchement
       EXCLUDE USING gist (medecin_id WITH =, tstzrange(debut, fin, '[)') WITH &&)
       WHERE (actif)""",
    """CREATE OR REPLACE FUNCTION rendezvous_creneau_futur() RETURNS trigger AS $$
       BEGIN
         IF (SELECT debut FROM rendezvous_creneau WHERE id = NEW.creneau_id) <= now() THEN
           RAISE EXCEPTION 'creneau_passe' USING ERRCODE = 'check_violation';
         END IF;
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER rendezvous_creneau_futur BEFORE INSERT ON rendezvous_rendezvous
       FOR EACH ROW EXECUTE FUNCTION rendezvous_creneau_futur()""",
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS rendezvous_creneau_futur ON rendezvous_rendezvous",
    "DROP FUNCTION IF EXISTS rendezvous_creneau_futur()",
    "ALTER TABLE rendezvous_creneau DROP CONSTRAINT IF EXISTS creneau_sans_chevauchement",
]

_OVERLAP = """
  SELECT RAISE(ABORT, 'creneau_chevauchement')
  WHERE NEW.actif AND EXISTS (
    SELECT 1 FROM rendezvous_creneau c
    WHERE c.medecin_id = NEW.medecin_id AND c.actif AND c.id != NEW.id
      AND c.debut < NEW.fin AND c.fin > NEW.debut);
"""
SQLITE_FORWARD = [
    f"CREATE TRIGGER creneau_sans_chevauchement_ins BEFORE INSERT ON rendezvous_creneau "
    f"BEGIN {_OVERLAP} END",
    f"CREATE TRIGGER creneau_sans_chevauchement_upd BEFORE UPDATE ON rendezvous_creneau "
    f"BEGIN {_OVERLAP} END",
    # Django stores UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text, which sorts like time.
    """CREATE TRIGGER rendezvous_creneau_futur BEFORE INSERT ON rendezvous_rendezvous
       BEGIN
         SELECT RAISE(ABORT, 'creneau_passe')
         WHERE (SELECT debut FROM rendezvous_creneau WHERE id = NEW.creneau_id)
               <= strftime('%Y-%m-%d %H:%M:%f', 'now');
       END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS creneau_sans_chevauchement_ins",
    "DROP TRIGGER IF EXISTS creneau_sans_chevauchement_upd",
    "DROP TRIGGER IF EXISTS rendezvous_creneau_futur",
]


def forward(apps, schema_editor):
    _run(schema_editor, PG_FORWARD, SQLITE_FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, PG_BACKWARD, SQLITE_BACKWARD)


def _run(schema_editor, pg, sqlite):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": pg, "sqlite": sqlite}.get(vendor)
    if statements is None:
        raise RuntimeError(f"Unsupported database for integrity rules: {vendor}")
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("rendezvous", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
