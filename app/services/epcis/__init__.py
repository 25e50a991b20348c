"""EPCIS 2.0: the capture interface (``POST /epcis/capture``) and the query interface (``GET /epcis/events``).

- :mod:`.capture_schema`: GS1's EPCIS 2.0 JSON Schema (the files in ``schema/``), compiled and explained;
- :mod:`.hash`: the CBV 2.0 event hash, through GS1's reference implementation (an adapter around PyLD);
- :mod:`.jobs`: capture jobs, their views, and the jobs a dead worker left behind;
- :mod:`.run`: opening a capture job and working through its events, transaction by transaction;
- :mod:`.apply`: one event: kept as sent, and its custody meaning applied through the native custody code;
- :mod:`.query`: SimpleEventQuery over captured and native events, merged and paged;
- :mod:`.export`: native custody events written as EPCIS 2.0 events.

The pure parts live in the domain: :mod:`app.domain.epcis` (identifiers, custody meaning),
:mod:`app.domain.epcis_fields` (reading an event), :mod:`app.domain.epcis_query` (parameters, tokens, documents).
"""
