"""PCI masking of card numbers in message text of ``pci-scoped`` conversations.

A card number is a run of 13 to 19 digits, optionally grouped by single
spaces or dashes, that passes the Luhn check. All but the last four digits
are replaced by ``*``; the grouping is kept so the text stays readable.
"""

from __future__ import annotations

import re

CARD_CANDIDATE = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask_match(match: re.Match) -> str:
    run = match.group(0)
    digits = re.sub(r"\D", "", run)
    if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        return run
    keep_from = len(digits) - 4
    out, seen = [], 0
    for char in run:
        if char.isdigit():
            out.append(char if seen >= keep_from else "*")
            seen += 1
        else:
            out.append(char)
    return "".join(out)


def mask_card_numbers(text: str) -> str:
    if not text or not any(char.isdigit() for char in text):
        return text
    return CARD_CANDIDATE.sub(_mask_match, text)
