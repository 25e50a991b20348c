"""The message tables of the web pages, one module per language; app/web/i18n.py looks them up."""
