"""Versioned schema migrations of the clinic's PostgreSQL results store.

Each migration is (version, name, SQL). ``station store init`` applies, in one transaction
under a transaction-level advisory lock, the ones the database has not recorded in
``force_station.schema_migrations`` yet, so running it twice (or from two stations at once) is safe and
changes nothing the second time. A migration, once released, is never edited: a change to the
schema is a new migration with the next version number.

Layout (schema ``force_station``):

- ``store_info``: the store's own UUID (a station keys what it pushed and pulled by it).
- ``stations``: one row per station (a UUID made on its first sync, and a display name).
- ``patients``: the pseudonymous patient id only: no name, birth date or free text.
- ``sessions``: immutable, keyed by the session UUID the recording station wrote into the file;
  which station, when, status, body mass and involved side (needed for normalised values), the
  file's SHA-256 and size, and its path in the clinic's shared folder if copied there.
  ``baseline`` is the only column a station may change later.
- ``analyses``: one row per (session, algorithm version). A session re-analysed under a new
  algorithm version gets a new analysis beside the old one; the history shows the newest.
- ``tests``, ``sides``, ``trials``: the results of one analysis, column for column the rows of
  :mod:`station.index.store`.
- ``calibrations`` and ``session_calibrations``: the calibration records a session used (id,
  device serial, channel, model, coefficients, dates; no operator names or notes).
- ``changed_xid`` / ``created_xid``: the transaction that wrote a row, so a station pulls only
  what changed since its last pull (see :mod:`station.index.postgres`).

Privileges: the group role ``force_station_sync`` (NOLOGIN) may read everything, insert
sessions and results, and update only ``sessions.baseline`` and its own station row. It can
delete, truncate or alter nothing. Each station logs in with its own role, a member of it.
"""
from __future__ import annotations

SCHEMA = "force_station"
SYNC_ROLE = "force_station_sync"

_V1 = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};

-- one row: this store's identity, so a station notices a database that was recreated
CREATE TABLE {SCHEMA}.store_info (
    store_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_utc  timestamptz NOT NULL DEFAULT now(),
    singleton    boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton)
);
INSERT INTO {SCHEMA}.store_info DEFAULT VALUES;

CREATE TABLE {SCHEMA}.stations (
    station_id      uuid PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    first_seen_utc  timestamptz NOT NULL DEFAULT now(),
    last_sync_utc   timestamptz
);

CREATE TABLE {SCHEMA}.patients (
    patient_id      text PRIMARY KEY CHECK (length(patient_id) BETWEEN 1 AND 64),
    first_seen_utc  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {SCHEMA}.sessions (
    session_id       uuid PRIMARY KEY,
    patient_id       text NOT NULL REFERENCES {SCHEMA}.patients,
    station_id       uuid REFERENCES {SCHEMA}.stations,
    started_utc      timestamptz NOT NULL,
    closed_utc       timestamptz,
    status           text NOT NULL,
    station_version  text,
    body_mass_kg     double precision CHECK (body_mass_kg > 0),
    involved_side    text CHECK (involved_side IN ('left', 'right', 'none')),
    baseline         text,
    file_name        text,
    file_sha256      text CHECK (file_sha256 ~ '^[0-9a-f]{{64}}$'),
    file_size_bytes  bigint,
    shared_path      text,
    pushed_utc       timestamptz NOT NULL DEFAULT now(),
    changed_xid      xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX sessions_by_patient ON {SCHEMA}.sessions (patient_id, started_utc, session_id);
CREATE INDEX sessions_by_change ON {SCHEMA}.sessions (changed_xid);

CREATE TABLE {SCHEMA}.analyses (
    analysis_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id         uuid NOT NULL REFERENCES {SCHEMA}.sessions ON DELETE CASCADE,
    algorithm_version  text NOT NULL,
    version_key        integer[] NOT NULL,
    analysed_by        uuid REFERENCES {SCHEMA}.stations,
    created_utc        timestamptz NOT NULL DEFAULT now(),
    created_xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    UNIQUE (session_id, algorithm_version)
);
CREATE INDEX analyses_newest ON {SCHEMA}.analyses (session_id, version_key DESC, analysis_id DESC);
CREATE INDEX analyses_by_change ON {SCHEMA}.analyses (created_xid);

CREATE TABLE {SCHEMA}.tests (
    analysis_id    bigint NOT NULL REFERENCES {SCHEMA}.analyses ON DELETE CASCADE,
    test           text NOT NULL,
    protocol_id    text NOT NULL,
    name           text NOT NULL,
    kind           text NOT NULL,
    status         text NOT NULL,
    symmetry_kind  text,
    lsi_pct        double precision,
    asymmetry_pct  double precision,
    passed         boolean,
    PRIMARY KEY (analysis_id, test)
);

CREATE TABLE {SCHEMA}.sides (
    analysis_id            bigint NOT NULL,
    test                   text NOT NULL,
    side                   text NOT NULL,
    best_n                 double precision,
    mean_n                 double precision,
    cv_pct                 double precision,
    n_reps                 integer NOT NULL DEFAULT 0,
    best_n_per_kg          double precision,
    best_torque_nm         double precision,
    best_torque_nm_per_kg  double precision,
    pain_max_0_10          smallint CHECK (pain_max_0_10 BETWEEN 0 AND 10),
    PRIMARY KEY (analysis_id, test, side),
    FOREIGN KEY (analysis_id, test) REFERENCES {SCHEMA}.tests ON DELETE CASCADE
);

CREATE TABLE {SCHEMA}.trials (
    analysis_id              bigint NOT NULL,
    test                     text NOT NULL,
    trial                    text NOT NULL,
    side                     text NOT NULL,
    rep                      integer NOT NULL,
    attempt                  integer NOT NULL,
    status                   text NOT NULL,
    peak_force_n             double precision,
    peak_force_n_per_kg      double precision,
    peak_torque_nm           double precision,
    peak_torque_nm_per_kg    double precision,
    time_to_peak_s           double precision,
    rfd_0_50_n_per_s         double precision,
    rfd_0_100_n_per_s        double precision,
    rfd_0_200_n_per_s        double precision,
    impulse_0_200_n_s        double precision,
    peak_force_bw            double precision,
    loading_rate_bw_per_s    double precision,
    time_to_stabilisation_s  double precision,
    asymmetry_pct            double precision,
    pain_0_10                smallint CHECK (pain_0_10 BETWEEN 0 AND 10),
    algorithm_version        text,
    PRIMARY KEY (analysis_id, test, trial, side),
    FOREIGN KEY (analysis_id, test) REFERENCES {SCHEMA}.tests ON DELETE CASCADE
);

CREATE TABLE {SCHEMA}.calibrations (
    record_id       text PRIMARY KEY,
    device_serial   text,
    channel         integer,
    model           text,
    source          text,
    load_unit       text,
    calibrated_utc  timestamptz,
    expires_utc     timestamptz,
    coefficients    jsonb,
    offset_counts   double precision
);

CREATE TABLE {SCHEMA}.session_calibrations (
    session_id  uuid NOT NULL REFERENCES {SCHEMA}.sessions ON DELETE CASCADE,
    device      text NOT NULL,
    channel     integer NOT NULL,
    record_id   text REFERENCES {SCHEMA}.calibrations,
    state       text,
    applied     boolean,
    PRIMARY KEY (session_id, device, channel)
);
"""

# Roles are cluster-wide: create the group role only if missing, then grant (idempotent).
_V1_PRIVILEGES = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{SYNC_ROLE}') THEN
        CREATE ROLE {SYNC_ROLE} NOLOGIN;
    END IF;
END
$$;
REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC;
GRANT USAGE ON SCHEMA {SCHEMA} TO {SYNC_ROLE};
GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {SYNC_ROLE};
GRANT INSERT ON {SCHEMA}.stations, {SCHEMA}.patients, {SCHEMA}.sessions, {SCHEMA}.analyses,
    {SCHEMA}.tests, {SCHEMA}.sides, {SCHEMA}.trials, {SCHEMA}.calibrations,
    {SCHEMA}.session_calibrations TO {SYNC_ROLE};
GRANT UPDATE (baseline, changed_xid) ON {SCHEMA}.sessions TO {SYNC_ROLE};
GRANT UPDATE (name, last_sync_utc) ON {SCHEMA}.stations TO {SYNC_ROLE};
"""

#: (version, name, SQL), in order. Never edit a released entry: append a new one.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "stations, patients, sessions, analyses, results, calibrations; sync role", _V1 + _V1_PRIVILEGES),
)

LATEST = MIGRATIONS[-1][0]

BOOKKEEPING = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations (
    version      integer PRIMARY KEY,
    name         text NOT NULL,
    applied_utc  timestamptz NOT NULL DEFAULT now()
);
"""
