"""Loaded at every interpreter's start while this directory is on PYTHONPATH (bench/path_split.py)."""

import path_stamps

path_stamps.install()
