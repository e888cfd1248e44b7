"""The report of an :class:`~harness.analysis.capacity.Analysis`, one module per part.

``render.build_report`` analyses run directories and writes the files. The report opens with the
sentences of ``answer``; ``sections`` follow, made of ``tables`` and the ``images`` that ``plots``
draw. ``summary_json`` is the machine-readable copy, and ``cli`` is the ``report`` command.
"""
