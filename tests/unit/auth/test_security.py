"""Password hashing, tokens, join codes and CSRF helpers, without a database."""

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.auth import security


def test_hash_then_verify() -> None:
    hashed = security.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert security.verify_password("correct horse battery", hashed)
    assert not security.verify_password("correct horse battery!", hashed)


def test_same_password_hashes_differently_each_time() -> None:
    assert security.hash_password("correct horse battery") != security.hash_password("correct horse battery")


def test_unicode_forms_of_one_password_match() -> None:
    composed, decomposed = "caf\u00e9 au lait!", "cafe\u0301 au lait!"
    assert security.verify_password(decomposed, security.hash_password(composed))


@pytest.mark.parametrize("bad_hash", ["", "not-a-hash", "$argon2id$v=19$m=65536,t=3,p=4$broken", "$2b$12$abc"])
def test_malformed_hash_is_a_mismatch_not_an_error(bad_hash: str) -> None:
    assert security.verify_password("whatever password", bad_hash) is False


def test_verify_and_rehash_upgrades_weaker_hashes() -> None:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)).hash("correct horse battery")
    ok, new_hash = security.verify_and_rehash("correct horse battery", weak)
    assert ok and new_hash is not None and new_hash != weak
    assert security.verify_password("correct horse battery", new_hash)
    assert security.verify_and_rehash("wrong password here", weak) == (False, None)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1!", "at least 10"),
        ("1234567890123", "digits only"),
        ("aaaaaaaaaaaa", "repeated"),
        ("Password123", "too common"),
        ("x" * 200 + "y" * 57, "at most 256"),
    ],
)
def test_weak_passwords_are_refused_with_a_plain_reason(password: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        security.check_password_strength(password)


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "kluster2026", "Ünïcødé pass phrase", " spaces ok "]
)
def test_long_enough_passwords_pass_without_composition_rules(password: str) -> None:
    security.check_password_strength(password)


def test_member_and_api_tokens_are_long_random_and_url_safe() -> None:
    member = security.new_member_token()
    api = security.new_api_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", member)
    assert api.startswith("cs_") and re.fullmatch(r"cs_[A-Za-z0-9_-]{43}", api)
    assert len({security.new_member_token() for _ in range(50)}) == 50


def test_token_hash_is_sha256_hex() -> None:
    assert security.token_hash("abc") == hashlib.sha256(b"abc").hexdigest()
    assert len(security.token_hash(security.new_member_token())) == 64


def test_join_code_is_shown_in_two_groups_from_the_unambiguous_alphabet() -> None:
    for _ in range(200):
        code = security.new_join_code()
        assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code)
        assert not set(code.replace("-", "")) & set("ILO01")
        assert security.is_well_formed_join_code(code)


@pytest.mark.parametrize(
    "typed", ["abcd efgh", "ABCD-EFGH", " abcd-efgh ", "ABCDEFGH", "ab cd\u2013ef gh", "Abcd\tEfgh"]
)
def test_join_code_normalisation(typed: str) -> None:
    assert security.normalise_join_code(typed) == "ABCDEFGH"
    assert security.join_code_hash(typed, "secret") == security.join_code_hash("ABCD-EFGH", "secret")
    assert security.format_join_code(typed) == "ABCD-EFGH"


@pytest.mark.parametrize("typed", ["", "ABCD-EFG", "ABCD-EFGHJ", "ABCD-EFG0", "ABCD-EFGI", "ABCD-EFG!"])
def test_malformed_join_codes_are_recognised(typed: str) -> None:
    assert not security.is_well_formed_join_code(typed)


@given(st.text(alphabet=security.JOIN_CODE_ALPHABET, min_size=8, max_size=8))
def test_any_displayed_code_normalises_back(code: str) -> None:
    shown = security.format_join_code(code)
    assert security.normalise_join_code(shown.lower()) == code
    assert security.is_well_formed_join_code(shown.lower().replace("-", " "))


def test_join_code_hash_is_keyed() -> None:
    assert security.join_code_hash("ABCD-EFGH", "one secret") != security.join_code_hash("ABCD-EFGH", "another")
    assert security.join_code_hash("ABCD-EFGH", "k") != hashlib.sha256(b"ABCDEFGH").hexdigest()
    with pytest.raises(ValueError):
        security.join_code_hash("ABCD-EFGH", "")


def test_constant_time_equals() -> None:
    assert security.constant_time_equals("abc", "abc")
    assert not security.constant_time_equals("abc", "abd")
    assert not security.constant_time_equals("abc", "abcd")
    assert not security.constant_time_equals("caf\u00e9", "cafe")  # non-ASCII must not raise


def test_csrf() -> None:
    token = security.new_csrf_token()
    assert len(token) >= 40 and token != security.new_csrf_token()
    assert security.csrf_matches(token, token)
    assert not security.csrf_matches(token, token + "x")
    assert not security.csrf_matches(None, token)
    assert not security.csrf_matches(token, None)
    assert not security.csrf_matches("", "")
    assert not security.csrf_matches(None, None)
