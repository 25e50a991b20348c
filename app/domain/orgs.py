"""Who takes part: the roles an organisation plays, the licences it holds, the product categories it registers,
and which roles read everything (auditors). Each word is defined here once; the schema's CHECK constraints, the
CLI's choices and the services' refusals all read these sets."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # the operator's own organisation
    MANUFACTURER = "manufacturer"
    DISTRIBUTOR = "distributor"
    RETAILER = "retailer"
    PLATFORM = "platform"  # an online marketplace an online sale names
    REGULATOR = "regulator"


class LicenceKind(StrEnum):
    DRUG_MANUFACTURING = "drug_manufacturing"
    DRUG_WHOLESALE = "drug_wholesale"
    DRUG_RETAIL = "drug_retail"
    ONLINE_DRUG_SALES = "online_drug_sales"
    MEDICAL_INSTITUTION = "medical_institution"


class Category(StrEnum):
    DRUG_RX = "drug_rx"
    DRUG_OTC = "drug_otc"
    DRUG_RESTRICTED = "drug_restricted"
    DEVICE = "device"
    FOOD = "food"
    INDUSTRIAL = "industrial"


# As plain strings, in declaration order: the CHECK constraints render them (``role IN ('admin', ...)``).
ROLES: tuple[str, ...] = tuple(r.value for r in Role)
LICENCE_KINDS: tuple[str, ...] = tuple(k.value for k in LicenceKind)
CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)

DRUG_CATEGORIES = frozenset({Category.DRUG_RX, Category.DRUG_OTC, Category.DRUG_RESTRICTED})
# Auditors: regulators, and the operator's admin keys, read every event, unit, product and capture job.
READS_EVERYTHING = frozenset({Role.REGULATOR, Role.ADMIN})
