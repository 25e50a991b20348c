"""The message catalogue of the consumer pages, in Chinese (zh) and English (en).

Every sentence a consumer reads lives here, keyed by the machine code it explains (verdict, reason, state,
category, error code), so a new code needs one entry per language and nothing else. Lookups of codes the
catalogue does not know fall back to a generic sentence instead of failing: the page must render for any
verdict the service answers, including codes added after this file was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

LANGUAGES = ("zh", "en")
HTML_LANG = {"zh": "zh-CN", "en": "en"}
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}

# Colour family per verdict: green only for authentic, amber only for expired, red for everything else.
VERDICT_TONE = {"authentic": "ok", "expired": "warn"}

_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
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
            "Do not use it. Return it to the pharmacy or shop, or hand it in at a collection point for "
            "expired medicines."
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
            "A code whose digital signature was not made by the manufacturer was scanned: the code was "
            "altered or forged."
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
            "This form was not sent from this site, so it was refused. Open the page again and send the form "
            "from there."
        ),
        "reg.error.generic": "The request could not be completed.",
        "reg.back.recalls": "Back to the recalls",
        "reg.back.alerts": "Back to the alerts",
    },
    "zh": {
        "site": "产品数字护照 · 真伪查验",
        "title.verification": "查验结果：{verdict}",
        "title.error": "查验结果：无法识别此码",
        "title.rate_limited": "查验结果：请稍后再试",
        "switch.label": "语言",
        "verdict.authentic": "正品，验证通过",
        "verdict.expired": "正品，但已过期",
        "verdict.recalled": "已召回，请勿使用",
        "verdict.suspect": "警告：可疑产品",
        "verdict.invalid_signature": "非正品码",
        "verdict.unknown": "查无此码",
        "verdict.fallback": "无法确认真伪",
        "summary.authentic": "此码由生产企业发放，与其登记记录一致。",
        "summary.expired": "此码由生产企业发放，但产品已超过有效期。",
        "summary.recalled": "该产品已因安全或质量原因被召回。",
        "summary.suspect": "此码由生产企业发放，但其记录与正常销售不符，可能是复制码、回流产品或假冒产品。",
        "summary.invalid_signature": "此码上的防伪签名并非生产企业所签，不是生产企业发放的编码。",
        "summary.unknown": "此码不是生产企业通过本平台发放的编码。",
        "summary.fallback": "无法确认该产品为正品。",
        "signature.valid": "已由生产企业数字签名（验证通过）",
        "signature.absent": "此码无数字签名，已按生产企业登记记录核对",
        "signature.invalid": "数字签名无效：并非生产企业所签",
        "section.why": "原因",
        "section.todo": "建议",
        "section.product": "产品信息",
        "section.journey": "流通记录",
        "section.scanned": "您扫描的编码",
        "field.name": "产品名称",
        "field.category": "类别",
        "field.manufacturer": "生产企业",
        "field.gtin": "商品编码（GTIN）",
        "field.lot": "批号",
        "field.expires_on": "有效期至",
        "field.state": "状态",
        "field.serial": "序列号",
        "field.recall": "召回",
        "expired.marker": "已过期",
        "recall.text": "{klass}级召回：{reason}",
        "recall.text_no_class": "召回：{reason}",
        "reason.signature_mismatch": "防伪签名与码内容不符：此码被改动过，或并非由生产企业生成。",
        "reason.unknown_signing_key": "此码使用的签名密钥从未被本平台的任何生产企业使用过。",
        "reason.signature_malformed": "码中的防伪签名已损坏或不完整；如果您是手动输入或复制的地址，请用相机重新扫描包装上的码。",
        "reason.signature_unverifiable": "此码带有防伪签名，但缺少核验签名所需的批号或有效期。",
        "reason.signature_missing": "此产品赋码时带有防伪签名，但扫描到的码没有签名，无法确认为正品。请用相机扫描包装上印制的二维码，而不要手动输入编号。",
        "reason.unknown_code": "生产企业未通过本平台发放过此编码的产品。",
        "reason.lot_mismatch": "码中的批号与生产企业对该产品的登记记录不一致。",
        "reason.expiry_mismatch": "码中的有效期与生产企业对该产品的登记记录不一致。",
        "reason.stolen": "该产品已被登记为失窃。",
        "reason.destroyed": "该产品已登记为销毁，却再次被扫描。",
        "reason.expired": "该产品已超过有效期。",
        "reason.recalled": "生产企业或监管部门已召回该产品。",
        "reason.repeat_sale": "此码对应的产品已经售出过一次，之后又有人试图再次销售：可能是回流药，或此码被复制到了其他包装上。",
        "reason.fallback": "另有一项核验未通过（原因代码：{code}）。",
        "todo.authentic": "请确认包装密封完好，且上方信息与您手中的产品一致；如有不符，请咨询销售方。",
        "todo.expired": "请勿使用。请退回药店或商店，或交至过期药品回收点。",
        "todo.red": "请勿使用。请保留包装和购物凭证，退回购买的药店或商店，并向市场监管部门举报（热线 12315）。",
        "state.issued": "生产企业已赋码，尚未发货",
        "state.in_supply_chain": "流通中",
        "state.sold": "已售出",
        "state.dispensed": "已凭处方发药",
        "state.destroyed": "已销毁",
        "state.recycled": "已回收处理",
        "state.stolen": "已登记失窃",
        "state.exported": "已出口",
        "state.locked": "已锁定（隔离待查）",
        "category.drug_rx": "处方药",
        "category.drug_otc": "非处方药",
        "category.drug_restricted": "特殊管理药品（禁止网络销售）",
        "category.device": "医疗器械",
        "category.food": "食品",
        "category.industrial": "工业产品",
        "step.commissioned": "生产赋码",
        "step.packed": "装箱",
        "step.unpacked": "拆箱",
        "step.shipped": "发货",
        "step.received": "收货",
        "step.sold": "售出",
        "step.dispensed": "发药",
        "step.returned": "退货",
        "step.destroyed": "销毁",
        "step.recycled": "回收处理",
        "step.locked": "锁定",
        "step.unlocked": "解除锁定",
        "step.exported": "出口",
        "step.stolen": "登记失窃",
        "step.opened": "拆零",
        "step.recalled": "召回",
        "step.issued": "生产赋码",
        "step.sold_in_store": "门店售出",
        "step.sold_online": "网上售出",
        "step.quarantined": "暂停流通待查",
        "step.released": "恢复流通",
        "step.reported_stolen": "报告被盗",
        "journey.note": "仅显示日期和地区，不显示经营企业和价格。",
        "error.headline": "无法识别此码",
        "error.what_was_wrong": "具体问题",
        "error.explain.invalid_gtin": (
            "码中的商品编码（GTIN）不是有效的14位GS1编码。最后一位是由前面各位计算出的校验位，"
            "任何一位写错或缺失都会被发现。"
        ),
        "error.explain.invalid_code": "该地址不符合产品码的格式，可能被截断、输错，或被扫码软件改动过。",
        "error.explain.fallback": "无法查验此码。",
        "error.todo": (
            "请用手机相机重新扫描包装上的码。如果仍然出现此提示，该码可能不是正品码：请勿使用该产品，"
            "咨询销售方，或向市场监管部门举报（热线 12315）。"
        ),
        "rate.headline": "查询过于频繁",
        "rate.explain": "您所在网络的查询次数过多，请在 {seconds} 秒后重试。",
        # --- 监管平台 (app/web/regulator.py) ---
        "reg.site": "产品数字护照 · 召回与预警",
        "reg.nav.label": "栏目",
        "reg.nav.recalls": "召回",
        "reg.nav.alerts": "预警",
        "reg.signed_in": "当前登录：{name}（{role}）",
        "reg.role.regulator": "监管部门",
        "reg.role.manufacturer": "生产企业",
        "reg.logout": "退出登录",
        "reg.login.title": "登录",
        "reg.login.intro": (
            "召回追踪与风险预警，供监管部门使用；生产企业可查看本企业产品的召回与预警。"
            "请使用本单位的 API 密钥登录；密钥仅保存在本浏览器中，退出登录或关闭浏览器后失效。"
        ),
        "reg.login.key": "API 密钥",
        "reg.login.submit": "登录",
        "reg.login.bad_key": "该 API 密钥不存在或已被吊销。",
        "reg.login.wrong_role": "{name} 的登记身份为{role}：仅监管部门和生产企业可在此登录。",
        "reg.login.signed_out": "您已退出登录。",
        "reg.recalls.title": "召回",
        "reg.recalls.empty": "暂无召回。",
        "reg.col.id": "编号",
        "reg.col.product": "产品",
        "reg.col.class": "级别",
        "reg.col.reason": "原因",
        "reg.col.scope": "批号 / 序列号",
        "reg.col.status": "状态",
        "reg.col.created": "创建时间（UTC）",
        "reg.col.org": "单位",
        "reg.col.units": "数量",
        "reg.col.from": "发货方",
        "reg.col.to": "收货方",
        "reg.col.platform": "平台",
        "reg.col.type": "类型",
        "reg.col.severity": "严重程度",
        "reg.col.unit": "产品单元（GTIN / 序列号）",
        "reg.col.region": "地区",
        "reg.class": "{klass}级",
        "reg.scope.all": "该产品的全部单元",
        "reg.scope.lots": "批号 {lots}",
        "reg.scope.serials": "指定序列号 {count} 个",
        "reg.scope.serials_one": "指定序列号 1 个",
        "reg.recall_status.open": "进行中",
        "reg.recall_status.completed": "已完成",
        "reg.trace.title": "召回 {id}",
        "reg.trace.heading": "召回 {id}：产品去向",
        "reg.field.product": "产品",
        "reg.field.gtin": "GTIN",
        "reg.field.manufacturer": "生产企业",
        "reg.field.scope": "范围",
        "reg.field.reason": "原因",
        "reg.field.instructions": "处置要求",
        "reg.field.status": "状态",
        "reg.field.created": "创建时间（UTC）",
        "reg.field.completed": "完成时间（UTC）",
        "reg.section.states": "召回范围内产品的状态",
        "reg.states.total": "召回范围内共 {count} 件",
        "reg.states.total_one": "召回范围内共 1 件",
        "reg.states.none": "该范围内尚未发放任何产品码。",
        "reg.state.issued": "尚未发货",
        "reg.state.in_supply_chain": "流通中",
        "reg.state.sold": "已售出",
        "reg.state.dispensed": "已发药",
        "reg.state.locked": "已锁定（隔离待查）",
        "reg.state.destroyed": "已销毁",
        "reg.state.recycled": "已回收处理",
        "reg.state.stolen": "已失窃",
        "reg.state.exported": "已出口",
        "reg.section.figures": "关键数字",
        "reg.fig.holders": "各单位现有库存",
        "reg.fig.holders_count": "持有单位数",
        "reg.fig.in_transit": "运输途中",
        "reg.fig.sold_offline": "线下售出（门店）",
        "reg.fig.sold_online": "网上售出",
        "reg.fig.dispensed": "凭处方发药",
        "reg.fig.recovered": "召回后已回收",
        "reg.recovered.return": "退回 {count}",
        "reg.recovered.destroy": "销毁 {count}",
        "reg.recovered.recycle": "回收处理 {count}",
        "reg.section.tree": "流向图",
        "reg.tree.title": "召回 {id} 范围内产品的流向",
        "reg.tree.note": "每个方框是经手过召回范围内产品的单位，按与生产企业之间的发货次数从左到右排列；每个箭头是一次发货，标注所运数量。虚线箭头表示沿链条退回。",
        "reg.tree.on_hand": "现有：{count}",
        "reg.tree.units": "{count} 件",
        "reg.tree.units_one": "1 件",
        "reg.tree.empty": "召回范围内的产品尚未发货。",
        "reg.section.hops": "发货记录",
        "reg.section.holders": "当前持有单位",
        "reg.section.transit": "正在运输",
        "reg.section.platforms": "各平台网上销量",
        "reg.none": "无。",
        "reg.csv": "下载当前持有单位清单（CSV）",
        "reg.csv.api": "通过 API 获取同一清单：{path}（需 API 密钥）。",
        "reg.alerts.title": "预警",
        "reg.alerts.empty": "没有符合筛选条件的预警。",
        "reg.alerts.older": "更早的预警",
        "reg.alerts.newest": "最新预警",
        "reg.alerts.count": "显示 {count} 条预警，最新的在前",
        "reg.alerts.count_one": "显示 1 条预警",
        "reg.filter.legend": "筛选",
        "reg.filter.type": "类型",
        "reg.filter.status": "状态",
        "reg.filter.region": "地区代码",
        "reg.filter.region_hint": "例如 CN-31",
        "reg.filter.since": "起始日期（UTC）",
        "reg.filter.until": "截止日期（UTC，含当日）",
        "reg.filter.any": "全部",
        "reg.filter.apply": "筛选",
        "reg.filter.reset": "清除筛选",
        "reg.filter.bad_date": "{field}：{value} 不是日期（年-月-日）。",
        "reg.filter.bad_choice": "{field}：{value} 不是可选项。",
        "reg.filter.bad_range": "起始日期晚于截止日期。",
        "reg.alert_type.repeat_sale": "重复销售",
        "reg.alert_type.custody_violation": "违规流转",
        "reg.alert_type.unlicensed_sale": "无证销售",
        "reg.alert_type.prescription_missing": "缺少处方或处方重复使用",
        "reg.alert_type.expired_sale_attempt": "销售过期产品",
        "reg.alert_type.recalled_sale_attempt": "销售召回产品",
        "reg.alert_explain.repeat_sale": "已售出的产品码再次被销售：可能是回流药、被调包的包装或被复制的码。",
        "reg.alert_explain.custody_violation": "某单位对不在其手中的产品进行了操作，或收取了并非发给它的产品。",
        "reg.alert_explain.unlicensed_sale": "不具备该产品所需资质的销售方试图销售该产品。",
        "reg.alert_explain.prescription_missing": "处方药在没有有效处方、或处方已被使用的情况下被销售或发药。",
        "reg.alert_explain.expired_sale_attempt": "有人试图销售已过有效期的产品。",
        "reg.alert_explain.recalled_sale_attempt": "有人试图销售召回范围内的产品。",
        "reg.alert_explain.fallback": "一项核验未通过（预警类型 {type}）。",
        "reg.alert_type.unknown_code": "扫描到未发放的码",
        "reg.alert_type.invalid_signature": "扫描到签名无效的码",
        "reg.alert_type.clone_suspect": "疑似复制码",
        "reg.alert_explain.unknown_code": "扫描到从未发放过的码，且并非已发放序列号的误读：可能是假冒产品。",
        "reg.alert_explain.invalid_signature": "扫描到的码的数字签名并非生产企业所签：该码被篡改或伪造。",
        "reg.alert_explain.clone_suspect": "同一个码在相距过远、时间上不可能到达的地点被扫描，或被过多的终端扫描：该码很可能被复制到了其他包装上。",
        "reg.alert.seen": "共被扫描 {count} 次；首次 {first}，最近 {last}（UTC）。",
        "reg.alert.seen_one": "被扫描 1 次，时间 {first}（UTC）。",
        "reg.alert_status.open": "待处理",
        "reg.alert_status.investigating": "调查中",
        "reg.alert_status.closed": "已结案",
        "reg.severity.high": "高",
        "reg.severity.medium": "中",
        "reg.severity.low": "低",
        "reg.alert.title": "预警 {id}",
        "reg.alert.heading": "预警 {id}：{type}",
        "reg.alert.words": "{org} 试图{action}产品 {code}，已被本平台拒绝。",
        "reg.alert.first_sale": "该产品首次售出于 {at}（{channel}，地区 {region}）。",
        "reg.alert.recorded_reason": "系统记录的原因",
        "reg.alert.section_words": "事件经过",
        "reg.alert.section_data": "数据",
        "reg.alert.json": "JSON 格式的详情",
        "reg.alert.root_cause": "根本原因",
        "reg.alert.updated": "最近处理时间（UTC）",
        "reg.action.sell": "销售",
        "reg.action.dispense": "发药",
        "reg.action.receive": "收货",
        "reg.action.ship": "发货",
        "reg.action.open": "拆零",
        "reg.action.return": "退货",
        "reg.channel.offline": "线下",
        "reg.channel.online": "网上",
        "reg.unknown": "不详",
        "reg.section.triage": "处理",
        "reg.triage.status": "新状态",
        "reg.triage.root_cause": "根本原因（结案时必填）",
        "reg.triage.submit": "保存",
        "reg.triage.saved": "已保存。",
        "reg.triage.regulators_only": "只有监管部门可以更改预警状态。",
        "reg.triage.bad_status": "请选择“调查中”或“已结案”。",
        "reg.triage.root_cause_required": "结案须填写根本原因。",
        "reg.triage.too_long": "根本原因不能超过 1000 个字符。",
        "reg.role.admin": "系统管理员",
        "reg.role.distributor": "批发企业",
        "reg.role.retailer": "零售企业",
        "reg.role.platform": "网络交易平台",
        "reg.error.title": "无法显示此页面",
        "reg.error.forbidden": "贵单位无权查看此内容。",
        "reg.error.not_found": "此处没有内容。",
        "reg.error.csrf": "此表单并非从本站提交，已被拒绝。请重新打开页面，从页面上提交表单。",
        "reg.error.generic": "请求未能完成。",
        "reg.back.recalls": "返回召回列表",
        "reg.back.alerts": "返回预警列表",
    },
}

# Chinese provinces by the two-digit GB/T 2260 code used in ISO 3166-2:CN before 2017 ("CN-31").
_CN_REGIONS: dict[str, tuple[str, str]] = {
    "11": ("北京", "Beijing"),
    "12": ("天津", "Tianjin"),
    "13": ("河北", "Hebei"),
    "14": ("山西", "Shanxi"),
    "15": ("内蒙古", "Inner Mongolia"),
    "21": ("辽宁", "Liaoning"),
    "22": ("吉林", "Jilin"),
    "23": ("黑龙江", "Heilongjiang"),
    "31": ("上海", "Shanghai"),
    "32": ("江苏", "Jiangsu"),
    "33": ("浙江", "Zhejiang"),
    "34": ("安徽", "Anhui"),
    "35": ("福建", "Fujian"),
    "36": ("江西", "Jiangxi"),
    "37": ("山东", "Shandong"),
    "41": ("河南", "Henan"),
    "42": ("湖北", "Hubei"),
    "43": ("湖南", "Hunan"),
    "44": ("广东", "Guangdong"),
    "45": ("广西", "Guangxi"),
    "46": ("海南", "Hainan"),
    "50": ("重庆", "Chongqing"),
    "51": ("四川", "Sichuan"),
    "52": ("贵州", "Guizhou"),
    "53": ("云南", "Yunnan"),
    "54": ("西藏", "Tibet"),
    "61": ("陕西", "Shaanxi"),
    "62": ("甘肃", "Gansu"),
    "63": ("青海", "Qinghai"),
    "64": ("宁夏", "Ningxia"),
    "65": ("新疆", "Xinjiang"),
    "71": ("台湾", "Taiwan"),
    "81": ("香港", "Hong Kong"),
    "82": ("澳门", "Macao"),
}


class Catalogue:
    """The messages of one language, with fallbacks for codes the catalogue does not know."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in MESSAGES else "en"
        self._messages: Mapping[str, str] = MESSAGES[self.lang]

    def __call__(self, key: str, **values: object) -> str:
        return self._messages[key].format(**values)

    def signature(self, signature: str) -> str:
        return self._known("signature", signature) or signature

    def verdict(self, verdict: str) -> str:
        return self._known("verdict", verdict) or self("verdict.fallback")

    def summary(self, verdict: str) -> str:
        return self._known("summary", verdict) or self("summary.fallback")

    def reason(self, code: str) -> str:
        return self._known("reason", code) or self("reason.fallback", code=code)

    def state(self, state: str) -> str:
        return self._known("state", state) or state.replace("_", " ")

    def category(self, category: str) -> str:
        return self._known("category", category) or category.replace("_", " ")

    def step(self, step: str) -> str:
        return self._known("step", step) or step.replace("_", " ")

    def error_explanation(self, code: str) -> str:
        return self._known("error.explain", code) or self("error.explain.fallback")

    def region(self, region: str) -> str:
        country, _, subdivision = region.partition("-")
        if country == "CN":
            if not subdivision:
                return "中国" if self.lang == "zh" else "China"
            names = _CN_REGIONS.get(subdivision)
            if names is not None:
                return names[0] if self.lang == "zh" else names[1]
        return region

    def date(self, value: date) -> str:
        if self.lang == "zh":
            return f"{value.year}年{value.month}月{value.day}日"
        return f"{value.day} {_EN_MONTHS[value.month - 1]} {value.year}"

    def _known(self, family: str, code: str) -> str | None:
        return self._messages.get(f"{family}.{code}")
