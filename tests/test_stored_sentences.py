"""A request's stored sentence (``KeyPairRequest.error_message``) is shown in the reader's language,
whichever language it was stored in (``keypairs.sentences``)."""

from __future__ import annotations

from django.utils import translation

from keypairs import messages
from keypairs.bcc.errors import BccConnectError
from keypairs.sentences import in_reader_language, two_sentences
from keypairs.services.bcc_failures import transport_reason


def stored_in(language: str, sentence, **values) -> str:
    with translation.override(language):
        return str(sentence).format(**values)


def test_an_english_sentence_with_its_values_is_shown_in_chinese():
    stored = stored_in("en", messages.OUTCOME_UNKNOWN, reference="req-4711")

    with translation.override("zh-hans"):
        shown = in_reader_language(stored)

    assert shown == stored_in("zh-hans", messages.OUTCOME_UNKNOWN, reference="req-4711")
    assert "参考编号 req-4711" in shown


def test_a_chinese_sentence_is_shown_in_english():
    stored = stored_in("zh-hans", messages.NOT_STORED_NOT_DELETED, keypair_id="k-abc", reference="req-1")

    with translation.override("en"):
        shown = in_reader_language(stored)

    assert shown == (
        "BCC created the key pair k-abc, but the portal could not store its private key and could not delete it "
        "either. The portal's operators have been told; please quote reference req-1."
    )


def test_the_reason_inside_a_sentence_follows_its_language():
    with translation.override("en"):
        stored = messages.BCC_UNAVAILABLE.format(reason=transport_reason(BccConnectError()))

    with translation.override("zh-hans"):
        shown = in_reader_language(stored)

    assert shown == "无法连接 BCC（无法连接 BCC）。未创建任何内容，请几分钟后重试。"


def test_a_text_that_is_none_of_the_portals_sentences_is_shown_as_stored():
    with translation.override("zh-hans"):
        assert in_reader_language("Something an older version wrote.") == "Something an older version wrote."
        # Cut at the column's length: no longer the whole sentence, so not reworded.
        cut = stored_in("en", messages.OUTCOME_UNKNOWN, reference="r")[:120]
        assert in_reader_language(cut) == cut


def test_two_sentences_have_a_space_in_english_and_none_in_chinese():
    with translation.override("en"):
        assert two_sentences("One.", "Two.") == "One. Two."
    with translation.override("zh-hans"):
        assert two_sentences("一。", "二。") == "一。二。"
