#!/usr/bin/env bash
# make demo: build a busybox bundle from Debian's busybox-static and run it with boxen-runtime.
# The container shows what isolates it (its own hostname, its own pid 1, its own mount table)
# and what constrains it (the memory limit of its cgroup). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME=$PWD/.venv/bin/boxen-runtime
work=$(mktemp -d /tmp/boxen-demo.XXXXXX)
state=$work/state
cleanup() { "$RUNTIME" --root "$state" delete --force demo >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

bundle=$work/bundle
mkdir -p "$bundle/rootfs"/{bin,proc,sys,dev,tmp,etc}
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$bundle/rootfs/etc/passwd"

( cd "$bundle" && "$RUNTIME" spec )
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["terminal"] = False
config["hostname"] = "boxen-demo"
config["process"]["args"] = ["sh", "-c", """
echo "hostname:      $(hostname)"
echo "my pid:        $$ (pid 1 is: $(cat /proc/1/comm))"
echo "processes:     $(ls -d /proc/[0-9]* | wc -l) visible"
echo "memory limit:  $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max) bytes"
echo "capabilities:  $(grep CapEff /proc/self/status)"
echo "mount table:"
cat /proc/self/mounts | sed 's/^/   /'
"""]
config["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
json.dump(config, open(path, "w"), indent=2)
PY
echo "== boxen-runtime run --explain (what it is about to do) =="
"$RUNTIME" --root "$state" run --explain --dry-run --bundle "$bundle" demo
echo
echo "== the container speaks =="
"$RUNTIME" --root "$state" run --bundle "$bundle" demo
