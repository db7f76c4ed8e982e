"""Calibration records, fitting and verification (pure numpy plus file I/O).

Everything is in SI units: forces in N, masses in kg, time in s, temperature in °C;
raw readings are ADC counts (or N for devices that report newtons). See
``docs/calibration.md`` for the record format, the procedures and the formulas.

Main entry points:

* :class:`MultiPointProcedure` — drive a multi-point calibration step by step, then ``fit()``.
* :class:`CalibrationStore` — load/save records in the calibration directory (with history).
* :class:`CalibrationSet` — apply calibrations (and tare) to an ``(n, channels)`` stream.
* :func:`check_usable` / :func:`require_usable` — refuse tests on missing, expired or failed calibrations.
* :class:`VerificationProcedure`, :func:`verify_check_load`, :func:`verify_plate` — check loads.
* :func:`tare`, :class:`TareLog` — zero offsets and drift between tares.
* :func:`snapshot` / :func:`snapshot_dict` / :func:`load_snapshot` — records in force, for a session file.

This package must not import ``station`` or ``drivers``.
"""
from __future__ import annotations

from calibration.apply import CalibrationSet
from calibration.errors import CalibrationError, CalibrationRefused
from calibration.fitting import (
    DEFAULT_ALPHA,
    DEFAULT_NONLINEARITY_THRESHOLD_PCT_FS,
    MIN_DISTINCT_LOADS,
    ModelFit,
    ResponseFigures,
    evaluate_polynomial,
    fit_calibration,
    fit_model,
    response_figures,
)
from calibration.procedure import (
    MultiPointProcedure,
    ProcedureStep,
    StepResult,
    TareEntry,
    TareLog,
    TareResult,
    tare,
)
from calibration.record import (
    DEFAULT_EXPIRY_MONTHS,
    FORMAT_VERSION,
    CalibrationFigures,
    CalibrationPoint,
    CalibrationRecord,
    VerificationResult,
    add_months,
    factory_record,
    load_snapshot,
    snapshot,
    snapshot_dict,
)
from calibration.stability import StabilityCriteria, StabilityResult, assess_stability
from calibration.store import (
    ENV_VAR,
    CalibrationStore,
    SaveResult,
    StoredEntry,
    default_calibration_dir,
    record_filename,
    resolve_calibration_dir,
)
from calibration.units import STANDARD_GRAVITY_M_S2, kg_to_n, loads_to_n
from calibration.usability import (
    CalibrationOverride,
    CalibrationState,
    CalibrationStatus,
    check_usable,
    require_usable,
)
from calibration.verification import (
    DEFAULT_TOLERANCE_MIN_N,
    DEFAULT_TOLERANCE_PCT,
    PLATE_POSITIONS,
    VerificationProcedure,
    VerificationReport,
    VerificationStep,
    VerificationStepResult,
    judge,
    verification_tolerance_n,
    verify_check_load,
    verify_plate,
)

__all__ = [
    "CalibrationError",
    "CalibrationFigures",
    "CalibrationOverride",
    "CalibrationPoint",
    "CalibrationRecord",
    "CalibrationRefused",
    "CalibrationSet",
    "CalibrationState",
    "CalibrationStatus",
    "CalibrationStore",
    "DEFAULT_ALPHA",
    "DEFAULT_EXPIRY_MONTHS",
    "DEFAULT_NONLINEARITY_THRESHOLD_PCT_FS",
    "DEFAULT_TOLERANCE_MIN_N",
    "DEFAULT_TOLERANCE_PCT",
    "ENV_VAR",
    "FORMAT_VERSION",
    "MIN_DISTINCT_LOADS",
    "ModelFit",
    "MultiPointProcedure",
    "PLATE_POSITIONS",
    "ProcedureStep",
    "ResponseFigures",
    "STANDARD_GRAVITY_M_S2",
    "SaveResult",
    "StabilityCriteria",
    "StabilityResult",
    "StepResult",
    "StoredEntry",
    "TareEntry",
    "TareLog",
    "TareResult",
    "VerificationProcedure",
    "VerificationReport",
    "VerificationResult",
    "VerificationStep",
    "VerificationStepResult",
    "add_months",
    "assess_stability",
    "check_usable",
    "default_calibration_dir",
    "evaluate_polynomial",
    "factory_record",
    "fit_calibration",
    "fit_model",
    "judge",
    "kg_to_n",
    "load_snapshot",
    "loads_to_n",
    "record_filename",
    "require_usable",
    "resolve_calibration_dir",
    "response_figures",
    "snapshot",
    "snapshot_dict",
    "tare",
    "verification_tolerance_n",
    "verify_check_load",
    "verify_plate",
]
