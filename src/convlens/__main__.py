"""``python -m convlens`` works like the ``convlens`` script."""

from .cli import run

run()
