"""Device drivers: one module per device family (decoder, commands, simulator).

Drivers take a pyserial URL or port and turn bytes into :class:`~drivers.base.SampleBlock`
objects. A driver never imports ``station``.
"""
from drivers.base import (
    DeviceDisconnected,
    DeviceError,
    DeviceInfo,
    Driver,
    DriverStats,
    SampleBlock,
)

__all__ = [
    "DeviceDisconnected",
    "DeviceError",
    "DeviceInfo",
    "Driver",
    "DriverStats",
    "SampleBlock",
]
