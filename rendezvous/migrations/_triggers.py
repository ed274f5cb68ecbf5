"""Database rules of the agenda that migrations (re)install.

SQLite keeps triggers with their table: a migration that rebuilds ``rendezvous_creneau``
or ``rendezvous_rendezvous`` (SQLite rebuilds a table to add a NOT NULL column or a
constraint) starts with ``drop_before_rebuild`` and ends with ``forward``.

A booking moved onto another slot (an UPDATE of ``creneau_id``) is checked like a new
booking: not onto a slot in the past.
"""

from importlib import import_module

_rules = import_module("rendezvous.migrations.0002_integrity_triggers")

PG_FORWARD = [
    "DROP TRIGGER IF EXISTS rendezvous_creneau_futur_upd ON rendezvous_rendezvous",
    """CREATE TRIGGER rendezvous_creneau_futur_upd BEFORE UPDATE OF creneau_id ON rendezvous_rendezvous
       FOR EACH ROW WHEN (OLD.creneau_id IS DISTINCT FROM NEW.creneau_id)
       EXECUTE FUNCTION rendezvous_creneau_futur()""",
]
PG_BACKWARD = ["DROP TRIGGER IF EXISTS rendezvous_creneau_futur_upd ON rendezvous_rendezvous"]

SQLITE_FORWARD = [
    *_rules.SQLITE_BACKWARD,
    *_rules.SQLITE_FORWARD,
    "DROP TRIGGER IF EXISTS rendezvous_creneau_futur_upd",
    """CREATE TRIGGER rendezvous_creneau_futur_upd BEFORE UPDATE OF creneau_id ON rendezvous_rendezvous
       WHEN OLD.creneau_id != NEW.creneau_id
       BEGIN
         SELECT RAISE(ABORT, 'creneau_passe')
         WHERE (SELECT debut FROM rendezvous_creneau WHERE id = NEW.creneau_id)
               <= strftime('%Y-%m-%d %H:%M:%f', 'now');
       END""",
]
SQLITE_BACKWARD = [*_rules.SQLITE_BACKWARD, "DROP TRIGGER IF EXISTS rendezvous_creneau_futur_upd"]

# The names a test checks after all migrations (tests/test_api_integrity.py).
SQLITE_TRIGGERS = {
    "creneau_sans_chevauchement_ins", "creneau_sans_chevauchement_upd",
    "rendezvous_creneau_futur", "rendezvous_creneau_futur_upd",
}


def drop_before_rebuild(apps, schema_editor):
    """First operation of a migration that rebuilds the tables: SQLite refuses to rename a
    table that another table's trigger names, so the triggers go first (``forward``
    makes them again at the end)."""
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_BACKWARD:
            schema_editor.execute(sql)


def restore_after_rebuild(apps, schema_editor):
    """``drop_before_rebuild`` backwards: the rules as the previous migration left them."""
    if schema_editor.connection.vendor == "sqlite":
        for sql in _rules.SQLITE_FORWARD:
            schema_editor.execute(sql)


def forward(apps, schema_editor):
    _rules._run(schema_editor, PG_FORWARD, SQLITE_FORWARD)


def backward(apps, schema_editor):
    _rules._run(schema_editor, PG_BACKWARD, SQLITE_BACKWARD)
