"""The runtime as a library in a threaded process (a daemon): a working container, never a hang.

``Kernel.clone`` is a raw system call: it skips the C library's fork handling, which a child of
a threaded process needs (a malloc lock held by another thread at the fork would stay held in
the child for ever). ``create`` therefore takes its two-stage path, ``os.fork`` then
``unshare``, when the process has other threads. The caller here keeps a thread allocating
memory the whole time, so a fork without that handling would have every chance to hang.
"""

import subprocess
import sys
import textwrap

from support.bundle import base_config, make_bundle

CALLER = textwrap.dedent("""
    import sys, threading
    from boxen.runtime import Runtime

    root, bundle, cid = sys.argv[1:]
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            [bytearray(4096) for _ in range(64)]

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        codes = [Runtime(root).run(f"{cid}-{i}", bundle) for i in range(5)]
    finally:
        stop.set()
        worker.join()
    print("codes", *codes)
""")


def test_run_from_a_process_with_a_live_thread(boxen, cid, tmp_path):
    bundle = make_bundle(tmp_path, base_config(["sh", "-c", "echo inside; exit 7"]))
    result = subprocess.run([sys.executable, "-c", CALLER, str(boxen.root), str(bundle), cid],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "codes 7 7 7 7 7"
    assert result.stdout.count("inside") == 5
    assert boxen.ids() == []
