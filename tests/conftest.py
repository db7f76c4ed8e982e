"""Shared test setup: Qt runs headless; no test sees the real user's calibration folder; under
pytest-xdist the slowest tests start first (tests/durations.json)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_calibration_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions and calibration commands read $FORCE_STATION_CALIBRATION_DIR: an empty temp folder."""
    monkeypatch.setenv("FORCE_STATION_CALIBRATION_DIR", str(tmp_path_factory.mktemp("calibration")))


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the real user's config file (clinic store URL, shared folder): an absent one."""
    monkeypatch.setenv("FORCE_STATION_CONFIG", str(tmp_path_factory.mktemp("config") / "config.toml"))


@pytest.fixture(autouse=True, scope="session")
def _simulator_ports_by_name(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """In-process simulators hand out a stable link name, not ``/dev/pts/N``: after an unplug
    the kernel gives that number to the next pty opened, often another xdist worker's
    simulator, which a reconnecting driver would then open and send its identify commands to."""
    from simulation.pty_simulator import PtySimulator

    PtySimulator.port_dir = str(tmp_path_factory.mktemp("ports"))
    yield
    PtySimulator.port_dir = None


# -- the xdist schedule: the longest tests start first, spread over the workers ---------------------
#: measured seconds per test (setup + call + teardown) of the tests that take ≥ 0.3 s; rewrite it
#: with ``make test-durations`` after adding or speeding up a slow test. Only the order uses it.
DURATIONS_FILE = Path(__file__).with_name("durations.json")
HEAVY_S = 0.3


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--record-durations", action="store_true",
                     help=f"write the measured duration of each test taking ≥ {HEAVY_S} s to {DURATIONS_FILE.name}")


def worksteal_chunks(n_items: int, n_workers: int) -> list[int]:
    """The sizes of the contiguous runs of the collection that pytest-xdist's ``worksteal``
    scheduler hands each worker at the start (as its ``check_schedule`` splits the pending list)."""
    sizes, left = [], n_items
    for i in range(n_workers):
        sizes.append(left // (n_workers - i))
        left -= sizes[-1]
    return sizes


def shared_fixture_group(item: pytest.Item) -> str | None:
    """The module of ``item`` when it uses a module- or class-scoped fixture (its tests move
    together, so the fixture is built once), else None."""
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info is not None else ()):
        if any(d.scope in ("module", "class", "package") for d in defs):
            return item.nodeid.split("::", 1)[0]
    return None


def longest_first(items: list[pytest.Item], durations: dict[str, float], n_workers: int) -> list[pytest.Item]:
    """Reorder ``items`` so each worker's initial run starts with its share of the slow tests,
    longest first (dealt out by longest-processing-time: each to the run with the least slow
    time so far). Tests sharing a module-scoped fixture move as one unit. The fast tests keep
    their order and fill the rest of each run; ``worksteal`` balances those by stealing from
    the tail. Every worker computes the same order."""
    units: list[list[pytest.Item]] = []
    grouped: dict[str, list[pytest.Item]] = {}
    for item in items:
        key = shared_fixture_group(item)
        if key is None:
            units.append([item])
        elif key in grouped:
            grouped[key].append(item)
        else:
            grouped[key] = [item]
            units.append(grouped[key])

    def weight(unit: list[pytest.Item]) -> float:
        return sum(durations.get(i.nodeid, 0.0) for i in unit)

    slow = sorted((u for u in units if weight(u) >= HEAVY_S), key=lambda u: (-weight(u), u[0].nodeid))
    if not slow:
        return items
    slow_ids = {id(u) for u in slow}
    fast = [i for u in units if id(u) not in slow_ids for i in u]
    sizes = worksteal_chunks(len(items), n_workers)
    runs: list[list[pytest.Item]] = [[] for _ in sizes]
    load = [0.0] * len(sizes)
    for unit in slow:
        fits = [k for k in range(len(sizes)) if len(runs[k]) + len(unit) <= sizes[k]] or list(range(len(sizes)))
        k = min(fits, key=lambda k: (load[k], k))
        runs[k] += unit
        load[k] += weight(unit)
    ordered: list[pytest.Item] = []
    for k, size in enumerate(sizes):
        take = max(0, size - len(runs[k]))
        ordered += runs[k] + fast[:take]
        fast = fast[take:]
    return ordered + fast


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak test skipped unless asked for; under pytest-xdist, the longest tests start first."""
    if "soak" not in (config.getoption("-m") or ""):
        skip = pytest.mark.skip(reason="soak test: run it with `make soak` (pytest -m soak), see docs/reliability.md")
        for item in items:
            if "soak" in item.keywords:
                item.add_marker(skip)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and DURATIONS_FILE.exists():
        items[:] = longest_first(items, json.loads(DURATIONS_FILE.read_text(encoding="utf-8")), workers)


_measured: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _measured[report.nodeid] = _measured.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    if session.config.getoption("--record-durations") and not os.environ.get("PYTEST_XDIST_WORKER"):
        slow = {k: round(v, 2) for k, v in sorted(_measured.items()) if v >= HEAVY_S}
        DURATIONS_FILE.write_text(json.dumps(slow, indent=0) + "\n", encoding="utf-8")
