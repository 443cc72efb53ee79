"""The function handlers (func-python ``new()`` factories). Each only adapts HTTP or
CloudEvents to the core: decode, call the core, emit. ``functions/<name>/function/func.py``
re-exports the matching ``new`` so that ``func build`` and ``tekton-dag serve`` run the same code."""
