"""The message catalogue of the consumer pages, in Chinese (zh) and English (en).

Every sentence a consumer reads lives in app/web/messages/ (one module per language), keyed by the machine code
it explains (verdict, reason, state, category, error code), so a new code needs one entry per language and nothing
else; this module looks them up. Lookups of codes the
catalogue does not know fall back to a generic sentence instead of failing: the page must render for any
verdict the service answers, including codes added after this file was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from app.web.messages import en, zh

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

MESSAGES: dict[str, dict[str, str]] = {"en": en.MESSAGES, "zh": zh.MESSAGES}

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

    def count(self, key: str, count: int, **values: object) -> str:
        """A sentence with a count in it: the ``_one`` variant for exactly one, where the language has it."""
        one = self._messages.get(f"{key}_one")
        return (one if count == 1 and one else self._messages[key]).format(count=count, **values)

    def word(self, family: str, code: str, fallback: str | None = None) -> str:
        """The catalogue's word for a machine code, or the code itself (a code added later still renders)."""
        found = self._known(family, code)
        if found is not None:
            return found
        return fallback if fallback is not None else code.replace("_", " ")

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
