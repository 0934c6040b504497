"""Constrained field types shared by every record type.

Each refusal raises a ``PydanticCustomError`` whose *type* is the stable error
code the API and CLI report (``bad_money``, ``bad_period`` …), so a person sees
what was wrong and a program can act on the code.

Formats (DESIGN.md): countries ISO 3166-1 alpha-2, currencies ISO 4217, times
RFC 3339, dates ``YYYY-MM-DD``, periods ``YYYY-MM``, money as decimal strings.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import re
from typing import Annotated

import pycountry
from pydantic import AfterValidator, StrictStr
from pydantic_core import PydanticCustomError

COUNTRIES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)
CURRENCIES: frozenset[str] = frozenset(c.alpha_3 for c in pycountry.currencies)

_AGENCY = re.compile(r"[A-Z]{2}-[A-Z0-9]{2,24}")
_RECORD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# A PWID is the home state's ISO code and 16 Crockford base32 characters (80 bits).
_PWID = re.compile(r"([A-Z]{2})-[0-9A-HJKMNP-TV-Z]{16}")
_PSEUDONYM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{3,63}")
_MONEY = re.compile(r"(0|[1-9][0-9]{0,17})(\.[0-9]{1,4})?")
_PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)


# Checks of values that recur from record to record (agencies, workers, employers,
# periods, times): a batch of a thousand contributions holds a few dozen distinct
# ones, and a cache hit costs a fraction of the regular expression. Refusals raise,
# so they are never cached.
_repeated = functools.lru_cache(maxsize=4096)


def _fail(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


@_repeated
def check_country(value: str) -> str:
    if value not in COUNTRIES:
        raise _fail("bad_country", f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


@_repeated
def check_currency(value: str) -> str:
    if value not in CURRENCIES:
        raise _fail("bad_currency", f"{value!r} is not an ISO 4217 currency code")
    return value


@_repeated
def check_agency(value: str) -> str:
    if not _AGENCY.fullmatch(value) or value[:2] not in COUNTRIES:
        raise _fail(
            "bad_agency",
            f"{value!r} is not an agency id: ISO country code, '-', 2-24 capitals or digits "
            "(e.g. MY-PERKESO)",
        )
    return value


def check_record_id(value: str) -> str:
    if not _RECORD_ID.fullmatch(value):
        raise _fail(
            "bad_record_id",
            "a record id is 1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter "
            "or digit",
        )
    return value


@_repeated
def check_pwid(value: str) -> str:
    m = _PWID.fullmatch(value)
    if not m or m.group(1) not in COUNTRIES:
        raise _fail(
            "bad_pwid",
            f"{value!r} is not a portable worker id (PWID): home country code, '-', "
            "16 Crockford base32 characters",
        )
    return value


@_repeated
def check_pseudonym(value: str) -> str:
    if not _PSEUDONYM.fullmatch(value):
        raise _fail(
            "bad_pseudonym",
            "an employer pseudonym is 4-64 characters of A-Z a-z 0-9 . _ : -",
        )
    return value


def check_money(value: str) -> str:
    if not _MONEY.fullmatch(value):
        raise _fail(
            "bad_money",
            f"{value!r} is not an amount: a non-negative decimal string with at most "
            '4 decimals, e.g. "1250.00" (never a JSON number)',
        )
    return value


@_repeated
def check_period(value: str) -> str:
    m = _PERIOD.fullmatch(value)
    if not m or not 1900 <= int(m.group(1)) <= 2999:
        raise _fail("bad_period", f'{value!r} is not a period: YYYY-MM, e.g. "2026-10"')
    return value


@_repeated
def check_date(value: str) -> str:
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        dt.date.fromisoformat(value)
    except ValueError:
        raise _fail("bad_date", f"{value!r} is not a date: YYYY-MM-DD") from None
    return value


@_repeated
def check_time(value: str) -> str:
    try:
        if not _TIME.fullmatch(value):
            raise ValueError
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(
            "bad_time",
            f'{value!r} is not an RFC 3339 time, e.g. "2026-11-22T10:00:00Z"',
        ) from None
    return value


def _is_base64_32(value: str) -> bool:
    """Canonical standard base64 of exactly 32 bytes."""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return len(raw) == 32 and base64.b64encode(raw).decode() == value


def check_digest(value: str) -> str:
    if not _is_base64_32(value):
        raise _fail("bad_commitment", "a commitment is a base64 SHA-256 digest (32 bytes)")
    return value


def check_holder_key(value: str) -> str:
    if not _is_base64_32(value):
        raise _fail(
            "bad_holder_key", "a holder key is a raw Ed25519 public key in base64 (32 bytes)"
        )
    return value


Country = Annotated[StrictStr, AfterValidator(check_country)]
Currency = Annotated[StrictStr, AfterValidator(check_currency)]
AgencyId = Annotated[StrictStr, AfterValidator(check_agency)]
RecordId = Annotated[StrictStr, AfterValidator(check_record_id)]
PWID = Annotated[StrictStr, AfterValidator(check_pwid)]
Pseudonym = Annotated[StrictStr, AfterValidator(check_pseudonym)]
Money = Annotated[StrictStr, AfterValidator(check_money)]
Period = Annotated[StrictStr, AfterValidator(check_period)]
Date = Annotated[StrictStr, AfterValidator(check_date)]
Timestamp = Annotated[StrictStr, AfterValidator(check_time)]
Digest = Annotated[StrictStr, AfterValidator(check_digest)]
HolderKey = Annotated[StrictStr, AfterValidator(check_holder_key)]
