"""Simulated devices and what they feel: everything the station needs to run without hardware.

- :mod:`simulation.pty_simulator` — the base of every device simulator: a thread speaking a
  device's wire protocol on the master end of a real pseudo-terminal (POSIX only), with
  fault injection (garbage, lost bytes, a frozen stream, unplug and replug);
- :mod:`simulation.mark10`, :mod:`~simulation.loadstar`, :mod:`~simulation.openscale`,
  :mod:`~simulation.sfp` — one simulator per device family, written from the vendor
  documents independently of the drivers (they share no protocol constants);
- :mod:`simulation.forces` (force sources), :mod:`simulation.patient` (the simulated
  patient), :mod:`simulation.landing` (landings on force plates), :mod:`simulation.loadcell`
  (force → ADC counts).

Real drivers (:mod:`drivers`) never import this package; :func:`drivers.registry.open_device`
loads it only for a ``sim:`` URI.
"""
