"""How each kind of target is plugged in and driven (runs in the target process): the dispatcher,
the adapters, the protocol tables and the ``adapt()`` API.
"""
