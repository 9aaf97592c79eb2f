"""BCC's rules for key pair names, descriptions and client tokens.

"Chinese characters" is not defined further by BCC. Here it means the CJK Unified
Ideographs block, U+4E00 to U+9FFF: every character of everyday Chinese, and nothing
that could be confused with punctuation or a letter. "Letters" means the ASCII letters
A-Z and a-z, in either case; a name must start with one (a Chinese character is not a
letter for that purpose).

Lengths count characters, not bytes.
"""

from __future__ import annotations

import re

from keypairs.sandbox.errors import SandboxError

NAME_MAX_LENGTH = 65
DESCRIPTION_MAX_LENGTH = 140
CLIENT_TOKEN_MAX_LENGTH = 64

_CHINESE = "\u4e00-\u9fff"
_NAME = re.compile(rf"[A-Za-z][A-Za-z0-9{_CHINESE}\-_/.]{{0,{NAME_MAX_LENGTH - 1}}}")
_DESCRIPTION = re.compile(rf"[A-Za-z0-9{_CHINESE} ._\-=,，:/。]{{0,{DESCRIPTION_MAX_LENGTH}}}")
# Printable ASCII: the Go SDK documents the token as ASCII of at most 64 characters.
_CLIENT_TOKEN = re.compile(rf"[\x21-\x7e]{{1,{CLIENT_TOKEN_MAX_LENGTH}}}")

NAME_INVALID = (
    "The key pair name must be 1 to 65 characters, start with a letter, and contain only letters, "
    "digits, Chinese characters and - _ / ."
)
DESCRIPTION_INVALID = (
    "The description must be at most 140 characters of Chinese characters, letters, digits, "
    "spaces and . _ - = , ， : / 。"
)
CLIENT_TOKEN_INVALID = "clientToken must be 1 to 64 printable ASCII characters."  # noqa: S105 - a message


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise SandboxError("Keypair.KeypairNameInvalid", NAME_INVALID)
    return name


def check_description(description: str) -> str:
    if not _DESCRIPTION.fullmatch(description):
        raise SandboxError("Keypair.KeypairDescriptionInvalid", DESCRIPTION_INVALID)
    return description


def check_client_token(token: str) -> str:
    if not _CLIENT_TOKEN.fullmatch(token):
        raise SandboxError("InvalidHTTPRequest", CLIENT_TOKEN_INVALID)
    return token
