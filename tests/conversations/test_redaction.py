"""Card numbers (Luhn-valid 13-19 digit runs) are masked; other numbers are left alone."""

import pytest

from conversations.redaction import mask_card_numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111111111111111", "************1111"),
        ("pay with 4111-1111-1111-1111 now", "pay with ****-****-****-1111 now"),
        ("amex 378282246310005.", "amex ***********0005."),
        ("order 4111111111111112", "order 4111111111111112"),  # fails Luhn
        ("call 0123456789", "call 0123456789"),  # too short
        ("", ""),
        ("no digits", "no digits"),
    ],
)
def test_it_masks_only_luhn_valid_card_numbers(text, expected):
    assert mask_card_numbers(text) == expected
