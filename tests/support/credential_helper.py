"""A credential helper for tests: docker-credential-helpers' protocol, secrets in a JSON file.

``docker-credential-<name> get|store|erase`` is how docker, podman and boxen reach a keychain
(see ``boxen.image.registry.credentials``); this one keeps what a real helper keeps in a
keychain in the file ``$HELPER_STORE``, and logs each action it is asked for in
``$HELPER_STORE.log``.
"""

import os
import pathlib

PROGRAM = """#!/usr/bin/python3
import json, os, sys
path = os.environ["HELPER_STORE"]
store = json.load(open(path)) if os.path.exists(path) else {}
action, given = sys.argv[1], sys.stdin.read()
with open(path + ".log", "a") as log:
    log.write(action + "\\n")
if action == "store":
    entry = json.loads(given)
    store[entry["ServerURL"]] = [entry["Username"], entry["Secret"]]
elif given.strip() not in store:
    print("credentials not found in native keychain")
    sys.exit(1)
elif action == "get":
    user, secret = store[given.strip()]
    print(json.dumps({"ServerURL": given.strip(), "Username": user, "Secret": secret}))
elif action == "erase":
    del store[given.strip()]
if action != "get":
    with open(path + ".tmp", "w") as f:
        json.dump(store, f)
    os.replace(path + ".tmp", path)
"""


def install(bin_dir: pathlib.Path, store: pathlib.Path, name: str = "test") -> dict[str, str]:
    """Write ``docker-credential-<name>`` into ``bin_dir``; return the environment that finds it."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    program = bin_dir / f"docker-credential-{name}"
    program.write_text(PROGRAM)
    program.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HELPER_STORE": str(store)}
