"""The English messages of the web pages, keyed by the machine code they explain (see app/web/i18n.py)."""

MESSAGES: dict[str, str] = {
    "site": "Passport product check",
    "title.verification": "Product check: {verdict}",
    "title.error": "Product check: code not readable",
    "title.rate_limited": "Product check: please wait",
    "switch.label": "Language",
    # verdict headline and one-line summary
    "verdict.authentic": "Genuine product",
    "verdict.expired": "Genuine, but expired",
    "verdict.recalled": "Recalled: do not use",
    "verdict.suspect": "Warning: suspicious product",
    "verdict.invalid_signature": "Not a genuine code",
    "verdict.unknown": "Unknown code",
    "verdict.fallback": "Could not be confirmed",
    "summary.authentic": "This code was issued by the manufacturer and matches its records.",
    "summary.expired": "This code was issued by the manufacturer, but the product is past its expiry date.",
    "summary.recalled": "This product has been recalled for safety or quality reasons.",
    "summary.suspect": (
        "This code was issued by the manufacturer, but what we know about it does not fit a normal sale. "
        "It may be a copy, a resold pack or a counterfeit."
    ),
    "summary.invalid_signature": (
        "The security signature on this code was not made by the manufacturer. "
        "The code is not one the manufacturer issued."
    ),
    "summary.unknown": "This code is not one the manufacturer issued through Passport.",
    "summary.fallback": "This product could not be confirmed as genuine.",
    # signature line
    "signature.valid": "Digitally signed by the manufacturer (verified)",
    "signature.absent": "No digital signature on this code; it was checked against the manufacturer's records",
    "signature.invalid": "Digital signature invalid: it was not made by the manufacturer",
    # sections
    "section.why": "Why",
    "section.todo": "What to do",
    "section.product": "Product",
    "section.journey": "Journey",
    "section.scanned": "The code you scanned",
    "field.name": "Product",
    "field.category": "Category",
    "field.manufacturer": "Manufacturer",
    "field.gtin": "Product number (GTIN)",
    "field.lot": "Lot",
    "field.expires_on": "Expiry date",
    "field.state": "Status",
    "field.serial": "Serial number",
    "field.recall": "Recall",
    "expired.marker": "expired",
    "recall.text": "Class {klass} recall: {reason}",
    "recall.text_no_class": "Recall: {reason}",
    # reasons: one sentence each
    "reason.signature_mismatch": (
        "The security signature does not match the code's contents: the code was changed or made by "
        "someone other than the manufacturer."
    ),
    "reason.unknown_signing_key": "The code is signed with a key that no manufacturer here has ever used.",
    "reason.signature_malformed": (
        "The security signature in the code is damaged or incomplete; if you typed or copied the address, "
        "scan the printed code again with your camera."
    ),
    "reason.signature_unverifiable": (
        "The code carries a security signature but lacks the lot or expiry date needed to check it."
    ),
    "reason.signature_missing": (
        "This pack was issued with a security signature, but the scanned code carries none, so it cannot be "
        "confirmed as genuine. Scan the printed QR code with your camera instead of typing the number."
    ),
    "reason.unknown_code": "No product with this code was issued by the manufacturer through Passport.",
    "reason.lot_mismatch": "The lot number in the code differs from the manufacturer's record for this pack.",
    "reason.expiry_mismatch": "The expiry date in the code differs from the manufacturer's record for this pack.",
    "reason.stolen": "This pack was reported stolen.",
    "reason.destroyed": "This pack was recorded as destroyed, yet it is being scanned again.",
    "reason.expired": "The expiry date has passed.",
    "reason.recalled": "The manufacturer or the regulator has recalled this product.",
    "reason.repeat_sale": (
        "This pack was already sold once, and someone tried to sell it again: it may have been resold "
        "after dispensing, or its code copied onto another pack."
    ),
    "reason.fallback": "A further check did not pass (reason code: {code}).",
    # what to do
    "todo.authentic": (
        "Check that the packaging is sealed and undamaged and that the details above match the pack in "
        "your hand. If anything differs, ask the seller."
    ),
    "todo.expired": (
        "Do not use it. Return it to the pharmacy or shop, or hand it in at a collection point for expired medicines."
    ),
    "todo.red": (
        "Do not use it. Keep the pack and the receipt, return it to the pharmacy or shop where you bought it, "
        "and report it to the market regulator (hotline 12315)."
    ),
    # states
    "state.issued": "Coded by the manufacturer, not yet shipped",
    "state.in_supply_chain": "In the supply chain",
    "state.sold": "Sold",
    "state.dispensed": "Dispensed to a patient",
    "state.destroyed": "Destroyed",
    "state.recycled": "Handed back for disposal",
    "state.stolen": "Reported stolen",
    "state.exported": "Exported",
    "state.locked": "Held back (quarantine)",
    # categories
    "category.drug_rx": "Prescription medicine",
    "category.drug_otc": "Over-the-counter medicine",
    "category.drug_restricted": "Specially controlled medicine (never sold online)",
    "category.device": "Medical device",
    "category.food": "Food",
    "category.industrial": "Industrial product",
    # journey steps
    "step.commissioned": "Produced and coded",
    "step.packed": "Packed",
    "step.unpacked": "Unpacked",
    "step.shipped": "Shipped",
    "step.received": "Received",
    "step.sold": "Sold",
    "step.dispensed": "Dispensed",
    "step.returned": "Returned",
    "step.destroyed": "Destroyed",
    "step.recycled": "Handed back for disposal",
    "step.locked": "Held back",
    "step.unlocked": "Released",
    "step.exported": "Exported",
    "step.stolen": "Reported stolen",
    "step.opened": "Opened to dispense part of it",
    "step.recalled": "Recalled",
    "step.issued": "Coded at the factory",
    "step.sold_in_store": "Sold in a shop",
    "step.sold_online": "Sold online",
    "step.quarantined": "Held back for checks",
    "step.released": "Released",
    "step.reported_stolen": "Reported stolen",
    "journey.note": "Dates and regions only; shops and prices are never shown.",
    # error page
    "error.headline": "This code could not be read",
    "error.what_was_wrong": "What was wrong",
    "error.explain.invalid_gtin": (
        "The product number (GTIN) in this code is not a valid 14-digit GS1 number. Its last digit is a "
        "check digit computed from the others, so a single wrong or missing digit is detected."
    ),
    "error.explain.invalid_code": (
        "The address does not have the form of a product code. It may have been cut short, mistyped, "
        "or changed by the scanner app."
    ),
    "error.explain.fallback": "The code could not be checked.",
    "error.todo": (
        "Scan the printed code again with your phone's camera. If this message comes back, the code may "
        "not be genuine: do not use the product, ask the seller, or report it to the market regulator "
        "(hotline 12315)."
    ),
    "rate.headline": "Too many checks",
    "rate.explain": "Too many checks came from your network. Try again in {seconds} seconds.",
    # --- regulator console (app/web/regulator.py) ---
    "reg.site": "Passport · recalls and alerts",
    "reg.nav.label": "Sections",
    "reg.nav.recalls": "Recalls",
    "reg.nav.alerts": "Alerts",
    "reg.signed_in": "Signed in as {name} ({role})",
    "reg.role.regulator": "regulator",
    "reg.role.manufacturer": "manufacturer",
    "reg.logout": "Sign out",
    "reg.login.title": "Sign in",
    "reg.login.intro": (
        "Recall traces and early-warning alerts, for regulators and for manufacturers about their own "
        "products. Sign in with your organisation's API key; this browser keeps it until you sign out or "
        "close the browser."
    ),
    "reg.login.key": "API key",
    "reg.login.submit": "Sign in",
    "reg.login.bad_key": "This API key is unknown or has been revoked.",
    "reg.login.wrong_role": "{name} is registered as a {role}: only regulators and manufacturers may sign in here.",
    "reg.login.signed_out": "You have been signed out.",
    "reg.recalls.title": "Recalls",
    "reg.recalls.empty": "No recalls yet.",
    "reg.col.id": "No.",
    "reg.col.product": "Product",
    "reg.col.class": "Class",
    "reg.col.reason": "Reason",
    "reg.col.scope": "Lots / serials",
    "reg.col.status": "Status",
    "reg.col.created": "Created (UTC)",
    "reg.col.org": "Organisation",
    "reg.col.units": "Units",
    "reg.col.from": "From",
    "reg.col.to": "To",
    "reg.col.platform": "Platform",
    "reg.col.orders": "Orders notified",
    "reg.col.orders_acknowledged": "Acknowledged",
    "reg.col.type": "Type",
    "reg.col.severity": "Severity",
    "reg.col.unit": "Unit (GTIN / serial)",
    "reg.col.region": "Region",
    "reg.class": "Class {klass}",
    "reg.scope.all": "every unit of the product",
    "reg.scope.lots": "lots {lots}",
    "reg.scope.serials": "{count} listed serials",
    "reg.scope.serials_one": "1 listed serial",
    "reg.recall_status.open": "open",
    "reg.recall_status.completed": "completed",
    "reg.trace.title": "Recall {id}",
    "reg.trace.heading": "Recall {id}: where the units are",
    "reg.field.product": "Product",
    "reg.field.gtin": "GTIN",
    "reg.field.manufacturer": "Manufacturer",
    "reg.field.scope": "Scope",
    "reg.field.reason": "Reason",
    "reg.field.instructions": "Instructions",
    "reg.field.status": "Status",
    "reg.field.created": "Created (UTC)",
    "reg.field.completed": "Completed (UTC)",
    "reg.section.states": "State of the units in scope",
    "reg.states.total": "{count} units in scope",
    "reg.states.total_one": "1 unit in scope",
    "reg.states.none": "No unit has been issued in this scope.",
    "reg.state.issued": "Not yet shipped",
    "reg.state.in_supply_chain": "In the supply chain",
    "reg.state.sold": "Sold",
    "reg.state.dispensed": "Dispensed",
    "reg.state.locked": "Locked (quarantine)",
    "reg.state.destroyed": "Destroyed",
    "reg.state.recycled": "Handed back for disposal",
    "reg.state.stolen": "Stolen",
    "reg.state.exported": "Exported",
    "reg.section.figures": "Key figures",
    "reg.fig.holders": "On hand at holders",
    "reg.fig.holders_count": "Organisations holding units",
    "reg.fig.in_transit": "In transit",
    "reg.fig.sold_offline": "Sold offline (shops)",
    "reg.fig.sold_online": "Sold online",
    "reg.fig.online_orders": "Online orders relayed to platforms",
    "reg.online_orders.value": "{total} notified, {acknowledged} acknowledged",
    "reg.fig.dispensed": "Dispensed against prescriptions",
    "reg.fig.recovered": "Recovered since the recall",
    "reg.recovered.return": "returned {count}",
    "reg.recovered.destroy": "destroyed {count}",
    "reg.recovered.recycle": "recycled {count}",
    "reg.section.tree": "Custody tree",
    "reg.tree.title": "How the units in scope travelled, recall {id}",
    "reg.tree.note": (
        "Each box is an organisation that handled units in scope, placed by the number of shipments "
        "between it and the manufacturer; each arrow is a shipment, labelled with the units it moved. "
        "Dashed arrows go back up the chain (returns)."
    ),
    "reg.tree.on_hand": "on hand: {count}",
    "reg.tree.units": "{count} units",
    "reg.tree.units_one": "1 unit",
    "reg.tree.empty": "No unit in scope has been shipped yet.",
    "reg.section.hops": "Shipments",
    "reg.section.holders": "Current holders",
    "reg.section.transit": "In transit now",
    "reg.section.platforms": "Online sales by platform",
    "reg.none": "None.",
    "reg.csv": "Download the current holders (CSV)",
    "reg.csv.api": "The same list from the API: {path} (with an API key).",
    "reg.alerts.title": "Alerts",
    "reg.alerts.empty": "No alert matches these filters.",
    "reg.alerts.older": "Older alerts",
    "reg.alerts.newest": "Newest alerts",
    "reg.alerts.count": "{count} alerts shown, newest first",
    "reg.alerts.count_one": "1 alert shown",
    "reg.filter.legend": "Filter",
    "reg.filter.type": "Type",
    "reg.filter.status": "Status",
    "reg.filter.region": "Region code",
    "reg.filter.region_hint": "e.g. CN-31",
    "reg.filter.since": "From (UTC)",
    "reg.filter.until": "Until (UTC, inclusive)",
    "reg.filter.any": "any",
    "reg.filter.apply": "Apply",
    "reg.filter.reset": "Clear filters",
    "reg.filter.bad_date": "{field}: {value} is not a date (YYYY-MM-DD).",
    "reg.filter.bad_choice": "{field}: {value} is not one of the choices.",
    "reg.filter.bad_range": "The start date is after the end date.",
    "reg.alert_type.repeat_sale": "Repeat sale",
    "reg.alert_type.custody_violation": "Custody violation",
    "reg.alert_type.unlicensed_sale": "Sale without a licence",
    "reg.alert_type.prescription_missing": "Prescription missing or reused",
    "reg.alert_type.expired_sale_attempt": "Sale of an expired unit",
    "reg.alert_type.recalled_sale_attempt": "Sale of a recalled unit",
    "reg.alert_explain.repeat_sale": (
        "A code that was already sold was offered for sale again: a pack resold after dispensing, "
        "a substituted pack, or a copied code."
    ),
    "reg.alert_explain.custody_violation": (
        "An organisation acted on a unit it did not hold, or received a unit that was not shipped to it."
    ),
    "reg.alert_explain.unlicensed_sale": "A seller without the licence this product needs tried to sell it.",
    "reg.alert_explain.prescription_missing": (
        "A prescription medicine was to be sold or dispensed without a valid prescription, "
        "or with one that was already used."
    ),
    "reg.alert_explain.expired_sale_attempt": "Someone tried to sell a unit past its expiry date.",
    "reg.alert_explain.recalled_sale_attempt": "Someone tried to sell a unit covered by a recall.",
    "reg.alert_explain.fallback": "A check failed (alert type {type}).",
    "reg.alert_type.unknown_code": "Unknown code scanned",
    "reg.alert_type.invalid_signature": "Badly signed code scanned",
    "reg.alert_type.clone_suspect": "Suspected cloned code",
    "reg.alert_explain.unknown_code": (
        "A code that was never issued was scanned, and it is not a slip away from an issued serial: "
        "possibly a counterfeit pack."
    ),
    "reg.alert_explain.invalid_signature": (
        "A code whose digital signature was not made by the manufacturer was scanned: the code was altered or forged."
    ),
    "reg.alert_explain.clone_suspect": (
        "One code is being scanned in places too far apart for the time between the scans, or by more "
        "clients than one pack can have: the code has probably been copied onto other packs."
    ),
    "reg.alert.seen": "Scanned {count} times; first {first}, last {last} (UTC).",
    "reg.alert.seen_one": "Scanned once, on {first} (UTC).",
    "reg.alert_status.open": "open",
    "reg.alert_status.investigating": "investigating",
    "reg.alert_status.closed": "closed",
    "reg.severity.high": "high",
    "reg.severity.medium": "medium",
    "reg.severity.low": "low",
    "reg.alert.title": "Alert {id}",
    "reg.alert.heading": "Alert {id}: {type}",
    "reg.alert.words": "{org} tried to {action} unit {code}, and Passport refused it.",
    "reg.alert.first_sale": "The unit was first sold on {at} ({channel}, region {region}).",
    "reg.alert.recorded_reason": "Reason recorded by the service",
    "reg.alert.section_words": "What happened",
    "reg.alert.section_data": "Data",
    "reg.alert.json": "Details as JSON",
    "reg.alert.root_cause": "Root cause",
    "reg.alert.updated": "Last triaged (UTC)",
    "reg.action.sell": "sell",
    "reg.action.dispense": "dispense",
    "reg.action.receive": "receive",
    "reg.action.ship": "ship",
    "reg.action.open": "open for part dispensing",
    "reg.action.return": "take back",
    "reg.channel.offline": "offline",
    "reg.channel.online": "online",
    "reg.unknown": "unknown",
    "reg.section.triage": "Triage",
    "reg.triage.status": "New status",
    "reg.triage.root_cause": "Root cause (needed to close)",
    "reg.triage.submit": "Save",
    "reg.triage.saved": "Saved.",
    "reg.triage.regulators_only": "Only a regulator can change the status of an alert.",
    "reg.triage.bad_status": "Choose investigating or closed.",
    "reg.triage.root_cause_required": "Closing an alert needs its root cause.",
    "reg.triage.too_long": "The root cause is limited to 1,000 characters.",
    "reg.role.admin": "administrator",
    "reg.role.distributor": "distributor",
    "reg.role.retailer": "retailer",
    "reg.role.platform": "platform",
    "reg.error.title": "Cannot show this page",
    "reg.error.forbidden": "Your organisation may not see this.",
    "reg.error.not_found": "There is nothing here.",
    "reg.error.csrf": (
        "This form was not sent from this site, so it was refused. Open the page again and send the form from there."
    ),
    "reg.error.generic": "The request could not be completed.",
    "reg.back.recalls": "Back to the recalls",
    "reg.back.alerts": "Back to the alerts",
    "home.title": "Passport: signed product codes, custody and verification",
    "home.intro": (
        "Manufacturers issue signed codes for each unit, the supply chain records who holds it, and anyone can scan "
        "a code to check that it is genuine. Every event is kept in a tamper-evident public log."
    ),
    "home.scan.heading": "How to check a product",
    "home.scan.text": (
        "Scan the QR code on the pack with a phone camera: it opens this service at a GS1 Digital Link address "
        "like the one below, and the page says whether the product is genuine."
    ),
    "home.scan.json": "Programs ask the same address with the header Accept: application/json and get the answer as JSON.",
    "home.links.heading": "For developers and auditors",
    "home.link.docs": "API reference (Swagger UI, with an Authorize button for your API key)",
    "home.link.redoc": "API reference (ReDoc)",
    "home.link.openapi": "OpenAPI document",
    "home.link.jwks": "Public keys of the code signatures (JWKS)",
    "home.link.checkpoint": "The log's latest signed checkpoint",
    "home.link.log_key": "The log's public key",
    "home.link.console": "Regulator console (sign in with an API key)",
    # passports: product- and lot-level scans, the passport part of every scan page
    "passport.verdict.registered": "Registered product",
    "passport.verdict.unknown": "Unknown product",
    "passport.verdict.unknown_lot": "Unknown lot",
    "passport.verdict.recalled": "Recalled: do not use",
    "passport.verdict.expired": "Lot past its expiry date",
    "passport.summary.registered": "The manufacturer registered this product with Passport. Its passport is below.",
    "passport.summary.unknown": "Nobody registered this product number with Passport.",
    "passport.summary.unknown_lot": (
        "The manufacturer registered this product, but not this lot number. Check the code on the pack."
    ),
    "passport.summary.recalled": "This product has been recalled for safety or quality reasons.",
    "passport.summary.expired": "The manufacturer registered this lot, but it is past its expiry date.",
    "passport.verdict.suspect": "Lot under investigation: do not sell or use",
    "passport.summary.suspect": (
        "This lot is in an open suspect-product case. Do not sell or use it until the regulator has decided."
    ),
    "passport.section.maker": "Who made it, where",
    "passport.section.certificates": "Certificates",
    "passport.section.warnings": "Warnings",
    "passport.section.use": "How to use and store it",
    "passport.section.disposal": "How to dispose of it",
    "passport.section.leaflet": "Leaflet (full text)",
    "passport.section.composition": "What it is made of, standards it meets",
    "passport.section.links": "More from the manufacturer",
    "passport.field.uscc": "Unified social credit code",
    "passport.field.origin": "Origin",
    "passport.field.facility": "Made at",
    "passport.field.storage": "Storage:",
    "passport.cert.valid": "Valid",
    "passport.cert.expired": "Expired",
    "passport.cert.not_yet_valid": "Not yet valid",
    "passport.cert.until": "valid until {day}",
    "passport.cert.ended": "expired on {day}",
    "passport.cert.from": "valid from {day}",
    "passport.recalled_lots": "Recalled lots of this product: {lots}. Check the lot number on your pack.",
    "reg.alert.original": "As recorded (English)",
    "field.recall_instructions": "What to do",
    "error.technical": "Technical detail (in English)",
    "reg.refusal.already_sold": "The unit had already been sold and cannot be sold again.",
    "reg.refusal.expired": "The unit is past its expiry date and cannot be sold.",
    "reg.refusal.recalled": "The unit is covered by a recall and cannot be sold.",
    "reg.refusal.under_investigation": "The unit or its lot is in an open suspect-product case and cannot be sold.",
    "reg.alert_type.investigated_sale_attempt": "Sale of a unit under investigation",
    "reg.alert_explain.investigated_sale_attempt": (
        "Someone tried to sell or dispense a unit named, or of a lot named, in an open suspect-product case."
    ),
    "reg.refusal.licence_required": "The seller lacks the licence this product needs.",
    "reg.nav.licences": "Licences",
    "reg.licences.title": "Licences lapsing soon",
    "reg.licences.within": "Last day within (days)",
    "reg.licences.show": "Show",
    "reg.licences.count": "{count} licences end within {days} days, soonest first",
    "reg.licences.count_one": "1 licence ends within {days} days",
    "reg.licences.empty": "No licence ends in that time.",
    "reg.licences.days_left": "{count} days left",
    "reg.licences.days_left_one": "1 day left",
    "reg.col.licence": "Licence",
    "reg.col.valid_until": "Last day (UTC)",
    "reg.col.days_left": "Left",
    "reg.licence_kind.drug_manufacturing": "Drug manufacturing",
    "reg.licence_kind.drug_wholesale": "Drug wholesale",
    "reg.licence_kind.drug_retail": "Drug retail",
    "reg.licence_kind.online_drug_sales": "Online drug sales",
    "reg.licence_kind.medical_institution": "Medical institution",
    "reg.alert_type.unlicensed_trade": "Trade with an unlicensed partner",
    "reg.alert_explain.unlicensed_trade": (
        "A drug was shipped to or received from an organisation without a licence valid that day."
    ),
    "reg.refusal.licence_expired": "The licence this trade needs had expired on that day.",
    "reg.refusal.prescription_required": "This prescription medicine needs a valid prescription to be sold or dispensed.",
    "reg.refusal.prescription_used": "The prescription had already been used.",
    "reg.refusal.not_custodian": "The organisation that acted does not hold the unit.",
    "reg.refusal.not_addressed_to_you": "The unit was not shipped to the organisation that received it.",
    "reg.refusal.not_in_transit": "The unit is not in transit, so there is nothing to receive.",
    "field.sales": "Sales",
    "sales.none": "Never sold: no sale of this code is recorded",
    "sales.count": "Sold {count} times: a pack is sold once, so ask the seller where it came from",
    "sales.count_one": "Sold once",
    "sales.first": "first sale {day}, {region}",
    "reason.unknown_cn_drug_id": "No product registered here carries this code's first 7 digits (its 药品标识码).",
    "reg.alert_type.repeat_settlement": "Repeat insurance settlement",
    "reg.alert_explain.repeat_settlement": (
        "A code already settled with medical insurance was settled again: a resold, swapped or copied pack."
    ),
    "reg.alert_type.verification_oracle": "Partner asking about units it never held",
    "reg.alert_explain.verification_oracle": (
        "A trading partner sent verification requests for many serials it never held: it may be probing for valid"
        " codes to copy."
    ),
    "reg.alert_type.return_override": "Return taken back without verification",
    "reg.alert_explain.return_override": (
        "A saleable return was received back into stock without a positive verification, on the receiver's override."
    ),
    "reg.refusal.already_settled": "The code had already been settled with medical insurance.",
    "reg.nav.cases": "Cases",
    "reg.cases.title": "Suspect-product cases",
    "reg.cases.empty": "No cases yet.",
    "reg.case.heading": "Case {id}",
    "reg.case.scope": "lots: {lots}; serials: {serials}",
    "reg.case.units": "{lots}, {serials}",
    "reg.case.lots": "{count} lots ({in_lots} units)",
    "reg.case.lots_one": "1 lot ({in_lots} units)",
    "reg.case.serials": "{count} serials",
    "reg.case.serials_one": "1 serial",
    "reg.case.description": "What was seen",
    "reg.case.decided": "Decided (UTC)",
    "reg.case.incident": "Incident number",
    "reg.case.decision_time": "Decision to every webhook",
    "reg.case.seconds": "{seconds} s",
    "reg.case.holders": "Holders of its units now",
    "reg.case.no_holders": "Nobody holds its units now.",
    "reg.case.changes": "Changes and notices",
    "reg.case.by": "By",
    "reg.case.notices": "Told (units, webhook)",
    "reg.case.leaf": "log leaf {index}",
    "reg.case.no_webhook": "notice only",
    "reg.case.quarantine": "Quarantine our stock",
    "reg.case.quarantine_help": "Locks every loose unit of this case your organisation holds (undone by unlock).",
    "reg.case.locked": "{count} units locked.",
    "reg.case.locked_one": "1 unit locked.",
    "reg.case_type.suspect": "suspect",
    "reg.case_type.illegitimate": "illegitimate",
    "reg.case_status.open": "open",
    "reg.case_status.investigating": "investigating",
    "reg.case_status.illegitimate": "illegitimate",
    "reg.case_status.cleared": "cleared",
    "reg.case_status.closed": "closed",
    "reg.case_webhook.pending": "webhook pending",
    "reg.case_webhook.delivered": "webhook delivered",
    "reg.case_webhook.failed": "webhook failed",
    "reason.under_investigation": (
        "A suspect-product case names this pack or its lot: do not sell or use it until the regulator decides."
    ),
}
