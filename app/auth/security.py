"""Password hashing, secret tokens, join codes and CSRF tokens: pure functions, no database.

Two kinds of secret, two kinds of hash:
- Passwords are chosen by people and guessable, so they get Argon2: slow and memory-hard,
  which makes every offline guess against a leaked hash expensive.
- Tokens (member links, API tokens) are 256 random bits. Nobody can enumerate that space, slow
  hash or not, so a plain SHA-256 is enough, and it lets us find a token by an indexed equality
  lookup on its hash (a salted slow hash could not be looked up at all).
- Join codes sit in between: 8 characters typed in a workshop room, about 40 bits. SHA-256 of
  that could be brute-forced offline from a database dump, so they get HMAC-SHA256 keyed with
  the app secret, which a database dump alone does not contain. Online guessing against the
  live service is held off by the per-IP rate limit and by codes expiring after a few hours.
"""

import hashlib
import hmac
import secrets
import unicodedata
from datetime import timedelta
from functools import cache

from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from pwdlib.hashers.argon2 import Argon2Hasher

from app.i18n.translation import _l

MIN_PASSWORD_LENGTH = 10
# Long enough for any passphrase or password manager; bounded so nobody makes us hash megabytes.
MAX_PASSWORD_LENGTH = 256
# No I, L, O, 0, 1: they are confused when read off a projector or a printed sheet.
JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8
API_TOKEN_PREFIX = "cs_"
# What people (and phone keyboards) put between the two halves of a code.
_JOIN_CODE_SEPARATORS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2212_.")
# NIST SP 800-63B asks to refuse commonly used passwords. A short list of the ones that pass the
# length rule is enough here: the rate limit stops anyone trying a long list online.
_COMMON_PASSWORDS = frozenset(
    {
        "password12",
        "password123",
        "password1234",
        "password!1",
        "passwordpassword",
        "qwertyuiop",
        "qwerty1234",
        "qwerty12345",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "iloveyou12",
        "iloveyou123",
        "abcdefghij",
        "abc1234567",
        "abcd123456",
        "letmein123",
        "welcome123",
        "changeme123",
        "administrator",
        "clusterscore",
    }
)

_password_hash = PasswordHash((Argon2Hasher(),))


def _normalise_password(password: str) -> str:
    # NIST SP 800-63B: normalise Unicode (NFKC) so the same password typed on another device,
    # whose keyboard composes "é" differently, still matches.
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return _password_hash.hash(_normalise_password(password))


def verify_password(password: str, password_hash: str) -> bool:
    """False, never an exception, for a malformed or foreign hash: a bad row must not become a 500."""
    ok, _ = verify_and_rehash(password, password_hash)
    return ok


def verify_and_rehash(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Also returns a new hash when the stored one used weaker parameters, so hashes upgrade at login."""
    try:
        return _password_hash.verify_and_update(_normalise_password(password), password_hash)
    except (PwdlibError, TypeError, ValueError):
        return False, None


@cache
def dummy_password_hash() -> str:
    """A hash with the current parameters, verified when an email is unknown so timing does not tell."""
    return hash_password(secrets.token_urlsafe(16))


def check_password_strength(password: str) -> None:
    """Length over composition rules (NIST SP 800-63B): long passphrases beat "Aa1!" requirements."""
    password = _normalise_password(password)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(_l("Use at least %(n)s characters.", n=MIN_PASSWORD_LENGTH))
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(_l("Use at most %(n)s characters.", n=MAX_PASSWORD_LENGTH))
    if password.isdigit():
        raise ValueError(_l("A password of digits only is too easy to guess; use words or letters too."))
    if len(set(password)) == 1:
        raise ValueError(_l("A password of one repeated character is too easy to guess."))
    if password.lower() in _COMMON_PASSWORDS:
        raise ValueError(_l("This password is too common; choose another one."))


def new_member_token() -> str:
    return secrets.token_urlsafe(32)


def new_session_key() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    """The prefix lets secret scanners and people recognise a leaked ClusterScore token."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_join_code() -> str:
    code = "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))
    return format_join_code(code)


def normalise_join_code(code: str) -> str:
    """People type codes in lower case, with spaces or dashes; all of those mean the same code."""
    return "".join(ch for ch in code.upper() if not ch.isspace() and ch not in _JOIN_CODE_SEPARATORS)


def is_well_formed_join_code(code: str) -> bool:
    """Checked before any lookup, so garbage input costs neither a hash nor a query."""
    normalised = normalise_join_code(code)
    return len(normalised) == JOIN_CODE_LENGTH and all(ch in JOIN_CODE_ALPHABET for ch in normalised)


def format_join_code(code: str) -> str:
    """Two groups of four are easier to read aloud and to copy than eight letters in a row."""
    normalised = normalise_join_code(code)
    half = len(normalised) // 2
    return f"{normalised[:half]}-{normalised[half:]}"


def token_hash(token: str) -> str:
    """Fast hash on purpose: tokens carry 256 random bits, so slowing down guesses buys nothing."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def join_code_hash(code: str, secret: str) -> str:
    """Keyed, because 40 bits could be brute-forced offline from a leaked database if unkeyed."""
    if not secret:
        raise ValueError("join codes need the app secret to be hashed")
    return hmac.new(secret.encode("utf-8"), normalise_join_code(code).encode("utf-8"), hashlib.sha256).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    """Bytes, because compare_digest refuses non-ASCII str and a submitted value may contain any."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(session_token: str | None, submitted: str | None) -> bool:
    """A missing token on either side is a mismatch, never a pass."""
    if not session_token or not submitted:
        return False
    return constant_time_equals(session_token, submitted)


def login_delay(failures: int, *, free: int, longest: timedelta) -> timedelta:
    """How long to wait after the last failure before the next try: nothing for the first `free` failures,
    then 1 s, 2 s, 4 s ... doubling, at most `longest`. A person who mistypes a few times never waits; a guesser
    at one address gets a dozen more tries an hour."""
    if failures < free:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(failures - free, 30)), longest)


def device_cookie(email: str, secret: str) -> str:
    """Set in a browser that logged into an account: it is then known as the owner's device. Bound to the
    account by a keyed hash, so it cannot be forged or moved to another account."""
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_device_signature(email, nonce, secret)}"


def device_of(cookie: str | None, email: str, secret: str) -> str | None:
    """The device's id when `cookie` was set by a login into this account, else None."""
    nonce, _, signature = (cookie or "").partition(".")
    if not nonce or len(cookie or "") > 200:
        return None
    return nonce if constant_time_equals(signature, _device_signature(email, nonce, secret)) else None


def _device_signature(email: str, nonce: str, secret: str) -> str:
    message = f"device:{email.strip().lower()}:{nonce}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()[:32]
