"""The file formats a private key is handed out in: the PEM BCC returned, or PuTTY's ``.ppk``.

The portal stores one thing, the PEM; a ``.ppk`` is made from it at download time
(``keypairs.ppk``), inside the one claim that hands the key out (``delivery_claim``), so the
choice of format never spends the download twice.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from keypairs import ppk


class KeyFormat(models.TextChoices):
    PEM = "pem", _(".pem, for OpenSSH")
    PPK = "ppk", _(".ppk, for PuTTY and WinSCP")

    @property
    def extension(self) -> str:
        return f".{self.value}"

    @property
    def content_type(self) -> str:
        # PuTTY's format has no registered media type; browsers save octet-stream as it is.
        return "application/x-pem-file" if self is KeyFormat.PEM else "application/octet-stream"


@sensitive_variables()
def key_file_content(private_key_pem: str, *, key_format: KeyFormat, comment: str) -> bytes:
    """The bytes of the key file in ``key_format``; raises ``ppk.PpkConversionFailed``.

    ``comment`` is what PuTTY shows for the key (the key pair's name); a PEM has none.
    Looked up through the module so that tests can make the conversion fail.
    """
    if key_format is KeyFormat.PPK:
        return ppk.ppk_from_pem(private_key_pem.encode("utf-8"), comment=comment)
    return private_key_pem.encode("utf-8")
