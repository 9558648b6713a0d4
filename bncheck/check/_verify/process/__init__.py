"""The isolated target process: the parent's handle, the child's serving loop, its confinement, and
the plain-data wire between them.
"""
