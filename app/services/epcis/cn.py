"""20-digit drug traceability codes (药品追溯码) in EPCIS: which unit a code names, and how a unit is written.

A 20-digit code arrives as ``https://{host}/cn/{code}`` (see passport_schema/epcis-mapping.md); the domain turns it
into an :class:`~app.domain.epcis.Identifier` carrying only the code. Here the code's first 7 digits find the
product whose ``cn_drug_id`` they are, so the identifier names that product's unit (GTIN, serial = the whole code)
everywhere the capture looks units up. A prefix nobody registered leaves the identifier as it is: external history.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Container, Product
from app.domain import epcis_fields as fields
from app.domain.cn_code import CN_DRUG_ID_LENGTH
from app.domain.code_import import CodeKind, container_key
from app.domain.epcis import Identifier, canonical_gtin_uri, canonical_identifier, cn_code_uri
from app.domain.epcis_fields import Role
from app.domain.errors import InvalidInput


def products_by_drug_id(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """GTIN by 7-digit 药品标识码, for the prefixes of ``codes`` that a product registered."""
    prefixes = sorted({code[:CN_DRUG_ID_LENGTH] for code in codes})
    if not prefixes:
        return {}
    rows = session.execute(select(Product.cn_drug_id, Product.gtin).where(Product.cn_drug_id.in_(prefixes)))
    return {drug_id: gtin for drug_id, gtin in rows if drug_id is not None}


def package_keys(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """Container key by 20-digit code, for the codes an import registered as packages (boxes, cases)."""
    keys = {container_key(code, CodeKind.CN): code for code in codes}
    if not keys:
        return {}
    found = session.scalars(select(Container.sscc).where(Container.sscc.in_(sorted(keys))))
    return {keys[key]: key for key in found}


def resolve(session: Session, ids: list[Role]) -> list[Role]:
    """The event's identifiers, each 20-digit code of an imported package as that container, and each other one
    of a registered product as that product's unit."""
    codes = [i.cn_code for _, i in ids if i.cn_code]
    packages = package_keys(session, codes)
    gtins = products_by_drug_id(session, [c for c in codes if c not in packages])
    return [(role, _resolved(i, packages, gtins)) for role, i in ids]


def _resolved(ident: Identifier, packages: dict[str, str], gtins: dict[str, str]) -> Identifier:
    code = ident.cn_code
    if code is None:
        return ident
    if code in packages:
        return Identifier(ident.canonical, sscc=packages[code], cn_code=code)
    gtin = gtins.get(code[:CN_DRUG_ID_LENGTH])
    return ident.as_unit(gtin) if gtin is not None else ident


def lock_keys(session: Session, events: Iterable[Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """The (GTIN, serial) of the units and the container keys of the packages the events name by 20-digit code,
    to lock with the others up front."""
    codes: list[str] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        texts: list[Any] = [event.get("parentID")]
        for field, _ in fields.EPC_LISTS:
            if isinstance(event.get(field), list):
                texts += event[field]
        for text in texts:
            if not isinstance(text, str) or "/cn/" not in text:
                continue
            try:
                ident = canonical_identifier(text)
            except InvalidInput:
                continue  # reported when its event is captured
            if ident.cn_code:
                codes.append(ident.cn_code)
    packages = package_keys(session, codes)
    gtins = products_by_drug_id(session, [c for c in codes if c not in packages])
    units = [(gtins[c[:CN_DRUG_ID_LENGTH]], c) for c in codes if c not in packages and c[:CN_DRUG_ID_LENGTH] in gtins]
    return units, sorted(set(packages.values()))


def unit_uri(base_url: str, gtin: str, serial: str, cn_drug_id: str | None) -> str:
    """A unit as native events are exported: by its 20-digit code when it has one (a serial of 20 digits that
    begins with its product's 药品标识码), else by its canonical GS1 Digital Link."""
    if cn_drug_id and len(serial) == 20 and serial.isdigit() and serial.startswith(cn_drug_id):
        return cn_code_uri(base_url, serial)
    return canonical_gtin_uri(gtin, serial)


_GS1_PACKAGE = "(01)"  # how an import keys a GS1 package code: (01){gtin}(21){serial}


def package_uri(base_url: str, code: str) -> str:
    """A package as export names it by its printed code (``container.code``): a 20-digit code by the URI that
    scans it, a GS1 code (GTIN + serial, kept as ``(01){gtin}(21){serial}``) by its canonical Digital Link."""
    if code.startswith(_GS1_PACKAGE) and code[18:22] == "(21)":
        return canonical_gtin_uri(code[4:18], code[22:])
    return cn_code_uri(base_url, code)


def package_uris(session: Session, keys: Iterable[str], base_url: str) -> dict[str, str]:
    """URI by container key, for the containers among ``keys`` that keep a printed code (imported packages)."""
    wanted = sorted(set(keys))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(Container.sscc, Container.code).where(
                Container.sscc.in_(wanted[start : start + 500]), Container.code.is_not(None)
            )
        )
        found.update({key: package_uri(base_url, code) for key, code in rows if code})
    return found


def package_codes(payloads: Iterable[Any]) -> dict[str, str]:
    """20-digit code by container key, for the package codes native events were sent with (their payloads): how
    export names a package imported before ``container.code`` kept its code."""
    found: dict[str, str] = {}
    for payload in payloads:
        if not isinstance(payload, dict):
            continue
        texts = [*(payload.get("codes") or []), payload.get("container")]
        for text in texts:
            if isinstance(text, str) and len(text) == 20 and text.isascii() and text.isdigit():
                found[container_key(text, CodeKind.CN)] = text
    return found
