"""Packaging details pyproject.toml cannot say with automatic package discovery.

The built-in presets are kept once, in the repository's top-level presets/ folder. A regular install
ships them inside the package as grpotui/_presets/*.yaml (package_dir maps the folder there); an
editable install and a source checkout read presets/ itself (grpotui/presets.py looks in both).
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["grpotui*"]) + ["grpotui._presets"],
    package_dir={"grpotui._presets": "presets"},
    package_data={"grpotui._presets": ["*.yaml"], "grpotui.tui": ["*.tcss"]},
)
