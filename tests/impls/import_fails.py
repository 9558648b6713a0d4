"""A target whose import raises."""

raise ImportError("this module cannot be imported")
