"""Unit tests of service/tokens.py: the compact-JWE rules at the function level.

Pinned algorithms, ``kid`` looked up only in the ring given, ``zip`` refused, the length
cap applied before any parsing, and every JOSE failure surfacing as ``BadToken``."""

from __future__ import annotations

import base64
import functools
import json
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwe, jws
from joserfc.errors import DecodeError, JoseError
from joserfc.jwe import JWERegistry
from joserfc.jwk import OctKey, RSAKey

from service import tokens
from service.tokens import BadToken

KID = "kid-1"
RAW = bytes(range(32))
KEY = OctKey.import_key(RAW)
OTHER_KEY = OctKey.import_key(bytes(range(32, 64)))
CLAIMS: dict[str, Any] = {
    "iss": "tessera",
    "aud": "my-app:prd",
    "sub": "user_123",
    "sid": "sid-1",
    "tag": "user-session",
    "typ": "session",
    "iat": 1_800_000_000,
    "exp": 1_800_003_600,
    "details": {"email": "john@example.com", "name": "Zoë 🍓", "jp": "日本語"},
}
REASONS = {"MALFORMED", "INVALID", "WRONG_SESSION", "EXPIRED", "REVOKED"}


def ring(**keys: OctKey) -> dict[str, OctKey]:
    return dict(keys)


RING = {KID: KEY}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact_of(token: str) -> str:
    return token.split(":", 1)[1]


def good_compact() -> str:
    return compact_of(tokens.encode("user-session", KID, KEY, CLAIMS))


def build(
    header: dict[str, Any],
    payload: bytes | dict[str, Any] = CLAIMS,
    key: Any = KEY,
    algorithms: tuple[str, ...] = ("dir", "A256GCM"),
) -> str:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    registry = JWERegistry(algorithms=list(algorithms))
    return jwe.encrypt_compact(header, data, key, registry=registry)


def seal(header: Any, payload: bytes | dict[str, Any] = CLAIMS, raw: bytes = RAW) -> str:
    """A correctly encrypted A256GCM compact JWE under *any* protected header, built by
    hand: a rejection of it can only come from the header rules, not from a broken
    authentication tag."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    protected = b64(json.dumps(header).encode())
    iv = bytes(range(12))
    sealed = AESGCM(raw).encrypt(iv, data, protected.encode())
    return ".".join([protected, "", b64(iv), b64(sealed[:-16]), b64(sealed[-16:])])


def with_header(compact: str, header: Any) -> str:
    return ".".join([b64(json.dumps(header).encode()), *compact.split(".")[1:]])


def rejected(compact: str, key_ring: dict[str, OctKey] = RING) -> BadToken:
    with pytest.raises(BadToken) as caught:
        tokens.decrypt(compact, key_ring)
    return caught.value


@functools.cache
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048)


# --- encode -------------------------------------------------------------------------


def test_encode_roundtrip_returns_the_claims() -> None:
    token = tokens.encode("user-session", KID, KEY, CLAIMS)
    tag, compact = tokens.split(token, 8192)

    assert tag == "user-session"
    assert tokens.decrypt(compact, RING) == CLAIMS


def test_encode_header_is_pinned_dir_a256gcm_with_kid() -> None:
    header = json.loads(base64.urlsafe_b64decode(good_compact().split(".")[0] + "=="))

    assert header == {"alg": "dir", "enc": "A256GCM", "kid": KID}


def test_encode_claims_unreadable_in_every_segment() -> None:
    token = tokens.encode("user-session", KID, KEY, CLAIMS)
    for segment in compact_of(token).split("."):
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        for secret in (b"john@example.com", b"user_123", "Zoë".encode()):
            assert secret not in decoded
    assert "john@example.com" not in token


def test_encode_fresh_iv_each_time() -> None:
    a = good_compact().split(".")
    b = good_compact().split(".")

    assert a[2] != b[2] and a[3] != b[3]


# --- split --------------------------------------------------------------------------


def test_split_valid_token_returns_tag_and_compact() -> None:
    compact = good_compact()

    assert tokens.split(f"user-session:{compact}", 8192) == ("user-session", compact)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "user-session", "user-session:", "user-session:a.b.c.d", "t:a.b.c.d.e.f"],
)
def test_split_malformed_is_rejected(token: str) -> None:
    with pytest.raises(BadToken) as caught:
        tokens.split(token, 8192)

    assert caught.value.reason == "MALFORMED"


def test_split_length_cap_is_inclusive() -> None:
    token = tokens.encode("user-session", KID, KEY, CLAIMS)

    assert tokens.split(token, len(token))[0] == "user-session"
    with pytest.raises(BadToken) as caught:
        tokens.split(token, len(token) - 1)
    assert caught.value.reason == "MALFORMED"


class _NoParsing(str):
    """A string that fails the test if anything tries to parse it."""

    __slots__ = ()

    def partition(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed before the length check")

    def split(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed before the length check")

    def count(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed before the length check")


def test_split_length_cap_applied_before_parsing() -> None:
    oversize = _NoParsing("user-session:" + "A.A.A.A." + "A" * 10_000)

    with pytest.raises(BadToken) as caught:
        tokens.split(oversize, 8192)

    assert caught.value.reason == "MALFORMED"


def test_split_tag_is_everything_before_the_first_colon() -> None:
    assert tokens.split("a:b:c.d.e.f.g", 8192) == ("a", "b:c.d.e.f.g")


# --- unverified_kid ---------------------------------------------------------------


def test_unverified_kid_reads_the_header_kid() -> None:
    assert tokens.unverified_kid(good_compact()) == KID


@pytest.mark.parametrize(
    "header",
    [
        b"[" * 3000,  # recursed past Python's limit (a RecursionError escaped)
        b'{"kid":"\\ud800"}',  # a lone surrogate the store cannot encode
        b'{"kid":"k\xc3\xa9"}',
        b'{"kid":7}',
        b'{"kid":["kid-1"]}',
        b'["kid"]',
        b"null",
        b"not json",
        b"\xff\xfe",
        b"",
    ],
)
def test_unverified_kid_not_a_plain_kid_is_none(header: bytes) -> None:
    assert tokens.unverified_kid(".".join([b64(header), "", "AAAA", "AAAA", "AAAA"])) is None


@pytest.mark.parametrize("compact", ["", "!!!", "Zoë.a.b.c.d", "\ud800", "A" * 8192])
def test_unverified_kid_garbage_is_none(compact: str) -> None:
    assert tokens.unverified_kid(compact) is None


# --- decrypt: algorithms ------------------------------------------------------------


def test_seal_builds_tokens_decrypt_accepts() -> None:
    """Control for the hand-sealed cases below."""
    assert tokens.decrypt(seal({"alg": "dir", "enc": "A256GCM", "kid": KID}), RING) == CLAIMS


def test_decrypt_alg_none_header_is_rejected() -> None:
    compact = seal({"alg": "none", "enc": "A256GCM", "kid": KID})

    assert rejected(compact).reason == "INVALID"


def test_decrypt_alg_none_plaintext_claims_is_rejected() -> None:
    header = b64(json.dumps({"alg": "none", "enc": "none"}).encode())
    compact = ".".join([header, "", "", b64(json.dumps(CLAIMS).encode()), ""])

    assert rejected(compact).reason == "INVALID"


@pytest.mark.parametrize(
    ("alg", "enc"),
    [
        ("A256KW", "A256GCM"),
        ("A256GCMKW", "A256GCM"),
        ("RSA-OAEP", "A256GCM"),
        ("RSA-OAEP-256", "A256GCM"),
        ("dir", "A128GCM"),
        ("dir", "A256CBC-HS512"),
    ],
)
def test_decrypt_algorithm_swap_is_rejected(alg: str, enc: str) -> None:
    key: Any
    if alg.startswith("RSA"):
        key = rsa_key()
    elif enc == "A128GCM":
        key = OctKey.import_key(RAW[:16])
    elif enc == "A256CBC-HS512":
        key = OctKey.import_key(RAW + RAW)
    else:
        key = KEY  # the ring's own key, under another key-management algorithm
    compact = build({"alg": alg, "enc": enc, "kid": KID}, key=key, algorithms=(alg, enc))

    assert rejected(compact).reason == "INVALID"


def test_registry_rejects_other_algorithms_by_itself() -> None:
    """The registry pins the algorithms too, independently of the header check in
    ``decrypt``'s key resolver."""
    compact = build(
        {"alg": "A256KW", "enc": "A256GCM", "kid": KID},
        algorithms=("A256KW", "A256GCM"),
    )
    with pytest.raises(JoseError):
        jwe.decrypt_compact(compact, KEY, registry=tokens._REGISTRY)


def test_decrypt_jws_hs256_is_rejected() -> None:
    signed = jws.serialize_compact({"alg": "HS256", "kid": KID}, json.dumps(CLAIMS).encode(), KEY)
    header, payload, signature = signed.split(".")

    assert rejected(signed).reason == "INVALID"
    assert rejected(".".join([header, "", payload, signature, ""])).reason == "INVALID"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "DIR", "enc": "A256GCM", "kid": KID},
        {"alg": "dir", "enc": "a256gcm", "kid": KID},
        {"alg": ["dir"], "enc": "A256GCM", "kid": KID},
        {"alg": "dir", "kid": KID},
        {"enc": "A256GCM", "kid": KID},
        {"alg": "dir", "enc": "A256GCM", "kid": KID, "crit": ["exp"], "exp": 1},
        {"alg": "dir", "enc": "A256GCM", "kid": KID, "unknown": 1},
        ["alg", "enc"],
        "alg enc",
        None,
        7,
    ],
)
def test_decrypt_header_not_ours_is_rejected(header: Any) -> None:
    assert rejected(seal(header)).reason == "INVALID"


def test_decrypt_header_spliced_from_elsewhere_is_rejected() -> None:
    """The header is authenticated as sent: even the same JSON re-serialized fails."""
    header = {"kid": KID, "enc": "A256GCM", "alg": "dir"}

    assert rejected(with_header(good_compact(), header)).reason == "INVALID"


# --- decrypt: zip -------------------------------------------------------------------


def test_decrypt_zip_def_on_correctly_encrypted_token_is_rejected() -> None:
    compact = build(
        {"alg": "dir", "enc": "A256GCM", "zip": "DEF", "kid": KID},
        algorithms=("dir", "A256GCM", "DEF"),
    )
    # Same key, same claims, no zip: accepted.
    assert tokens.decrypt(build({"alg": "dir", "enc": "A256GCM", "kid": KID}), RING) == CLAIMS

    assert rejected(compact).reason == "INVALID"


@pytest.mark.parametrize("zip_value", ["DEF", "", None, "NONE"])
def test_decrypt_any_zip_header_is_rejected(zip_value: Any) -> None:
    header = {"alg": "dir", "enc": "A256GCM", "kid": KID, "zip": zip_value}

    assert rejected(seal(header)).reason == "INVALID"


# --- decrypt: kid only in the given ring --------------------------------------------


def test_decrypt_kid_resolved_only_in_given_ring() -> None:
    compact = good_compact()
    other_ring = ring(**{"kid-b": OTHER_KEY})

    assert rejected(compact, other_ring).reason == "INVALID"


def test_decrypt_same_kid_other_key_is_rejected() -> None:
    assert rejected(good_compact(), ring(**{KID: OTHER_KEY})).reason == "INVALID"


def test_decrypt_right_key_under_other_kid_is_rejected() -> None:
    """The key material is right but the ring does not know it by this kid: no search
    through the ring's keys."""
    assert rejected(good_compact(), ring(**{"kid-b": KEY})).reason == "INVALID"


def test_decrypt_kid_chooses_among_ring_keys() -> None:
    both = {KID: KEY, "kid-b": OTHER_KEY}
    old = good_compact()
    new = compact_of(tokens.encode("user-session", "kid-b", OTHER_KEY, CLAIMS))

    assert tokens.decrypt(old, both) == CLAIMS
    assert tokens.decrypt(new, both) == CLAIMS
    # Each token names its own key; pointing it at the other one fails.
    swapped = seal({"alg": "dir", "enc": "A256GCM", "kid": "kid-b"}, raw=RAW)
    assert rejected(swapped, both).reason == "INVALID"


@pytest.mark.parametrize("kid", [None, "", "nope", 1, ["kid-1"], {"kid": "kid-1"}, True])
def test_decrypt_kid_missing_or_not_a_known_string_is_rejected(kid: Any) -> None:
    header: dict[str, Any] = {"alg": "dir", "enc": "A256GCM"}
    if kid is not None:
        header["kid"] = kid

    assert rejected(seal(header)).reason == "INVALID"


def test_decrypt_empty_ring_is_rejected() -> None:
    assert rejected(good_compact(), {}).reason == "INVALID"


# --- decrypt: tampering and garbage ------------------------------------------------


def _flip(segment: str) -> str:
    i = len(segment) // 2
    return segment[:i] + ("B" if segment[i] == "A" else "A") + segment[i + 1 :]


@pytest.mark.parametrize(
    "index", range(5), ids=["header", "encrypted_key", "iv", "ciphertext", "tag"]
)
def test_decrypt_segment_tampered_is_rejected(index: int) -> None:
    segments = good_compact().split(".")
    segments[index] = _flip(segments[index]) if segments[index] else "AAAAAAAAAAA"

    assert rejected(".".join(segments)).reason == "INVALID"


def test_decrypt_auth_tag_truncated_is_rejected() -> None:
    segments = good_compact().split(".")
    tag = base64.urlsafe_b64decode(segments[4] + "==")
    segments[4] = b64(tag[:12])

    assert rejected(".".join(segments)).reason == "INVALID"


@pytest.mark.parametrize(
    "compact",
    [
        "",
        "....",
        "a.b.c.d.e",
        "!!!.@@@.###.$$$.%%%",
        "Zoë.🍓.日本.\x00.ß",
        "\ud800.\udfff.a.b.c",
        "A" * 70_000,
        ".".join(["A" * 2000] * 5),
    ],
)
def test_decrypt_garbage_is_rejected(compact: str) -> None:
    assert rejected(compact).reason == "INVALID"


@pytest.mark.parametrize(
    "payload", [b"[1, 2, 3]", b'"session"', b"null", b"42", b"not json", b"", b"\xff\xfe"]
)
def test_decrypt_claims_not_a_json_object_is_rejected(payload: bytes) -> None:
    compact = build({"alg": "dir", "enc": "A256GCM", "kid": KID}, payload)

    assert rejected(compact).reason == "INVALID"


# --- decrypt: nothing but BadToken escapes -----------------------------------------


def test_decrypt_jose_error_is_wrapped_without_chaining(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise DecodeError("boom: internal detail")

    monkeypatch.setattr(jwe, "decrypt_compact", explode)  # the module tokens.py calls

    error = rejected(good_compact())

    assert error.reason == "INVALID"
    assert str(error) == "INVALID"
    assert error.__cause__ is None and error.__suppress_context__


def test_decrypt_random_mutations_raise_only_bad_token() -> None:
    """A seeded fuzz over headers and segments: any failure is a coarse BadToken, and
    reading the unverified kid never raises."""
    rnd = random.Random(20240611)
    base = good_compact().split(".")
    values: list[Any] = [None, True, 0, -1, 1.5, "", "dir", "A256GCM", "DEF", KID, [], {}, ["x"]]
    names = ["alg", "enc", "kid", "zip", "typ", "cty", "crit", "jku", "jwk", "x5c", "iv", "p2c"]
    for _ in range(1500):
        header: dict[str, Any] = {"alg": "dir", "enc": "A256GCM", "kid": KID}
        for _ in range(rnd.randint(0, 3)):
            header[rnd.choice(names)] = rnd.choice(values)
        segments = [b64(json.dumps(header).encode()), *base[1:]]
        for _ in range(rnd.randint(0, 3)):
            i = rnd.randrange(5)
            chars = list(segments[i]) or ["A"]
            chars[rnd.randrange(len(chars))] = rnd.choice("A_-=.!é\x00 \ud800")
            segments[i] = "".join(chars)
        compact = ".".join(segments)
        kid = tokens.unverified_kid(compact)
        assert kid is None or (isinstance(kid, str) and kid.isascii())
        try:
            claims = tokens.decrypt(compact, RING)
        except BadToken as bad:
            assert bad.reason in REASONS
        else:
            # Only an unchanged header and segments (or a no-op mutation) decrypt.
            assert claims == CLAIMS
