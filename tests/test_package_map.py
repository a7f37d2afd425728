"""The package map in ssb/__init__.py names every module (a new module must be listed)."""
from pathlib import Path

import ssb


def test_every_module_is_in_the_package_map():
    package = Path(ssb.__file__).parent
    modules = sorted(p.stem for p in package.glob("*.py") if p.stem != "__init__") + \
        sorted(p.name for p in package.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    missing = [m for m in modules if f"``{m}``" not in ssb.__doc__]
    assert not missing, f"modules missing from the package map in ssb/__init__.py: {missing}"
