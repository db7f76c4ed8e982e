"""SparkFun OpenScale (SEN-13261: ATmega328P + HX711 24-bit ADC + TMP102), firmware 1.x.

Wire protocol (see ``docs/protocols/openscale.md``): 9600 bit/s 8-N-1 by default. After a
reset (opening the port pulses DTR, which resets the board) the firmware prints a banner::

    Serial Load Cell Converter version 1.2
    By SparkFun Electronics
    No remote sensor found
    Minimum time between reports: 13
    Press x to bring up settings
    Readings:

then one CSV line per reading, every field followed by a comma, lines ended CR-LF::

    [millis,]weight,lbs|kg,[raw,][local temp,][remote temp,]

Which optional fields appear is set in the menu. ``x`` opens the configuration menu (the
stream pauses; the menu lists numbered settings with their values in brackets and ends with a
``>`` prompt); ``x`` again prints ``Exiting`` and resumes. With "Serial trigger" on, the board
prints one reading per trigger character (``!`` by default). The firmware has no command
that returns the settings, so the driver reads them from the menu.

One concern per module: :mod:`~drivers.openscale.wire` (constants, units, record layout),
:mod:`~drivers.openscale.decoder` (bytes → values, counting every fault), :mod:`~drivers.openscale.driver`
(identification, options, streaming). The simulator is :mod:`simulation.openscale`.
"""
from drivers.openscale.decoder import (  # noqa: F401
    OpenScaleDecoder,
    _wrap32,
)
from drivers.openscale.driver import (  # noqa: F401
    InferredStream,
    OpenScaleDriver,
    _is_int,
    _is_number,
    _usb_serial_number,
    infer_stream,
)
from drivers.openscale.wire import (  # noqa: F401
    _FAST_BYTES,
    _INT,
    _MENU_ITEMS,
    _MENU_LINE,
    _OFFSETS,
    _POW10,
    _TEXT,
    _UNIT,
    DEFAULT_COLUMNS,
    DEFAULT_TRIGGER,
    FIRMWARE_VERSION,
    HEADER,
    HX711_MAX_SPS,
    KGF_N,
    LBF_N,
    MAX_STEP_MS,
    MAX_TAIL,
    MENU_KEY,
    READINGS,
    UNIT_TO_N,
    Columns,
    MenuSettings,
    parse_menu,
)

DRIVER = OpenScaleDriver
DECODER = OpenScaleDecoder
