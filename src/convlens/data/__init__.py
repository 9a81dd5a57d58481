"""Data sets, image files, the bundled offline sample and normalization."""
