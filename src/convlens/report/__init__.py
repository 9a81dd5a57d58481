"""HTML reports assembled from sections that each capability builds from its result objects."""

from .html import Section, esc, image, key_values, paragraph, render, table, write_report

__all__ = ["Section", "esc", "image", "key_values", "paragraph", "render", "table", "write_report"]
