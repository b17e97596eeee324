"""The shared field validators of components/settings/types.py, on their own."""

from __future__ import annotations

import re

import pytest

from components.settings.types import QUALIFIED_KEY_RE, http_url, matching

LOWER = re.compile(r"^[a-z]+\Z")


def test_a_match_is_returned_unchanged_and_an_unset_value_passes() -> None:
    check = matching(LOWER, "a word", "lower-case letters")
    assert check("abc") == "abc"
    assert check(None) is None


def test_a_mismatch_names_what_was_expected_and_the_accepted_form() -> None:
    with pytest.raises(ValueError, match=r"^not a word; accepted form: lower-case letters$"):
        matching(LOWER, "a word", "lower-case letters")("ABC")


def test_an_http_url_loses_its_trailing_slash_and_other_schemes_are_refused() -> None:
    check = http_url("http(s)://host")
    assert check("https://grafana.example.com/") == "https://grafana.example.com"
    with pytest.raises(ValueError, match=r"^not a URL; accepted form: http\(s\)://host$"):
        check("ftp://grafana.example.com")


@pytest.mark.parametrize("key", ["app", "app.kubernetes.io/name", "eks.amazonaws.com/role-arn", "a_b.c-d"])
def test_label_and_annotation_keys_share_the_qualified_name_syntax(key: str) -> None:
    assert QUALIFIED_KEY_RE.match(key)


@pytest.mark.parametrize("key", ["", "-app", "app-", "Bad_Prefix/name", "a/b/c", "x" * 64, "prefix/"])
def test_keys_outside_the_qualified_name_syntax_are_refused(key: str) -> None:
    assert not QUALIFIED_KEY_RE.match(key)
