"""oauth2.providers: the sign-up switches a provider carries, their defaults and their types."""

from __future__ import annotations

import pydantic
import pytest

from synctv.core.settings import setting

BASE = {"name": "g", "issuer": "https://id.example", "clientId": "c", "clientSecret": "s"}


def test_a_provider_may_sign_up_without_review_by_default() -> None:
    [provider] = setting("oauth2.providers").adapter.validate_python([BASE])
    assert (provider.allow_signup, provider.signup_needs_review) == (True, False)


def test_the_sign_up_switches_are_read_by_their_camel_case_names() -> None:
    value = [{**BASE, "allowSignup": False, "signupNeedsReview": True}]
    [provider] = setting("oauth2.providers").adapter.validate_python(value)
    assert (provider.allow_signup, provider.signup_needs_review) == (False, True)


def test_a_switch_that_is_not_a_boolean_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        setting("oauth2.providers").adapter.validate_python([{**BASE, "allowSignup": "maybe"}])
