"""The words of the package-scan page (app/web/package_pages.py), by language."""

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "section": "Package",
        "code": "Package code",
        "level_label": "Package level",
        "units_label": "Inside",
        "level": "level {level} (1: holds packs; 2: holds boxes; ...)",
        "units": "{count} units",
        "units_one": "1 unit",
        "summary.authentic": (
            "This package code was registered by the manufacturer, and nothing inside it is recalled or reported."
        ),
        "summary.recalled": "The lot in this package has been recalled: do not sell or use what is inside.",
    },
    "zh": {
        "section": "包装",
        "code": "包装追溯码",
        "level_label": "包装级别",
        "units_label": "内含",
        "level": "第{level}级（1：装最小销售包装；2：装中包装；……）",
        "units": "{count}个最小销售包装",
        "units_one": "1个最小销售包装",
        "summary.authentic": "该包装追溯码由生产企业登记，其内药品没有召回或异常报告。",
        "summary.recalled": "该包装内的批次已被召回：请勿销售或使用包装内的药品。",
    },
}
