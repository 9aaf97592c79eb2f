"""prev_hash indexed instead of unique: a row inserted with plain SQL that claims the head as
its predecessor must not stop the portal from chaining its next event there (issue 9, the
audit log). The head's row lock still serializes writers; verify_audit reports such rows."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("keypairs", "0003_audit_actions_for_hardening"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(db_index=True, editable=False, max_length=64),
        ),
    ]
