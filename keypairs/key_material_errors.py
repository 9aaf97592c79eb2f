"""The one shape of error raised by code that reads key material a person gave or the portal holds.

A refusal of a pasted public key and a failed PuTTY conversion both hold key material in their
callers' variables. Their errors therefore carry only a stable ``code`` (for programs) and a
``message`` (a translated sentence for people), and neither ``args``, ``str`` nor ``repr``
ever holds a byte of the input.
"""

from __future__ import annotations


class KeyMaterialError(ValueError):
    """``code`` for programs (stable), ``message`` for people (translated); never the input."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return str(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r})"
