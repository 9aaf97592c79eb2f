from django.db import migrations


class Migration(migrations.Migration):
    """Keep only a hash of the create form's one-time token: the download token derives from it."""

    dependencies = [("keypairs", "0001_initial")]

    operations = [
        migrations.RenameField(model_name="keypairrequest", old_name="form_token", new_name="form_token_hash"),
    ]
