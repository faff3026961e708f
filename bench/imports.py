"""What importing a module costs a short-lived program: the figures the code's comments point to.

boxen's command-line programs start an interpreter for every command, so the modules they import
are part of every container operation. This benchmark starts ``python3 -I -S -X importtime`` with
one ``import`` each, interleaved in one run, and prints the median of the cumulative time the
interpreter reports for that import: the cost of the module and of everything it brings that a
bare interpreter has not loaded yet. (Timing whole processes instead adds the start-up's noise,
several milliseconds, to sub-millisecond figures.) The figures go to
bench/RESULTS.md, "Import costs"; modules and docs link there instead of repeating numbers.

Usage: python bench/imports.py [RUNS]
"""

import statistics
import subprocess
import sys
import sysconfig
import time

PYTHON = "/usr/bin/python3"

# The modules the conventions keep off the hot paths, and the ones boxen loads instead.
MODULES = [
    "posix", "os", "typing", "dataclasses", "enum", "re", "json", "_json", "argparse", "ctypes",
    "subprocess", "socket", "ssl", "threading", "collections", "functools", "pathlib", "logging",
    "tempfile", "shutil", "resource", "urllib.parse", "urllib.request", "http.client", "sqlite3",
    "zlib", "h11", "isal.isal_zlib",
]


def available(prelude: str, module: str) -> bool:
    """Whether the bare interpreter, given ``prelude``, can import ``module``."""
    code = prelude + f"import {module}"
    return subprocess.run([PYTHON, "-I", "-S", "-c", code], capture_output=True).returncode == 0


def wall(code: str) -> float:
    """Seconds a bare interpreter takes to run ``code``, start-up and exit included."""
    start = time.perf_counter()
    subprocess.run([PYTHON, "-I", "-S", "-c", code], check=True)
    return time.perf_counter() - start


def cumulative(prelude: str, module: str) -> float:
    """Seconds ``-X importtime`` reports for importing ``module``, its imports included."""
    done = subprocess.run([PYTHON, "-I", "-S", "-X", "importtime", "-c", prelude + f"import {module}"],
                          check=True, capture_output=True, text=True)
    for line in reversed(done.stderr.splitlines()):
        # "import time:  self [us] | cumulative | imported package", nesting shown by indentation
        _, _, fields = line.partition("import time:")
        parts = fields.split("|")
        if len(parts) == 3 and parts[2].strip() == module and not parts[2][1:].startswith(" "):
            return int(parts[1]) / 1e6
    return 0.0  # already loaded by the bare interpreter


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    # -I -S leave site-packages off sys.path: add this interpreter's (the venv's) explicitly.
    purelib = sysconfig.get_paths()["purelib"]
    prelude = f"import sys; sys.path.append({purelib!r}); "
    modules = [m for m in MODULES if available(prelude, m)]
    base: list[float] = []
    times: dict[str, list[float]] = {m: [] for m in modules}
    for _ in range(runs):
        base.append(wall("pass"))
        for module in modules:
            times[module].append(cumulative(prelude, module))
    print(f"{PYTHON} -I -S, {runs} interleaved runs (medians)")
    print(f"{'bare interpreter':<18} {statistics.median(base) * 1e3:>9.1f} ms (start to exit)")
    for module in modules:
        print(f"{module:<18} {statistics.median(times[module]) * 1e3:>9.1f} ms")


if __name__ == "__main__":
    main()
