"""Indexes for the auditors' case-insensitive prefix search on key pair names and actors.

Django's ``__istartswith`` becomes a different SQL on each database, and each needs its own
index to avoid reading the whole log:

- SQLite: ``"keypair_name" LIKE 'web%' ESCAPE '\\'``. SQLite's LIKE is case-insensitive for
  ASCII (``case_sensitive_like`` is off), and its LIKE optimization turns a prefix into a
  range scan only on an index with the NOCASE collation.
- PostgreSQL: ``UPPER("keypair_name"::text) LIKE UPPER('web%')``. A LIKE prefix uses a B-tree
  on that same expression only with the ``text_pattern_ops`` operator class (the database's
  collation is usually not C).

The two are not expressible as one ``Meta.indexes`` entry, so they are created here per
database and are not declared on the model (``makemigrations`` leaves them alone).
"""

from django.db import migrations

COLUMNS = ("keypair_name", "actor_username")
TABLE = "keypairs_auditevent"


def index_name(column: str) -> str:
    return f"keypairs_audit_{column}_prefix"


def create_indexes(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for column in COLUMNS:
        if vendor == "sqlite":
            sql = f'CREATE INDEX IF NOT EXISTS {index_name(column)} ON {TABLE} ("{column}" COLLATE NOCASE)'
        elif vendor == "postgresql":
            sql = f'CREATE INDEX IF NOT EXISTS {index_name(column)} ON {TABLE} (UPPER("{column}") text_pattern_ops)'
        else:
            return
        schema_editor.execute(sql)


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor in {"sqlite", "postgresql"}:
        for column in COLUMNS:
            schema_editor.execute(f"DROP INDEX IF EXISTS {index_name(column)}")


class Migration(migrations.Migration):
    dependencies = [("keypairs", "0006_audit_ship_cursor")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
