import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from airlock.core.durations import parse_duration
from airlock.core.tokens import (
    ExpiredToken,
    InvalidToken,
    RevokedToken,
    ServiceRole,
    TokenKind,
    TokenVerifier,
    UserRole,
    WrongAudience,
)
from airlock.core.tokens.keys import (
    KeyFileError,
    generate_key_pair,
    load_private_key,
    load_public_key,
)
from airlock.core.tokens.signer import TokenSigner


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    home = tmp_path_factory.mktemp("keys")
    private, public = home / "signing.pem", home / "public.pem"
    assert generate_key_pair(private, public)
    return private, public


@pytest.fixture(scope="module")
def signer(keys: tuple[Path, Path]) -> TokenSigner:
    return TokenSigner(load_private_key(keys[0]))


@pytest.fixture
def verifier(keys: tuple[Path, Path]) -> TokenVerifier:
    return TokenVerifier(load_public_key(keys[1]), leeway_s=0)


def test_private_key_file_is_owner_only(keys: tuple[Path, Path]) -> None:
    assert keys[0].stat().st_mode & 0o777 == 0o600


def test_generate_keeps_existing_pair(keys: tuple[Path, Path]) -> None:
    before = keys[0].read_bytes()
    assert generate_key_pair(*keys) is False
    assert keys[0].read_bytes() == before


def test_missing_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="airlock keys generate"):
        load_public_key(tmp_path / "none.pem")


def test_service_token_round_trip(signer: TokenSigner, verifier: TokenVerifier) -> None:
    token = signer.issue(
        TokenKind.SERVICE, "dp", 3600, role=ServiceRole.DAG_PROCESSOR.value, bundles=["a"]
    )
    claims = verifier.verify(token, "internal")
    assert claims.kind is TokenKind.SERVICE
    assert claims.role is ServiceRole.DAG_PROCESSOR
    assert claims.may_touch_bundle("a")
    assert not claims.may_touch_bundle("b")
    assert claims.exp - claims.iat == 3600


@pytest.mark.parametrize(
    ("kind", "audience"),
    [
        (TokenKind.TASK, "execution"),
        (TokenKind.WORKER, "execution"),
        (TokenKind.SERVICE, "internal"),
        (TokenKind.USER, "web"),
    ],
)
def test_each_kind_is_refused_by_every_other_audience(
    signer: TokenSigner, verifier: TokenVerifier, kind: TokenKind, audience: str
) -> None:
    token = signer.issue(kind, "someone", 60, roles=[UserRole.VIEWER.value])
    assert verifier.verify(token, audience).kind is kind
    for other in {"execution", "internal", "web"} - {audience}:
        with pytest.raises(WrongAudience, match=f"the {other} API"):
            verifier.verify(token, other)


def _b64(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    now = int(time.time())
    claims = {
        "kind": "service",
        "sub": "x",
        "aud": "internal",
        "iss": "airlock",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
        "role": "dag-processor",
    }
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(InvalidToken):
        verifier.verify(unsigned, "internal")


def test_token_signed_by_another_key_is_refused(verifier: TokenVerifier) -> None:
    forged = TokenSigner(Ed25519PrivateKey.generate()).issue(TokenKind.WORKER, "w", 60)
    with pytest.raises(InvalidToken, match="Signature verification failed"):
        verifier.verify(forged, "execution")


def test_hmac_token_with_public_key_as_secret_is_refused(
    keys: tuple[Path, Path], verifier: TokenVerifier
) -> None:
    now = int(time.time())
    claims = {
        "kind": "worker",
        "sub": "w",
        "aud": "execution",
        "iss": "airlock",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
    }
    # The classic key-confusion forgery: HS256 keyed with the (public) verification key.
    header = _b64({"alg": "HS256", "typ": "JWT"}) + "." + _b64(claims)
    mac = hmac.new(keys[1].read_bytes(), header.encode(), hashlib.sha256).digest()
    forged = header + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        verifier.verify(forged, "execution")


def test_expired_token_is_refused(signer: TokenSigner, verifier: TokenVerifier) -> None:
    token = signer.issue(TokenKind.WORKER, "w", 1)
    time.sleep(2.1)
    with pytest.raises(ExpiredToken):
        verifier.verify(token, "execution")


def test_revoked_token_is_refused(signer: TokenSigner, keys: tuple[Path, Path]) -> None:
    token = signer.issue(TokenKind.SERVICE, "dp", 60, role="dag-processor", bundles=["a"])
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    verifier = TokenVerifier(load_public_key(keys[1]), is_revoked={jti}.__contains__)
    with pytest.raises(RevokedToken, match=jti):
        verifier.verify(token, "internal")


def test_a_remembered_token_still_expires(signer: TokenSigner, verifier: TokenVerifier) -> None:
    token = signer.issue(TokenKind.WORKER, "w", 1)
    assert verifier.verify(token, "execution").sub == "w"
    time.sleep(2.1)
    with pytest.raises(ExpiredToken):
        verifier.verify(token, "execution")


def test_a_remembered_token_is_still_refused_elsewhere_and_once_revoked(
    signer: TokenSigner, keys: tuple[Path, Path]
) -> None:
    token = signer.issue(TokenKind.TASK, "ti-1", 60)
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    revoked: set[str] = set()
    verifier = TokenVerifier(load_public_key(keys[1]), is_revoked=revoked.__contains__)
    assert verifier.verify(token, "execution").jti == jti
    with pytest.raises(WrongAudience):
        verifier.verify(token, "internal")
    revoked.add(jti)
    with pytest.raises(RevokedToken):
        verifier.verify(token, "execution")


def test_a_tampered_copy_of_a_remembered_token_is_refused(
    signer: TokenSigner, verifier: TokenVerifier
) -> None:
    token = signer.issue(TokenKind.WORKER, "w", 60)
    verifier.verify(token, "execution")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        verifier.verify(f"{header}.{forged_payload}.{signature}", "execution")


def test_kind_with_mismatched_audience_claim_is_invalid(
    keys: tuple[Path, Path], verifier: TokenVerifier
) -> None:
    now = int(time.time())
    claims = {
        "kind": "task",
        "sub": "t",
        "aud": "internal",
        "iss": "airlock",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
    }
    token = jwt.encode(claims, load_private_key(keys[0]), algorithm="EdDSA")
    with pytest.raises(InvalidToken, match="a task token cannot have audience"):
        verifier.verify(token, "internal")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("15m", 900), ("12h", 43200), ("30d", 2592000), ("2w", 1209600)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0d", "3y", "-1h", "ten"])
def test_bad_durations_are_named(text: str) -> None:
    with pytest.raises(ValueError, match=f"invalid duration {text!r}"):
        parse_duration(text)
