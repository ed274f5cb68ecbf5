"""Real time: the event catalogue, the event log, rooms, the bus, replay, the Socket.IO server."""

# Compatibility for the protocol conformance kit (../shared/conformance/bare.py), which
# imports ``from realtime import daphne_tuning, transport``: both moved to ``serving/``.
# Remove once the kit imports ``serving``.
_MOVED_TO_SERVING = frozenset({"transport", "daphne_tuning"})


def __getattr__(name: str):
    if name in _MOVED_TO_SERVING:
        import importlib
        import warnings

        warnings.warn(f"realtime.{name} moved to serving.{name}", DeprecationWarning, stacklevel=2)
        module = globals()[name] = importlib.import_module(f"serving.{name}")
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
