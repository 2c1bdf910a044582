"""Results store (SQLite under results/<run>/) and what is rendered from it (tables, plots, report)."""
