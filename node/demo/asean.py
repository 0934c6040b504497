"""The ten ASEAN member states' social-security agencies and the main migration corridors.

Used for synthetic data and the demo federation. Agency ids are ``<ISO 3166>-<acronym>``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Agency:
    id: str
    country: str
    state: str
    name: str
    currency: str
    #: Monthly insured-earnings ceiling, in the currency's units, for synthetic data.
    ceiling: int
    #: Synthetic contribution rates by branch, as a share of insured earnings.
    rates: tuple[tuple[str, float], ...]


AGENCIES: tuple[Agency, ...] = (
    Agency(
        "BN-TAP",
        "BN",
        "Brunei Darussalam",
        "Tabung Amanah Pekerja",
        "BND",
        2800,
        (("old_age", 0.085),),
    ),
    Agency(
        "KH-NSSF",
        "KH",
        "Cambodia",
        "National Social Security Fund",
        "KHR",
        1_200_000,
        (("employment_injury", 0.008), ("health", 0.026), ("old_age", 0.04)),
    ),
    Agency(
        "ID-BPJSTK",
        "ID",
        "Indonesia",
        "BPJS Ketenagakerjaan",
        "IDR",
        10_000_000,
        (("old_age", 0.057), ("employment_injury", 0.0054), ("survivors", 0.003)),
    ),
    Agency(
        "LA-LSSO",
        "LA",
        "Lao PDR",
        "Lao Social Security Organization",
        "LAK",
        4_500_000,
        (("old_age", 0.11), ("health", 0.045), ("employment_injury", 0.005)),
    ),
    Agency(
        "MY-PERKESO",
        "MY",
        "Malaysia",
        "Social Security Organisation (PERKESO)",
        "MYR",
        6000,
        (("employment_injury", 0.0125), ("invalidity", 0.01), ("unemployment", 0.004)),
    ),
    Agency(
        "MM-SSB",
        "MM",
        "Myanmar",
        "Social Security Board",
        "MMK",
        300_000,
        (("health", 0.04), ("employment_injury", 0.01)),
    ),
    Agency(
        "PH-SSS",
        "PH",
        "Philippines",
        "Social Security System",
        "PHP",
        35_000,
        (("old_age", 0.14), ("employment_injury", 0.003)),
    ),
    Agency(
        "SG-CPF",
        "SG",
        "Singapore",
        "Central Provident Fund Board",
        "SGD",
        7400,
        (("old_age", 0.37),),
    ),
    Agency(
        "TH-SSO",
        "TH",
        "Thailand",
        "Social Security Office",
        "THB",
        17_500,
        (("sickness", 0.03), ("old_age", 0.06), ("unemployment", 0.01)),
    ),
    Agency(
        "VN-VSS",
        "VN",
        "Viet Nam",
        "Viet Nam Social Security",
        "VND",
        46_800_000,
        (("old_age", 0.22), ("sickness", 0.03), ("health", 0.045), ("unemployment", 0.02)),
    ),
)

BY_COUNTRY: dict[str, Agency] = {a.country: a for a in AGENCIES}
BY_ID: dict[str, Agency] = {a.id: a for a in AGENCIES}

#: (home, host, relative weight): the main labour-migration corridors inside ASEAN.
CORRIDORS: tuple[tuple[str, str, int], ...] = (
    ("MM", "TH", 40),
    ("KH", "TH", 15),
    ("LA", "TH", 10),
    ("ID", "MY", 20),
    ("VN", "MY", 4),
    ("MM", "MY", 6),
    ("PH", "MY", 3),
    ("PH", "SG", 5),
    ("ID", "SG", 3),
    ("MY", "SG", 10),
    ("MM", "SG", 2),
    ("ID", "BN", 1),
    ("PH", "BN", 1),
    ("VN", "TH", 1),
    ("KH", "MY", 1),
)


def agency_for(agency_id: str) -> Agency:
    """The catalogue entry of an ASEAN agency, or a generic one for other agency ids."""
    if agency_id in BY_ID:
        return BY_ID[agency_id]
    country = agency_id[:2]
    return Agency(agency_id, country, country, agency_id, "USD", 5000, (("old_age", 0.1),))
