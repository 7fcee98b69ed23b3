"""PCI masking of card numbers in message text of ``pci-scoped`` conversations.

A card number is a run of 13 to 19 digits, optionally grouped by single
spaces or dashes, that passes the Luhn check. All but the last four digits
are replaced by ``*``; the grouping is kept so the text stays readable.

The same masking applies to every stored copy of the text: the message row, and the webhook
receipt body kept for replay (``mask_cards_in_body``), so a replay rebuilds the masked mirror.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

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


def card_numbers(text: str) -> set[str]:
    """The Luhn-valid card numbers in ``text``, as bare digits."""
    if not text or not any(char.isdigit() for char in text):
        return set()
    found = set()
    for match in CARD_CANDIDATE.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.add(digits)
    return found


def mask_cards_in_body(body: str, texts: Iterable[str]) -> str:
    """A stored JSON body with the card numbers of ``texts`` (the delivery's message texts) masked.

    Every string value that holds one of those numbers is masked, wherever the platform put it
    (CXone repeats a message's text in ``messageContent.payload``); other values, identifiers
    included, are left alone, so the masked body still replays to the same mirror. Unchanged
    (the same string) when there is nothing to mask.
    """
    numbers = set().union(*(card_numbers(text) for text in texts))
    if not numbers:
        return body
    try:
        payload = json.loads(body)
    except ValueError:
        return mask_card_numbers(body)  # not JSON (never stored so): mask the whole text
    stack, changed = [payload], False
    while stack:
        value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if isinstance(item, str):
                if any(number in re.sub(r"\D", "", item) for number in numbers):
                    masked = mask_card_numbers(item)
                    if masked != item:
                        value[key], changed = masked, True
            elif isinstance(item, dict | list):
                stack.append(item)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if changed else body
