"""Check digits of Japanese identifiers (pure functions, table-tested)."""

from __future__ import annotations

from medswallow.pii.text import digits_only


def my_number_ok(value: str) -> bool:
    """Individual Number (マイナンバー): 12 digits, the last one a check digit.

    Spec (行政手続における特定の個人を識別するための番号の利用等に関する法律施行令 第8条): with P_n the n-th
    digit counted from the right excluding the check digit (n = 1..11) and Q_n = n + 1 for n <= 6 and n - 5
    for n >= 7, the check digit is 0 when sum(P_n * Q_n) mod 11 <= 1, else 11 minus that remainder.
    """
    d = digits_only(value)
    if len(d) != 12:
        return False
    body = d[:11]
    total = 0
    for n in range(1, 12):
        p = int(body[11 - n])
        q = n + 1 if n <= 6 else n - 5
        total += p * q
    r = total % 11
    check = 0 if r <= 1 else 11 - r
    return check == int(d[11])


def luhn_ok(value: str) -> bool:
    """Luhn (mod 10, weights 2-1 from the right): the check digit of 保険者番号 (6 or 8 digits)."""
    d = digits_only(value)
    if len(d) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(d)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def make_my_number(body11: str) -> str:
    """Append the check digit to 11 digits (used to generate valid test values)."""
    for c in "0123456789":
        if my_number_ok(body11 + c):
            return body11 + c
    raise ValueError(body11)


def make_luhn(body: str) -> str:
    """Append the Luhn check digit to a digit string (used to generate valid 保険者番号)."""
    for c in "0123456789":
        if luhn_ok(body + c):
            return body + c
    raise ValueError(body)


def dea_ok(value: str) -> bool:
    """DEA registration number: 2 letters + 7 digits; (d1+d3+d5) + 2*(d2+d4+d6) ends in the 7th digit."""
    d = digits_only(value)
    if len(d) != 7:
        return False
    n = [int(c) for c in d]
    return (n[0] + n[2] + n[4] + 2 * (n[1] + n[3] + n[5])) % 10 == n[6]
