"""Packaging for saltext-spectrum-acl."""

import pathlib
import re

from setuptools import find_namespace_packages, setup

HERE = pathlib.Path(__file__).parent
# One source for the version: the package's __version__.
VERSION = re.search(r'^__version__ = "([^"]+)"', (HERE / "src/saltext/spectrum_acl/__init__.py").read_text(), re.M).group(1)

setup(
    name="saltext-spectrum-acl",
    version=VERSION,
    description="Salt extension that refuses dangerous Spectrum reverse-proxy origins before they reach the edge",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    python_requires=">=3.10",
    package_dir={"": "src"},
    packages=find_namespace_packages(where="src", include=["saltext", "saltext.*"]),
    include_package_data=True,
    install_requires=[
        "salt>=3008.4,<3009",
        "netaddr>=1.0,<2",
        "numpy>=1.24",  # building the index, judging origins in batches
        "msgspec>=0.18",  # loading large JSON prefix data
        "requests>=2.28,<3",
        "dnspython>=2.6,<3",  # origin_dns: A, AAAA and SRV with a deadline
        "urllib3>=1.26,<3",
        "PyYAML>=6",
        "tornado>=6.4",  # spectrum-acl serve; already a dependency of salt
    ],
    extras_require={
        "tracing": [
            "opentelemetry-api>=1.20",
            "opentelemetry-sdk>=1.20",
        ],
        "bench": [
            "pytricia>=1.0",  # peer: a C Patricia trie, one per address family
            "py-radix>=1.0",  # second peer: a C radix tree
        ],
        "tests": [
            "pytest>=8",
            "pytest-salt-factories>=1.0.5,<2",
            "hypothesis>=6.100",
            "sphinx>=7",  # the suite builds the manual
            "myst-parser>=3",
            "ruff>=0.6",  # the lint configuration in ruff.toml, run by the suite
            "trove-classifiers",  # the classifiers above are checked against it
            "towncrier>=23",  # changelog fragments
            "jsonschema>=4.18",  # SARIF output is validated against the SARIF 2.1.0 schema
        ],
    },
    entry_points={
        "salt.loader": ["spectrum_acl = saltext.spectrum_acl"],
        "console_scripts": ["spectrum-acl = saltext.spectrum_acl.cli.main:main"],
    },
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: Console",
        "Intended Audience :: System Administrators",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Topic :: System :: Networking",
        "Topic :: System :: Systems Administration",
    ],
)
