"""Real drivers import nothing from the simulation package (nor POSIX-only modules)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = textwrap.dedent("""
    import sys

    # termios stays: pyserial's POSIX backend needs it (on Windows pyserial uses win32 instead)
    BLOCKED = ("simulation", "tty", "pty")

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked for this test: {name}")
            return None

    sys.meta_path.insert(0, Block())
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            del sys.modules[name]
""")


def run_blocked(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_every_real_driver_imports_and_opens_without_the_simulation_package() -> None:
    proc = run_blocked("""
        import importlib
        from drivers.registry import FAMILIES, open_device
        import drivers.probe
        for family, module in FAMILIES.items():
            importlib.import_module(module)
            driver, simulator = open_device(f"{family}:loop://")
            assert simulator is None and driver.port == "loop://"
        assert not any(m.split(".")[0] == "simulation" for m in sys.modules), sorted(sys.modules)
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_the_blocker_works_so_the_test_above_can_fail() -> None:
    proc = run_blocked("""
        from drivers.registry import open_device
        open_device("sim:mark10")
    """)
    assert proc.returncode != 0
    assert "blocked for this test: simulation" in proc.stderr
