"""X-Hub-Signature-256: GitHub's published test vector, rotation, and which secret matched."""

from __future__ import annotations

import pytest

from tekton_dag.webhooks import signatures

# docs.github.com "Validating webhook deliveries", section "Testing the webhook payload validation".
VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_sign_reproduces_githubs_test_vector() -> None:
    assert signatures.sign(VECTOR_SECRET, VECTOR_BODY) == VECTOR_SIGNATURE


def test_githubs_test_vector_verifies() -> None:
    assert signatures.matching_owner(VECTOR_BODY, VECTOR_SIGNATURE, [("", VECTOR_SECRET)]) == ""


def test_any_active_secret_verifies_during_rotation() -> None:
    secrets = [("", "old-secret"), ("", VECTOR_SECRET), ("payments", "team-secret")]
    assert signatures.matching_owner(VECTOR_BODY, VECTOR_SIGNATURE, secrets) == ""
    team_signature = signatures.sign("team-secret", VECTOR_BODY)
    assert signatures.matching_owner(VECTOR_BODY, team_signature, secrets) == "payments"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        VECTOR_SIGNATURE.removeprefix("sha256="),  # no algorithm prefix
        "sha1=" + VECTOR_SIGNATURE.removeprefix("sha256="),  # the legacy header's algorithm
        VECTOR_SIGNATURE.upper(),
        VECTOR_SIGNATURE[:-1] + "f",  # one hex digit off
        VECTOR_SIGNATURE + "00",
        "sha256=ünïcode",
    ],
    ids=["absent", "empty", "no prefix", "sha1", "upper case", "one digit off", "too long", "non-ascii"],
)
def test_a_wrong_signature_matches_no_secret(header: str | None) -> None:
    assert signatures.matching_owner(VECTOR_BODY, header, [("", VECTOR_SECRET)]) is None


def test_a_changed_body_does_not_verify() -> None:
    assert signatures.matching_owner(b"Hello, World?", VECTOR_SIGNATURE, [("", VECTOR_SECRET)]) is None


def test_no_secrets_configured_verifies_nothing() -> None:
    assert signatures.matching_owner(VECTOR_BODY, VECTOR_SIGNATURE, []) is None
