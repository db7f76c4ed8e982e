"""User protocols directory: override built-ins, env var, argument, lookup by id or path."""
from __future__ import annotations

from pathlib import Path

import pytest

from protocols import (
    ENV_VAR,
    ProtocolError,
    ProtocolNotFoundError,
    builtin_protocols,
    find_protocols,
    get_protocol,
    user_protocols,
    user_protocols_dir,
)


@pytest.fixture(autouse=True)
def _no_real_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the real per-user protocols folder."""
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env-default-empty"))


def clinic_copy(directory: Path, pid: str = "hip-abduction-hhd", *, new_id: str | None = None,
                name: str = "Clinic variant", filename: str | None = None) -> Path:
    text = builtin_protocols()[pid].source_text
    old_name = builtin_protocols()[pid].name
    text = text.replace(f'name = "{old_name}"', f'name = "{name}"')
    if new_id:
        text = text.replace(f'id = "{pid}"', f'id = "{new_id}"')
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (filename or f"{new_id or pid}.toml")
    path.write_text(text, encoding="utf-8")
    return path


def test_user_file_overrides_builtin(tmp_path: Path):
    d = tmp_path / "clinic"
    path = clinic_copy(d)
    found = find_protocols(d)
    p = found["hip-abduction-hhd"]
    assert p.name == "Clinic variant"
    assert p.builtin is False
    assert p.source_path == str(path.resolve())
    assert found["knee-extension-60"].builtin  # the others stay built-in
    assert builtin_protocols()["hip-abduction-hhd"].name != "Clinic variant"
    assert get_protocol("hip-abduction-hhd", d).name == "Clinic variant"


def test_user_file_adds_a_protocol(tmp_path: Path):
    d = tmp_path / "clinic"
    clinic_copy(d, "single-leg-landing", new_id="single-leg-landing-40cm", name="SL landing 40 cm")
    found = find_protocols(d)
    assert set(builtin_protocols()) < set(found)
    assert found["single-leg-landing-40cm"].name == "SL landing 40 cm"
    assert list(found) == sorted(found)


def test_env_var_sets_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    d = tmp_path / "from-env"
    clinic_copy(d)
    monkeypatch.setenv(ENV_VAR, str(d))
    assert user_protocols_dir() == d
    assert get_protocol("hip-abduction-hhd").name == "Clinic variant"
    assert find_protocols()["hip-abduction-hhd"].name == "Clinic variant"


def test_argument_beats_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    clinic_copy(env_dir, name="From env")
    clinic_copy(arg_dir, name="From argument")
    monkeypatch.setenv(ENV_VAR, str(env_dir))
    assert user_protocols_dir(arg_dir) == arg_dir
    assert get_protocol("hip-abduction-hhd", arg_dir).name == "From argument"
    assert get_protocol("hip-abduction-hhd", str(arg_dir)).name == "From argument"


def test_default_directory_is_platformdirs(monkeypatch: pytest.MonkeyPatch):
    import platformdirs

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert user_protocols_dir() == Path(platformdirs.user_data_dir("force-station")) / "protocols"
    monkeypatch.setenv(ENV_VAR, "  ")  # blank means unset
    assert user_protocols_dir() == Path(platformdirs.user_data_dir("force-station")) / "protocols"


def test_missing_directory_gives_builtins(tmp_path: Path):
    assert find_protocols(tmp_path / "nope") == builtin_protocols()
    assert user_protocols(tmp_path / "nope") == {}


def test_directory_that_is_a_file(tmp_path: Path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ProtocolError, match="not a directory"):
        find_protocols(f)


def test_only_visible_toml_files_are_read(tmp_path: Path):
    d = tmp_path / "clinic"
    clinic_copy(d, new_id="a-one")
    clinic_copy(d, new_id="b-hidden", filename=".b-hidden.toml")
    clinic_copy(d, new_id="c-text", filename="c-text.txt")
    (d / "sub").mkdir()
    clinic_copy(d / "sub", new_id="d-nested")
    assert set(user_protocols(d)) == {"a-one"}


def test_bad_user_file_raises_by_default(tmp_path: Path):
    d = tmp_path / "clinic"
    clinic_copy(d, new_id="good-one")
    (d / "broken.toml").write_text("format_version = 1\nid = \n", encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"broken\.toml:2:"):
        find_protocols(d)
    # a broken file might have been meant to override a built-in: lookups by id fail too
    with pytest.raises(ProtocolError, match=r"broken\.toml"):
        get_protocol("hip-abduction-hhd", d)


def test_bad_user_files_can_be_collected(tmp_path: Path):
    d = tmp_path / "clinic"
    clinic_copy(d, new_id="good-one")
    (d / "broken.toml").write_text("format_version = 1\nid = \n", encoding="utf-8")
    errors: list[ProtocolError] = []
    found = find_protocols(d, errors=errors)
    assert "good-one" in found and "hip-abduction-hhd" in found
    assert len(errors) == 1 and "broken.toml" in str(errors[0])


def test_duplicate_ids_in_user_dir(tmp_path: Path):
    d = tmp_path / "clinic"
    clinic_copy(d, filename="a.toml")
    clinic_copy(d, filename="b.toml", name="Second")
    with pytest.raises(ProtocolError) as info:
        user_protocols(d)
    msg = str(info.value)
    assert "b.toml" in msg and "a.toml" in msg and '"hip-abduction-hhd"' in msg
    assert info.value.field == "id" and info.value.line is not None


def test_get_protocol_by_path(tmp_path: Path):
    path = clinic_copy(tmp_path / "elsewhere", new_id="only-by-path")
    assert get_protocol(path).id == "only-by-path"
    assert get_protocol(str(path)).id == "only-by-path"
    with pytest.raises(ProtocolError, match="no such file"):
        get_protocol(str(tmp_path / "missing.toml"))


def test_get_protocol_unknown_id():
    with pytest.raises(ProtocolNotFoundError) as info:
        get_protocol("hip-abduction-hdd")
    msg = str(info.value)
    assert isinstance(info.value, LookupError) and isinstance(info.value, ValueError)
    assert 'unknown protocol "hip-abduction-hdd"' in msg
    assert 'did you mean "hip-abduction-hhd"?' in msg
    assert "knee-extension-60" in msg and "\n" not in msg


def test_default_directory_without_platformdirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import platformdirs
    import sys

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    expected = Path(platformdirs.user_data_dir("force-station")) / "protocols"
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # import now fails
    fallback = user_protocols_dir()
    assert fallback.parts[-2:] == ("force-station", "protocols")
    if sys.platform.startswith("linux"):
        assert fallback == expected
