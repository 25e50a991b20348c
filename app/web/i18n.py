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
