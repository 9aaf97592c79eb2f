"""Properties of the signature check: whatever the signer signs passes; any change to a signed part fails.

Most examples run against the verification function directly (fast); fewer go through
real HTTP, where the bytes on the wire (percent-encoding, UTF-8 header values) matter.
"""

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from sandbox_http import assert_bce_error

from keypairs.bcc import signer
from keypairs.sandbox.auth import IncomingRequest, verify
from keypairs.sandbox.errors import SandboxError

ACCESS_KEY, SECRET = "a" * 32, "b" * 32
NOW = datetime(2026, 6, 1, 8, 0, 0, tzinfo=UTC)
REJECTIONS = {"SignatureDoesNotMatch", "InvalidHTTPAuthHeader"}

# Any Unicode but lone surrogates, which cannot be encoded as UTF-8 at all.
unicode_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
printable = st.characters(blacklist_categories=("Cs", "Cc"))
header_values = st.text(alphabet=printable, max_size=16)
query_keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8).filter(
    lambda key: key.lower() != "authorization"  # the one parameter the signature leaves out, by design
)
queries = st.lists(st.tuples(query_keys, st.one_of(st.none(), unicode_text)), max_size=4)
x_bce_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10).map(
    lambda suffix: "x-bce-" + suffix
)
extra_headers = st.dictionaries(x_bce_names, header_values, max_size=3)
methods = st.sampled_from(["GET", "PUT", "POST", "DELETE"])
paths = st.lists(unicode_text, max_size=4).map(lambda segments: "/bj/v2/" + "/".join(segments))
# Replacement characters a mutation may write: visible, so trimming cannot undo the change.
visible = st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"))


@st.composite
def signed_requests(draw):
    method = draw(methods)
    path = draw(paths)
    query = draw(queries)
    headers = {
        "Host": "127.0.0.1:8900",
        "Content-Type": draw(st.sampled_from(["application/json;charset=utf-8", "text/plain"])),
        "Content-Length": str(draw(st.integers(0, 500))),
        "X-Unsigned-Note": draw(header_values),  # signed in neither form, unless listed
        **draw(extra_headers),
    }
    explicit = draw(st.booleans())
    signed_headers = ()
    if explicit:
        optional = sorted(name for name in headers if name.lower() != "host")
        signed_headers = ("host", *draw(st.lists(st.sampled_from(optional), unique=True)))
    authorization = signer.authorization(
        method=method,
        path=path,
        query=query,
        headers=headers,
        credentials=signer.Credentials(ACCESS_KEY, SECRET),
        timestamp=NOW,
        signed_headers=signed_headers,
    )
    return {"method": method, "path": path, "query": query, "headers": {**headers, "Authorization": authorization}}


def check(request):
    received = {name.lower(): value for name, value in request["headers"].items()}  # as the handler passes them
    incoming = IncomingRequest(request["method"], request["path"], list(request["query"]), received)
    return verify(incoming, secrets={ACCESS_KEY: SECRET}, now=NOW)


def mutate(data, text):
    """``text`` with one character inside its trimmed span replaced by a different visible one."""
    stripped = text.strip()
    assume(stripped)
    start = len(text) - len(text.lstrip())
    index = data.draw(st.integers(start, start + len(stripped) - 1))
    replacement = data.draw(visible.filter(lambda character: character != text[index]))
    return text[:index] + replacement + text[index + 1 :]


def signed_header_names(request):
    authorization = request["headers"]["Authorization"]
    listed = authorization.split("/")[4]
    names = set(listed.split(";")) if listed else set(signer.DEFAULT_SIGNED_HEADERS)
    return [
        name
        for name, value in request["headers"].items()
        if value.strip() and (name.lower() in names or name.lower().startswith("x-bce-"))
    ]


@settings(max_examples=200, deadline=None)
@given(signed_requests())
def test_every_request_the_signer_signs_is_accepted(request):
    assert check(request) == ACCESS_KEY


@settings(max_examples=200, deadline=None)
@given(signed_requests(), st.data())
def test_changing_any_signed_part_is_rejected(request, data):
    part = data.draw(st.sampled_from(["method", "path", "query", "header", "signature"]))
    if part == "method":
        original = request["method"]
        request["method"] = mutate(data, original)
        assume(request["method"].upper() != original)  # the method is signed upper-cased: "GeT" is GET
    elif part == "path":
        request["path"] = mutate(data, request["path"])
    elif part == "query":
        with_values = [index for index, (_, value) in enumerate(request["query"]) if value and value.strip()]
        assume(with_values)
        index = data.draw(st.sampled_from(with_values))
        key, value = request["query"][index]
        request["query"][index] = (key, mutate(data, value))
    elif part == "header":
        name = data.draw(st.sampled_from(signed_header_names(request)))
        request["headers"][name] = mutate(data, request["headers"][name])
    else:
        authorization = request["headers"]["Authorization"]
        request["headers"]["Authorization"] = authorization[:-64] + mutate(data, authorization[-64:])
    with pytest.raises(SandboxError) as refused:
        check(request)
    assert refused.value.code in REJECTIONS


@settings(max_examples=100, deadline=None)
@given(signed_requests())
def test_headers_left_unsigned_may_change_freely(request):
    if "x-unsigned-note" not in request["headers"]["Authorization"]:
        request["headers"]["X-Unsigned-Note"] = "changed in transit"
    request["headers"]["User-Agent"] = "added in transit"
    assert check(request) == ACCESS_KEY


# --- the same through real HTTP --------------------------------------------------------

keypair_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/"), min_size=1, max_size=12
).filter(lambda text: text not in {".", ".."})  # HTTP clients collapse dot segments before sending
over_http = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@over_http
@given(keypair_ids, queries, extra_headers, st.booleans())
@example("k-密钥 ?#%", [("名字", "值 +&=/"), ("rename", None)], {"x-bce-meta-note": " Å…\u2028中文 "}, True)
def test_signed_requests_over_http_are_accepted(bcc, keypair_id, query, headers, explicit):
    signed_headers = ("host", "x-bce-date") if explicit else ()
    response = bcc.get(keypair_id, query=query, headers=headers, signed_headers=signed_headers)
    assert_bce_error(response, 404, "Keypair.KeypairNotExist")  # the signature passed; no such key pair


NOT_HEX_LETTERS = "ghjkmnpqrstuvwxyz"


@over_http
@given(keypair_ids, queries, extra_headers, st.data())
def test_a_byte_changed_on_the_wire_is_rejected(bcc, keypair_id, query, headers, data):
    parts = ["method", "path", "signature"] + (["header"] if any(v.strip() for v in headers.values()) else [])
    part = data.draw(st.sampled_from(parts))

    def tamper(prepared):
        if part == "method":
            prepared.method = "GEX"
        elif part == "path":
            path_start = prepared.url.index("/v2/keypair/") + len("/v2/keypair/")
            path_end = prepared.url.find("?") if "?" in prepared.url else len(prepared.url)
            index = data.draw(st.integers(path_start, path_end - 1))
            letter = data.draw(st.sampled_from(NOT_HEX_LETTERS).filter(lambda c: c != prepared.url[index]))
            prepared.url = prepared.url[:index] + letter + prepared.url[index + 1 :]
        elif part == "header":
            name = data.draw(st.sampled_from(sorted(name for name, value in headers.items() if value.strip())))
            sent = bytearray(prepared.headers[name])
            stripped_start = len(sent) - len(sent.lstrip())
            index = data.draw(st.integers(stripped_start, stripped_start + len(sent.strip()) - 1))
            sent[index] = ord(data.draw(st.sampled_from(NOT_HEX_LETTERS).filter(lambda c: ord(c) != sent[index])))
            prepared.headers[name] = bytes(sent)
        else:
            authorization = prepared.headers["Authorization"]
            flipped = "0" if authorization[-1] != "0" else "1"
            prepared.headers["Authorization"] = authorization[:-1] + flipped

    response = bcc.get(keypair_id, query=query, headers=headers, tamper=tamper)
    assert 400 <= response.status_code < 500
    assert response.json()["code"] in REJECTIONS
