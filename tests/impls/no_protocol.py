"""A module without any BN protocol."""


def something_else() -> int:
    return 1
