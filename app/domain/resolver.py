"""What a scan of a product or a lot answers, and the GS1 resolver's links for any scanned GTIN path.

Follows the GS1 Digital Link standard 1.2 (§7, resolver behaviour: ``linkType``, ``gs1:defaultLink``, the linkset
of ``linkType=all``), the GS1-Conformant Resolver standard 1.1 (the ``/.well-known/gs1resolver`` description
file) and RFC 9264 (the linkset's JSON form, ``application/linkset+json``). Link types are GS1 Web Vocabulary
terms, written ``gs1:pip`` in queries and as ``https://gs1.org/voc/pip`` relation URIs in a linkset.
Pure: the caller passes ``today`` and what it read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from app.domain.recall import RecallScope

GS1_VOC = "https://gs1.org/voc/"
LINKSET_MEDIA_TYPE = "application/linkset+json"


class ProductVerdict(StrEnum):
    """The verdict of a product- or lot-level scan (a unit scan has its own, ``app.domain.verdict``)."""

    UNKNOWN = "unknown"  # nobody registered this GTIN
    UNKNOWN_LOT = "unknown_lot"  # the product is registered, but its maker issued no such lot
    RECALLED = "recalled"  # a recall covers the whole product, or this lot
    SUSPECT = "suspect"  # an active suspect-product case names this lot (reason ``under_investigation``)
    EXPIRED = "expired"  # the lot is past its expiry date
    REGISTERED = "registered"  # the maker registered the product (and the lot): see its passport


def product_verdict(
    *,
    product_known: bool,
    lot: str | None,
    lot_expires_on: date | None,
    recalled: bool,
    today: date,
    investigated: bool = False,
) -> ProductVerdict:
    """Precedence: unknown product, then recall (a recall outranks everything a consumer could act on), then a
    lot under investigation (``investigated``: an active case names it), then an unknown lot, then expiry."""
    if not product_known:
        return ProductVerdict.UNKNOWN
    if recalled:
        return ProductVerdict.RECALLED
    if investigated and lot is not None:
        return ProductVerdict.SUSPECT
    if lot is not None and lot_expires_on is None:
        return ProductVerdict.UNKNOWN_LOT
    if lot_expires_on is not None and lot_expires_on < today:
        return ProductVerdict.EXPIRED
    return ProductVerdict.REGISTERED


def product_reasons(verdict: ProductVerdict) -> list[str]:
    """Why a scan reads as it does, when the verdict alone does not say: a suspect lot is under investigation."""
    return ["under_investigation"] if verdict is ProductVerdict.SUSPECT else []


def covers_lot(scope: RecallScope, lot: str | None) -> bool:
    """A recall of the whole product covers every lot; a recall of lots covers those; a recall of single serials
    covers no lot as a whole (a lot scan cannot say which unit is in hand)."""
    if not scope.lots and not scope.serials:
        return True
    return lot is not None and lot in scope.lots


# --------------------------------------------------------------------------------------------- links


class LinkType(StrEnum):
    DEFAULT = "gs1:defaultLink"
    PIP = "gs1:pip"
    EPIL = "gs1:epil"
    RECALL_STATUS = "gs1:recallStatus"
    CERTIFICATION_INFO = "gs1:certificationInfo"
    VERIFICATION_SERVICE = "gs1:verificationService"
    TRACEABILITY = "gs1:traceability"


ALL = "all"
# Link types whose data this service answers itself when the maker gave no link of that type.
ANSWERED = (LinkType.RECALL_STATUS, LinkType.CERTIFICATION_INFO, LinkType.VERIFICATION_SERVICE, LinkType.TRACEABILITY)


@dataclass(frozen=True, slots=True)
class Link:
    link_type: str  # "gs1:pip", or a full URI for another vocabulary
    href: str
    title: str
    lang: tuple[str, ...] = ()
    media_type: str | None = None


def relation(link_type: str) -> str:
    """``gs1:pip`` -> ``https://gs1.org/voc/pip``; a full URI stays as it is."""
    return GS1_VOC + link_type[4:] if link_type.startswith("gs1:") else link_type


def normalised_link_type(value: str) -> str:
    """A ``linkType`` query value as a ``gs1:`` CURIE: ``pip``, ``gs1:pip`` and ``https://gs1.org/voc/pip`` alike."""
    value = value.strip()
    for prefix in (GS1_VOC, "http://gs1.org/voc/"):
        if value.startswith(prefix):
            return "gs1:" + value[len(prefix) :]
    if value == ALL or ":" in value:
        return value
    return "gs1:" + value


def maker_links(passport: Mapping[str, Any] | None) -> list[Link]:
    """The links a manufacturer put in the passport (``links``), as far as the reader may see them."""
    found = []
    for item in (passport or {}).get("links") or ():
        if not isinstance(item, Mapping) or not isinstance(item.get("href"), str):
            continue
        link_type = normalised_link_type(str(item.get("linkType") or LinkType.PIP))
        lang = item.get("lang")
        langs = tuple(lang) if isinstance(lang, list) else ((str(lang),) if lang else ())
        found.append(Link(link_type, item["href"], str(item.get("title") or link_type), langs, item.get("type")))
    return found


def own_links(url: str, *, has_passport: bool, unit: bool) -> list[Link]:
    """The links this service itself offers for the scanned path ``url`` (absolute, without a query)."""
    links = [
        Link(LinkType.DEFAULT, url, "Product check", (), "text/html"),
        Link(LinkType.PIP, url, "Product information and passport", (), "text/html"),
        Link(
            LinkType.VERIFICATION_SERVICE,
            f"{url}?linkType=gs1:verificationService",
            "Verification",
            (),
            "application/json",
        ),
        Link(LinkType.RECALL_STATUS, f"{url}?linkType=gs1:recallStatus", "Recall status", (), "application/json"),
    ]
    if has_passport:
        links.append(
            Link(
                LinkType.CERTIFICATION_INFO,
                f"{url}?linkType=gs1:certificationInfo",
                "Certificates",
                (),
                "application/json",
            )
        )
    if unit:
        links.append(Link(LinkType.TRACEABILITY, f"{url}?linkType=gs1:traceability", "Journey", (), "application/json"))
    return links


def choose(links: Sequence[Link], link_type: str, languages: Sequence[str]) -> Link | None:
    """The link of ``link_type`` in the first of ``languages`` that has one, else the first of that type."""
    candidates = [link for link in links if link.link_type == link_type]
    for language in languages:
        for link in candidates:
            if any(lang.lower().split("-")[0] == language.lower().split("-")[0] for lang in link.lang):
                return link
    return candidates[0] if candidates else None


def linkset(anchor: str, links: Iterable[Link]) -> dict[str, Any]:
    """RFC 9264 §4.2: one context object for ``anchor``, each relation type's targets in order."""
    context: dict[str, Any] = {"anchor": anchor}
    for link in links:
        target: dict[str, Any] = {"href": link.href, "title": link.title}
        if link.media_type:
            target["type"] = link.media_type
        if link.lang:
            target["hreflang"] = list(link.lang)
        context.setdefault(relation(link.link_type), []).append(target)
    return {"linkset": [context]}


def description(resolver_root: str, name: str) -> dict[str, Any]:
    """The resolver description file served at ``/.well-known/gs1resolver`` (GS1-Conformant Resolver 1.1 §3)."""
    return {
        "name": name,
        "resolverRoot": resolver_root,
        "supportedPrimaryKeys": ["01"],
        "supportedLinkType": [
            {"namespace": GS1_VOC, "prefix": "gs1:", "profile": "https://gs1.org/voc/?show=linktypes"}
        ],
        "linkTypeDefaultCanBeLinkset": True,
        "linkTypeDefaultCanBeAll": True,
        "supportedContextValuesEnumerated": ["dscsaSaleableReturn", "suspectOrIllegitimate", "statusCheck"],
        "supportedContextValuesExternal": [],
        "compression": True,
        "validatesSyntax": True,
    }
