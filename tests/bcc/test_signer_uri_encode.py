"""uri_encode, the signer's hottest step, against the reference's own definition.

The signer encodes through str.translate tables and a cache for speed; this keeps it equal to
the rule in bce-auth-v1.md written the slow, obvious way, for any text at all.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from keypairs.bcc import signer

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def by_the_book(value: str, keep_slash: bool) -> str:
    return "".join(
        chr(byte) if byte in UNRESERVED or (keep_slash and byte == 0x2F) else f"%{byte:02X}"
        for byte in value.encode("utf-8")
    )


@settings(max_examples=500, deadline=None)
@given(value=st.text(alphabet=st.characters(codec="utf-8")), keep_slash=st.booleans())
def test_it_encodes_any_text_exactly_as_the_reference_says(value, keep_slash):
    assert signer.uri_encode(value, keep_slash=keep_slash) == by_the_book(value, keep_slash)


def test_every_single_byte_value_is_encoded_as_the_reference_says():
    for code_point in range(0x800):
        character = chr(code_point)
        if 0xD800 <= code_point <= 0xDFFF:
            continue
        assert signer.uri_encode(character) == by_the_book(character, False)
        assert signer.uri_encode(character, keep_slash=True) == by_the_book(character, True)
