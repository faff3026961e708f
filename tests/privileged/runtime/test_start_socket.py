"""The init waiting for ``start`` holds no host file a process of the container could reopen.

A process exec'd into a created container with CAP_SYS_PTRACE passes the kernel's ptrace check
on the waiting (non-dumpable) init, pid 1 of the container: it can list ``/proc/1/fd`` and open
each entry again. An init holding ``exec.fifo`` and ``exec.fifo.error`` let it start the
container early or write the text ``start`` prints; the start socket cannot be reopened
(``boxen.runtime.startsocket``).
"""

from support.bundle import base_config, make_bundle

# For each descriptor of the waiting init beyond stdio: its target, and whether opening it again
# for writing (an append that writes nothing) succeeded.
PROBE = r"""
ls /proc/1/fd >/dev/null || { echo "cannot list"; exit 1; }
for f in /proc/1/fd/*; do
  n=${f##*/}
  [ "$n" -le 2 ] && continue
  t=$(readlink "$f")
  if (: >>"$f") 2>/dev/null; then echo "$n opened $t"; else echo "$n refused $t"; fi
done
"""


def _with_ptrace(config: dict) -> dict:
    for kind in ("bounding", "effective", "permitted"):
        config["process"]["capabilities"][kind].append("CAP_SYS_PTRACE")
    return config


def test_an_exec_process_cannot_reopen_what_the_waiting_init_holds(boxen, cid, tmp_path):
    bundle = make_bundle(tmp_path, _with_ptrace(base_config(["true"])))
    boxen.create(cid, bundle).check()
    try:
        report = boxen.exec(cid, "sh", "-c", PROBE).check().stdout.splitlines()
        held = dict(line.split(" ", 1) for line in report)
        assert held, report  # the probe saw the init's descriptors
        assert not [line for line in held.values() if line.startswith("opened")], report
        targets = [line.split(" ", 1)[1] for line in held.values()]
        assert all(t.startswith("socket:[") or t == "/bin/busybox" for t in targets), report
        assert any(t.startswith("socket:[") for t in targets), report  # the listening socket
        assert boxen.status(cid) == "created"  # the probe did not start it
        boxen.start(cid).check()
        assert boxen.wait_status(cid, "stopped") == "stopped"
    finally:
        boxen.delete(cid, "--force")


def test_an_error_after_create_reaches_start(boxen, cid, tmp_path):
    config = base_config(["true"])
    config["hooks"] = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]}
    boxen.create(cid, make_bundle(tmp_path, config)).check()
    try:
        result = boxen.start(cid)
        assert result.returncode != 0
        assert "unable to start container process" in result.stderr and "startContainer" in result.stderr, \
            result.stderr
        assert boxen.status(cid) == "stopped"
    finally:
        boxen.delete(cid, "--force")
