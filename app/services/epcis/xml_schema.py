"""EPCIS XML as it may be read here: one hardened lxml parser and GS1's XML Schemas (EPCIS 1.2 and 2.0).

An XML body comes from outside, so it is parsed with every door libxml2 offers shut (OWASP XXE cheat sheet):
entities are never substituted (``resolve_entities=False``), nothing is fetched (``no_network=True``, no DTD
loaded), the tree is bounded (``huge_tree=False``: libxml2's default limits on depth and text size), and a
document that declares anything in a DTD (entities, elements, attribute lists, notations) or names an external
one is refused before any of it is used: billion laughs, external entities (``file://``, ``http://``) and
parameter entities never get a chance. A bare ``<!DOCTYPE name>``, which declares nothing (two of GS1's own
examples carry one), is ignored.

The schemas are GS1's, shipped in ``schema/xsd-2.0`` and ``schema/xsd-1.2`` (see ``schema/SOURCE.txt``) and
loaded from disk once; their imports are local files. The query schema of each version imports the document
schema, so one compiled schema per version validates both ``EPCISDocument`` and ``EPCISQueryDocument``.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from importlib import resources

from lxml import etree

from app.domain.errors import InvalidInput

NS_2_0 = "urn:epcglobal:epcis:xsd:2"
NS_1_2 = "urn:epcglobal:epcis:xsd:1"
QUERY_NS = {"2.0": "urn:epcglobal:epcis-query:xsd:2", "1.2": "urn:epcglobal:epcis-query:xsd:1"}
DOCUMENT_NS = {"2.0": NS_2_0, "1.2": NS_1_2}
MASTERDATA_NS = ("urn:epcglobal:epcis-masterdata:xsd:2", "urn:epcglobal:epcis-masterdata:xsd:1")
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_SCHEMA_FILES = {"2.0": "xsd-2.0/EPCglobal-epcis-query-2_0.xsd", "1.2": "xsd-1.2/EPCglobal-epcis-query-1_2.xsd"}
_schema_lock = threading.Lock()  # an lxml XMLSchema object is not safe to use from two threads at once


class _NothingFetched(etree.Resolver):
    """Every external resource (DTD, parameter or general entity; file, http or any other scheme) is refused:
    libxml2 would otherwise read a local file named by a parameter entity even with ``no_network``."""

    def resolve(self, url: str | None, pubid: str | None, context: object) -> None:
        raise _ExternalResource(url or pubid or "?")


class _ExternalResource(Exception):
    pass


def parser() -> etree.XMLParser:
    """A new hardened parser (lxml parsers must not be shared between threads)."""
    made = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    made.resolvers.add(_NothingFetched())
    return made


def parse(raw: bytes) -> etree._Element:
    """The root element of an XML body, or ``InvalidInput`` saying why it is not accepted."""
    try:
        root = etree.fromstring(raw, parser())
    except _ExternalResource as error:
        raise InvalidInput(
            f"the XML refers to an external resource ({error}); nothing is fetched or read for a document here",
            code="xml_dtd_refused",
        ) from None
    except etree.XMLSyntaxError as error:
        raise InvalidInput(f"the body is not well-formed XML: {error}", code="invalid_xml") from None
    _refuse_dtd(root.getroottree(), raw)
    return root


def _refuse_dtd(tree: etree._ElementTree, raw: bytes) -> None:
    info = tree.docinfo
    if info.system_url or info.public_id:
        raise InvalidInput(
            "the XML names an external DTD; DTDs are not read here (no external entities, no network)",
            code="xml_dtd_refused",
        )
    dtd = info.internalDTD
    if dtd is None:
        return
    if list(dtd.iterentities()) or list(dtd.iterelements()) or not _bare(raw, info.encoding):
        raise InvalidInput(
            "the XML declares a DTD (entities, elements or attributes); documents with declarations are refused "
            "so that entity expansion (billion laughs) and external entities (XXE) cannot happen",
            code="xml_dtd_refused",
        )


_BARE_DOCTYPE = re.compile(r"<!DOCTYPE\s+[A-Za-z_][\w.:-]*\s*>")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def _bare(raw: bytes, encoding: str | None) -> bool:
    """Whether the document type declaration is ``<!DOCTYPE name>`` and nothing more (no internal subset)."""
    try:
        head = _COMMENT.sub("", raw[:65536].decode(encoding or "utf-8", errors="replace"))
    except LookupError:
        return False
    start = head.find("<!DOCTYPE")
    return start != -1 and _BARE_DOCTYPE.match(head, start) is not None


@cache
def schema(version: str) -> etree.XMLSchema:
    """GS1's XML Schema of EPCIS ``version`` ("2.0" or "1.2"), loaded from the package's files."""
    path = resources.files("app.services.epcis").joinpath("schema", _SCHEMA_FILES[version])
    with resources.as_file(path) as file:
        # GS1's own files, importing each other by relative path: read with a plain offline parser.
        return etree.XMLSchema(etree.parse(str(file), etree.XMLParser(no_network=True, resolve_entities=False)))


def schema_problem(root: etree._Element, version: str) -> str | None:
    """None if the document is valid against the EPCIS ``version`` schema, else ``line n: what is wrong``."""
    checker = schema(version)
    with _schema_lock:
        if checker.validate(root):
            return None
        errors = list(checker.error_log)
    first = errors[0]
    message = first.message if len(first.message) < 400 else first.message[:400] + "…"
    return f"line {first.line}: {message}"
