"""Python distributions: the ``*.dist-info`` and ``*.egg-info`` records in site-packages.

Whoever installs a Python distribution (pip, a wheel, ``setup.py install``, a Debian
package) leaves its *core metadata* beside the code, in the directories that the
interpreter's ``site`` module adds to the path (``site-packages``, and Debian's
``dist-packages``):

* ``<name>-<version>.dist-info/METADATA`` for wheels and modern installers (PEP 376/627);
* ``<name>-<version>.egg-info/PKG-INFO``, or a single ``<name>-<version>.egg-info`` *file*,
  for setuptools' older layout, common in Debian's ``python3-*`` packages.

Both are RFC 822 headers (``Name``, ``Version``, ``License``, ``License-Expression``,
repeated ``Classifier`` lines) followed by the long description, read here with the
standard library's e-mail header parser. A distribution's name is compared in its PEP 503
normal form (lowercase, runs of ``-_.`` as one ``-``), which is also how OSV's ``PyPI``
ecosystem and package URLs spell it.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser

from boxen.image.scan import licenses, purl
from boxen.image.scan.component import LIBRARY, Component
from boxen.image.scan.rootfs import RootFS

SITE_DIRS = frozenset({"site-packages", "dist-packages"})
_SKIP = frozenset({"proc", "sys", "dev"})
_METADATA_LIMIT = 16 * 1024 * 1024
_RUNS = re.compile(r"[-_.]+")
_CLASSIFIER = "License :: "
_LICENSE_TEXT_MAX = 80  # a longer License field is the licence text, not its name


def normalize_name(name: str) -> str:
    """PEP 503's normal form of a distribution name: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return _RUNS.sub("-", name).lower()


def _licenses(headers: Message) -> tuple[str, ...]:
    expression = (headers.get("License-Expression") or "").strip()
    if expression:
        if licenses.is_expression(expression):
            return licenses.normalize_expression(expression)
        return (licenses.normalize(expression),)
    text = (headers.get("License") or "").strip()
    if "\n" in text or len(text) > _LICENSE_TEXT_MAX or text.upper() == "UNKNOWN":
        text = ""
    if text and licenses.spdx_id(text):
        return (licenses.normalize(text),)
    found: dict[str, None] = {}
    for classifier in headers.get_all("Classifier") or ():
        if classifier.startswith(_CLASSIFIER):
            last = classifier.rsplit("::", 1)[-1].strip()
            if last not in ("OSI Approved", "Other/Proprietary License"):
                found[licenses.normalize(last)] = None
    if not found and text:
        found[text] = None
    return tuple(found)


def _metadata_files(root: RootFS, site: str) -> list[str]:
    files = []
    for entry in root.listdir(site):
        path = f"{site}/{entry}"
        if entry.endswith(".dist-info"):
            files.append(f"{path}/METADATA")
        elif entry.endswith(".egg-info"):
            # a directory holding PKG-INFO, or the PKG-INFO file itself
            files.append(f"{path}/PKG-INFO" if root.listdir(path) else path)
    return files


def packages(root: RootFS) -> list[Component]:
    """The Python distributions installed anywhere in ``root``."""
    found = []
    parser = HeaderParser()
    for site in root.find_dirs(SITE_DIRS, skip=_SKIP):
        for path in _metadata_files(root, site):
            text = root.read_text(path, _METADATA_LIMIT)
            if text is None:
                continue
            headers = parser.parsestr(text)
            name, version = headers.get("Name"), headers.get("Version")
            if not name or not version:
                continue  # a half-written or foreign record: nothing to identify
            name, version = str(name).strip(), str(version).strip()
            normal = normalize_name(name)
            found.append(
                Component(
                    type=LIBRARY,
                    name=name,
                    version=version,
                    purl=purl.build("pypi", None, normal, version),
                    ecosystem="PyPI",
                    licenses=_licenses(headers),
                    description=(headers.get("Summary") or "").strip() or None,
                    locations=(path,),
                )
            )
    return found
