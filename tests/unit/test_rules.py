"""Pure rules: NPI check digit, contract resolution, methodology bands and outcomes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mips_profiles.core.contract import load_contract, normalise_column_name
from mips_profiles.core.methodology import load_methodology
from mips_profiles.core.years import SUPPORTED_YEARS
from mips_profiles.errors import ConfigurationError
from mips_profiles.keys import npi_key
from mips_profiles.npi import is_valid_npi, valid_check_digits
from mips_profiles.sandbox.generator import npi_for

DEFAULT_PUBLIC = {
    "npi",
    "performance_year",
    "final_score",
    "payment_adjustment_pct",
    "participation_option",
    "quality_category_score",
    "pi_category_score",
    "ia_category_score",
    "cost_category_score",
    "quality_category_weight",
    "pi_category_weight",
    "ia_category_weight",
    "cost_category_weight",
}


@pytest.mark.parametrize("npi", ["1234567893", "1932365699", "1376745471"])
def test_published_example_npis_are_valid(npi):
    assert is_valid_npi(npi)


@pytest.mark.parametrize("npi", ["1234567890", "123456789", "12345678931", "3234567893", "12345b7893", "１234567893"])
def test_malformed_or_wrong_check_digit_npis_are_invalid(npi):
    assert not is_valid_npi(npi)


@given(st.integers(min_value=100_000_000, max_value=299_999_999))
def test_exactly_one_check_digit_makes_a_body_valid(body):
    valid = [d for d in range(10) if is_valid_npi(f"{body}{d}")]
    assert len(valid) == 1


@given(st.lists(st.integers(min_value=1_000_000_000, max_value=2_999_999_999), min_size=1, max_size=50))
def test_vectorised_check_agrees_with_scalar_check(values):
    arr = np.array(values, dtype=np.int64)
    digits = (arr[:, None] // (10 ** np.arange(9, -1, -1, dtype=np.int64))) % 10
    assert valid_check_digits(digits).tolist() == [is_valid_npi(str(v)) for v in values]


def test_generator_npis_are_valid_and_distinct():
    npis = npi_for(np.arange(0, 20_000))
    assert len(set(npis.tolist())) == 20_000
    assert all(is_valid_npi(str(v)) for v in npis[:2000])


@given(st.text(max_size=12))
def test_only_a_valid_npi_maps_to_a_key(text):
    if is_valid_npi(text):
        assert npi_key(text) == f"v1/npi/{text}.json"
    else:
        with pytest.raises(ValueError):
            npi_key(text)


@pytest.mark.parametrize("raw", ["\ufeffFinal Score", "  final   score ", "FINAL SCORE", "final\tscore"])
def test_column_names_normalise_case_spaces_and_bom(raw):
    assert normalise_column_name(raw) == "final score"


def test_default_contract_allows_exactly_the_agreed_fields():
    contract = load_contract()
    assert set(contract.public_fields()) == DEFAULT_PUBLIC
    locked = {f.name for f in contract.write_locked_fields()}
    for name in (
        "provider_key",
        "practice_state",
        "clinician_specialty",
        "medicare_patients",
        "allowed_charges",
        "quality_measure_id_{n}",
        "small_practice_status",
        "pi_bonus",
        "cost_reweighting_euc",
        "pi_reweighting_special_status",
        "pi_cehrt_id",
    ):
        assert name in locked


@pytest.mark.parametrize("year", SUPPORTED_YEARS)
def test_every_year_resolves_every_required_field(year):
    contract = load_contract()
    columns = contract.resolve_columns(year)
    for name in contract.required_fields():
        if any(source.covers(year) for source in contract.field(name).sources):  # weights: PY2023+ only
            assert name in columns, (year, name)
    assert {"npi", "final_score", "payment_adjustment_pct", "participation_option"} <= set(columns)
    assert contract.layout_for_year(year).years[0] <= year


def test_participation_is_renamed_between_layouts():
    contract = load_contract()
    assert contract.resolve_columns(2021)["participation_option"] == "participation type"
    assert contract.resolve_columns(2022)["participation_option"] == "participation option"
    assert contract.resolve_columns(2019)["ia_category_score"] == "ia score"
    assert contract.resolve_columns(2024)["cost_category_score"] == "cost category score"


def test_measure_slots_expand_per_year():
    contract = load_contract()
    assert "quality_measure_id_10" in contract.resolve_columns(2019)
    assert "quality_measure_id_11" not in contract.resolve_columns(2019)
    assert "pi_measure_id_21" in contract.resolve_columns(2023)
    assert "cost_measure_id_28" in contract.resolve_columns(2024)
    assert "cost_measure_id_25" not in contract.resolve_columns(2023)


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (100.0, "exceptional"),
        (90.0, "exceptional"),
        (89.99, "above_average"),
        (75.0, "above_average"),
        (74.99, "meeting_threshold"),
        (50.0, "meeting_threshold"),
        (49.99, "below_threshold"),
        (0.0, "below_threshold"),
        (None, None),
    ],
)
def test_score_bands_follow_methodology_v1(score, band):
    assert load_methodology().score_band(score) == band


@pytest.mark.parametrize(
    ("year", "adjustment", "outcome"),
    [
        (2024, 1.05, "positive"),
        (2024, 0.0, "neutral"),
        (2024, -4.36, "negative"),
        (2024, -9.0, "maximum_negative"),
        (2017, -4.0, "maximum_negative"),
        (2017, -3.0, "negative"),
        (2024, None, None),
    ],
)
def test_payment_outcome_comes_from_the_published_adjustment(year, adjustment, outcome):
    assert load_methodology().payment_outcome(year, adjustment) == outcome


def test_unsupported_performance_year_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="performance year 2031 is not supported"):
        load_methodology().parameters(2031)


def test_a_valid_check_digit_does_not_make_any_first_digit_valid():
    """Only 1 and 2 start an NPI, whatever the check digit says."""
    from mips_profiles.npi import check_digits

    for first in "03456789":
        body = first + "23456789"
        digit = int(check_digits(np.array([[int(c) for c in body]]))[0])
        assert not is_valid_npi(body + str(digit)), body


@pytest.mark.parametrize("text", ["1２34567893", "12３4567893", "123456789３", "12345６7893", "1234567８93"])
def test_non_ascii_digits_anywhere_are_invalid_not_an_error(text):
    assert is_valid_npi(text) is False


def test_the_payment_year_is_two_years_after_the_performance_year():
    m = load_methodology()
    assert [m.payment_year(y) for y in (2017, 2024)] == [2019, 2026]


def test_an_unsupported_year_names_the_supported_range():
    with pytest.raises(
        ConfigurationError,
        match=r"performance year 2016 is not supported by methodology "
        r"cms-qpp-mips/v3 \(supported: 2017-2025\)",
    ):
        load_methodology().parameters(2016)


def _luhn_oracle(text: str) -> bool:
    """The NPI rule as the CMS NPI standard states it, written independently of the package."""
    if len(text) != 10 or any(ch not in "0123456789" for ch in text) or text[0] not in "12":
        return False
    digits = [int(ch) for ch in "80840" + text[:9]]
    total = sum(sum(divmod(d * 2, 10)) if i % 2 == 0 else d for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10 == int(text[9])


@given(st.lists(st.one_of(st.text(max_size=11), st.from_regex(r"[12][0-9]{9}", fullmatch=True)), max_size=30))
def test_a_batch_of_npis_is_checked_as_each_one_alone(values):
    from mips_profiles.keys import npi_keys
    from mips_profiles.npi import valid_npis

    expected = [_luhn_oracle(v) for v in values]
    checked = valid_npis(values)
    assert checked.dtype == bool and checked.tolist() == expected
    if all(expected):
        assert npi_keys(values) == [f"v1/npi/{v}.json" for v in values]
    else:
        with pytest.raises(ValueError) as refused:
            npi_keys(values)
        assert str(refused.value) == f"not a valid NPI: {values[expected.index(False)]!r}"
