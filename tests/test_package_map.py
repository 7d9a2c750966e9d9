"""The README's picture of the package is the one the code draws."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _package_map_module():
    spec = importlib.util.spec_from_file_location("package_map", ROOT / "scripts/package_map.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_package_map_matches_the_code() -> None:
    pm = _package_map_module()
    drawn = pm.package_map()
    assert pm.readme_block((ROOT / "README.md").read_text()) == drawn, (
        "README's package map is stale: run `python scripts/package_map.py --write`"
    )
    # the picture holds every subpackage and names modules by their place in it
    for box in ("core/", "design/", "evaluation/", "scoring/", "analysis/", "publishing/"):
        assert f"<b>{box}</b>" in drawn
    assert "backends/embedded" in drawn


def test_package_map_sees_a_new_module_and_its_imports(tmp_path, monkeypatch) -> None:
    """Drawn from the code, not a list: a module added to a copy of the package shows up,
    and so does the arrow of the import it makes."""
    import shutil

    pm = _package_map_module()
    copy = tmp_path / "src" / "value_inertia"
    shutil.copytree(ROOT / "src" / "value_inertia", copy)
    (copy / "design" / "extra_design.py").write_text(
        "from value_inertia.publishing.board.build import build_leaderboard\n"
    )
    monkeypatch.setattr(pm, "PACKAGE", copy)
    drawn = pm.package_map()
    assert "extra_design" in drawn
    assert "    design --> publishing" in drawn.splitlines()
