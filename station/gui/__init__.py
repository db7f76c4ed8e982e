"""The clinic window (PySide6 + pyqtgraph), an optional part of the station (the ``gui`` extra).

Importing this package imports nothing from Qt: :mod:`station.gui.qtcheck` tells whether the
window can start before any Qt module is loaded. The Qt modules are ``app``, ``window``,
``plot``, ``pages``, ``patient_view`` and ``theme``; ``bridge`` links a window to a session.
"""
