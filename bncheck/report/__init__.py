"""Rendering: the only place that uses tabulate and matplotlib."""
