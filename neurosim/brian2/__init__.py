"""The Brian2 side of the Brian2 engine: the model as equations and the ways to run it.

:mod:`.equations` holds every equation and code string, :mod:`.builder` creates the Brian2
objects, :mod:`.runtime` and :mod:`.standalone` run them in runtime mode or as a compiled
C++ standalone binary, and :mod:`.device` chooses between the two. The engine itself is
:class:`neurosim.engines.brian2_engine.Brian2Engine`.
"""
