"""Naming the mistake: the catalogue of known BN mistakes and the fits that match a failing target
to one.
"""
