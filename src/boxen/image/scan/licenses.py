"""Licence names as packages write them, turned into SPDX identifiers where that is certain.

SPDX gives every common licence one identifier (``GPL-2.0-or-later``, ``MIT``,
``BSD-3-Clause``) and a small expression language to combine them (``MIT OR Apache-2.0``,
``GPL-2.0-only WITH Classpath-exception-2.0``). Package managers mostly predate it:

* Debian's machine-readable ``copyright`` files (DEP-5) use their own short names:
  ``GPL-2+`` is ``GPL-2.0-or-later``, ``Expat`` is ``MIT``, ``BSD-3-clause`` is ``BSD-3-Clause``;
* apk's ``L:`` field is SPDX in current Alpine, but older packages write ``GPL2+`` or list
  several names separated by spaces;
* Python metadata has a free-text ``License`` field, trove classifiers
  (``License :: OSI Approved :: MIT License``) and, since metadata 2.4, ``License-Expression``.

CycloneDX accepts a ``license.id`` only from the SPDX list, so a name becomes an id only
when this module knows the mapping; anything else is kept as a ``license.name``, and an
expression is kept whole only when all of its identifiers are known.
"""

from __future__ import annotations

import re

#: SPDX licence identifiers that boxen recognises (the canonical spelling).
SPDX_IDS = frozenset(
    """
    0BSD AFL-2.1 AGPL-3.0-only AGPL-3.0-or-later Apache-1.1 Apache-2.0 APSL-2.0 Artistic-1.0
    Artistic-1.0-Perl Artistic-2.0 Beerware BSD-1-Clause BSD-2-Clause BSD-3-Clause BSD-4-Clause
    BSL-1.0 bzip2-1.0.6 CC-BY-3.0 CC-BY-4.0 CC-BY-SA-3.0 CC-BY-SA-4.0 CC0-1.0 CDDL-1.0 CDDL-1.1
    curl EPL-1.0 EPL-2.0 EUPL-1.2 FSFAP FSFUL FSFULLR FTL GFDL-1.2-only GFDL-1.2-or-later
    GFDL-1.3-only GFDL-1.3-or-later GPL-1.0-only GPL-1.0-or-later GPL-2.0-only GPL-2.0-or-later
    GPL-3.0-only GPL-3.0-or-later HPND ICU IJG ISC LGPL-2.0-only LGPL-2.0-or-later LGPL-2.1-only
    LGPL-2.1-or-later LGPL-3.0-only LGPL-3.0-or-later Libpng libtiff LPPL-1.3c MirOS MIT MIT-0
    MPL-1.1 MPL-2.0 NCSA OFL-1.1 OLDAP-2.8 OpenSSL PHP-3.01 PostgreSQL PSF-2.0 Python-2.0 Ruby
    Sleepycat SSPL-1.0 TCL Unicode-DFS-2016 Unicode-3.0 Unlicense Vim W3C WTFPL X11 Zlib ZPL-2.1
    """.split()
)

#: SPDX licence exceptions, which may follow ``WITH`` in an expression.
SPDX_EXCEPTIONS = frozenset(
    """
    Autoconf-exception-2.0 Autoconf-exception-3.0 Bison-exception-2.2 Classpath-exception-2.0
    GCC-exception-2.0 GCC-exception-3.1 LLVM-exception OpenSSL-exception Qt-GPL-exception-1.0
    """.split()
)

_BY_LOWER = {i.lower(): i for i in SPDX_IDS}

#: Other spellings (lowercase) -> SPDX identifier: DEP-5 short names, deprecated SPDX ids,
#: the last part of Python licence classifiers, and common free-text names.
ALIASES = {
    # Debian DEP-5 short names ("+" means "or any later version")
    "gpl-1": "GPL-1.0-only", "gpl-1+": "GPL-1.0-or-later",
    "gpl-2": "GPL-2.0-only", "gpl-2+": "GPL-2.0-or-later",
    "gpl-3": "GPL-3.0-only", "gpl-3+": "GPL-3.0-or-later",
    "lgpl-2": "LGPL-2.0-only", "lgpl-2+": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only", "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3": "LGPL-3.0-only", "lgpl-3+": "LGPL-3.0-or-later",
    "agpl-3": "AGPL-3.0-only", "agpl-3+": "AGPL-3.0-or-later",
    "gfdl-1.2": "GFDL-1.2-only", "gfdl-1.2+": "GFDL-1.2-or-later",
    "gfdl-1.3": "GFDL-1.3-only", "gfdl-1.3+": "GFDL-1.3-or-later",
    "expat": "MIT", "zlib": "Zlib", "apache-2": "Apache-2.0", "mpl-2": "MPL-2.0",
    "psf-2": "PSF-2.0",
    # deprecated SPDX identifiers and apk's older spellings
    "gpl-2.0": "GPL-2.0-only", "gpl-2.0+": "GPL-2.0-or-later", "gpl-3.0": "GPL-3.0-only",
    "gpl-3.0+": "GPL-3.0-or-later", "lgpl-2.0+": "LGPL-2.0-or-later", "lgpl-3.0+": "LGPL-3.0-or-later",
    "lgpl-3.0": "LGPL-3.0-only",
    "gpl2": "GPL-2.0-only", "gpl2+": "GPL-2.0-or-later", "gpl3": "GPL-3.0-only", "gpl3+": "GPL-3.0-or-later",
    "lgpl2+": "LGPL-2.0-or-later", "lgpl2.1+": "LGPL-2.1-or-later", "lgpl3+": "LGPL-3.0-or-later",
    # Python trove classifiers (the part after the last "::") and free-text names
    "mit license": "MIT", "the mit license": "MIT", "mit no attribution license (mit-0)": "MIT-0",
    "apache software license": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0", "asl 2.0": "Apache-2.0",
    "isc license (iscl)": "ISC", "isc license": "ISC",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "python software foundation license": "PSF-2.0", "psf": "PSF-2.0", "psfl": "PSF-2.0",
    "the unlicense (unlicense)": "Unlicense", "zlib/libpng license": "Zlib",
    "gnu general public license v2 (gplv2)": "GPL-2.0-only",
    "gnu general public license v2 or later (gplv2+)": "GPL-2.0-or-later",
    "gnu general public license v3 (gplv3)": "GPL-3.0-only",
    "gnu general public license v3 or later (gplv3+)": "GPL-3.0-or-later",
    "gnu lesser general public license v2 (lgplv2)": "LGPL-2.0-only",
    "gnu lesser general public license v2 or later (lgplv2+)": "LGPL-2.0-or-later",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only",
    "gnu lesser general public license v3 or later (lgplv3+)": "LGPL-3.0-or-later",
    "gnu affero general public license v3": "AGPL-3.0-only",
    "boost software license 1.0 (bsl-1.0)": "BSL-1.0",
    "eclipse public license 2.0 (epl-2.0)": "EPL-2.0",
    "3-clause bsd": "BSD-3-Clause", "new bsd": "BSD-3-Clause", "new bsd license": "BSD-3-Clause",
    "bsd-3": "BSD-3-Clause", "2-clause bsd": "BSD-2-Clause", "simplified bsd": "BSD-2-Clause",
    "cc0 1.0 universal (cc0 1.0) public domain dedication": "CC0-1.0",
}

_OPERATORS = frozenset({"AND", "OR", "WITH"})
_PARENS = frozenset("()")
_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def spdx_id(name: str) -> str | None:
    """The SPDX identifier that ``name`` certainly means, or None."""
    lowered = name.strip().lower()
    return _BY_LOWER.get(lowered) or ALIASES.get(lowered) or None


def normalize(name: str) -> str:
    """``name`` as an SPDX identifier if known, else the name itself, stripped."""
    return spdx_id(name) or name.strip()


def is_expression(text: str) -> bool:
    """Whether ``text`` combines licences with AND, OR or WITH."""
    return any(t in _OPERATORS for t in _TOKEN.findall(text))


def normalize_expression(text: str) -> tuple[str, ...]:
    """An SPDX expression as a one-element tuple if every identifier in it is known
    (identifiers respelled canonically); otherwise the licence names it mentions."""
    tokens = _TOKEN.findall(text)
    out: list[str] = []
    names: list[str] = []
    certain = True
    after_with = False
    for token in tokens:
        if token in _OPERATORS or token in _PARENS:
            out.append(token)
            after_with = token == "WITH"
            continue
        if after_with:
            certain = certain and token in SPDX_EXCEPTIONS
            out.append(token)
            after_with = False
            continue
        known = spdx_id(token) if not token.startswith("LicenseRef-") else token
        if not known:
            certain = False
            names.append(token)
        else:
            names.append(known)
            out.append(known)
    if certain and is_expression(text):
        return (" ".join(out).replace("( ", "(").replace(" )", ")"),)
    return tuple(dict.fromkeys(names))


def cyclonedx(licenses: tuple[str, ...]) -> list[dict[str, object]]:
    """The CycloneDX ``licenses`` array for a component's licences.

    CycloneDX allows either a list of ``{"license": {"id"|"name": ...}}`` or exactly one
    ``{"expression": ...}``; several entries that include an expression keep it as a name.
    """
    if len(licenses) == 1 and is_expression(licenses[0]):
        return [{"expression": licenses[0]}]
    out: list[dict[str, object]] = []
    for lic in licenses:
        if lic in SPDX_IDS:
            out.append({"license": {"id": lic}})
        else:
            out.append({"license": {"name": lic}})
    return out
