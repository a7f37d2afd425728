"""The package maps name every module (a new module must be listed): ssb/__init__.py's docstring
and the README's "Where the code is" table."""
import re
from pathlib import Path

import pytest

import ssb

PACKAGE = Path(ssb.__file__).parent
README = PACKAGE.parents[1] / "README.md"


def _modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__") + \
        sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())


def test_every_module_is_in_the_package_map():
    missing = [m for m in _modules() if f"``{m}``" not in ssb.__doc__]
    assert not missing, f"modules missing from the package map in ssb/__init__.py: {missing}"


def test_every_module_is_in_the_readme_map():
    if not README.is_file():
        pytest.skip("ssb is not imported from a checkout (no README.md beside lib/)")
    section = re.search(r"^## Where the code is\n(.*?)^## ", README.read_text(), re.S | re.M)
    assert section, "README.md has no section 'Where the code is'"
    missing = [m for m in _modules() if f"`{m}`" not in section.group(1)]
    assert not missing, f"modules missing from README.md's 'Where the code is': {missing}"
