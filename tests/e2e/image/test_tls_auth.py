"""A registry on HTTPS with a test CA and htpasswd (Basic) auth: certs.d, login, logout, pull, push."""

import json
import os
import shutil

from support import credential_helper, images
from support.images import skopeo_digest
from support.registry import PASSWORD, USER


def _trust(boxen_image, registry):
    """Put the test CA where boxen looks for it: ROOT/certs.d/<host:port>/ca.crt."""
    certs = os.path.join(boxen_image.root, "certs.d", registry.host)
    os.makedirs(certs, exist_ok=True)
    shutil.copy(registry.ca, os.path.join(certs, "ca.crt"))


def _strict(boxen_image, registry):
    """A configuration that refuses the loopback default of trusting anything."""
    path = os.path.join(boxen_image.root, "registries.json")
    os.makedirs(boxen_image.root, exist_ok=True)
    with open(path, "w") as f:
        json.dump({"registries": {registry.host: {"insecure": False}}}, f)


def test_login_pull_push_logout(boxen_image, tls_registry, busybox_layout):
    r = tls_registry
    ref = f"{r.host}/private/busybox:latest"
    images.push(*busybox_layout, ref, tls_verify=True, creds=f"{USER}:{PASSWORD}", cert_dir=r.certs_dir())
    _strict(boxen_image, r)

    untrusted = boxen_image("pull", "--no-unpack", ref, check=False)
    assert untrusted.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    _trust(boxen_image, r)

    anonymous = boxen_image("pull", "--no-unpack", ref, check=False)
    assert anonymous.returncode == 1 and "HTTP 401" in anonymous.stderr

    wrong = boxen_image("login", "-u", USER, "-p", "wrong", r.host, check=False)
    assert wrong.returncode == 1 and "401" in wrong.stderr
    assert not os.path.exists(os.path.join(boxen_image.env["DOCKER_CONFIG"], "config.json"))

    boxen_image("login", "-u", USER, "--password-stdin", r.host, input=PASSWORD + "\n")
    with open(os.path.join(boxen_image.env["DOCKER_CONFIG"], "config.json")) as f:
        assert r.host in json.load(f)["auths"]

    out = boxen_image("pull", "--no-unpack", "--json", "--explain", ref)
    assert "Basic authentication" in out.stderr
    digest = json.loads(out.stdout.splitlines()[-1])["digest"]
    creds = ["--creds", f"{USER}:{PASSWORD}", "--cert-dir", r.certs_dir()]
    assert digest == skopeo_digest(f"docker://{ref}", *creds)

    boxen_image("push", "--chunk-size", "262144", ref, f"{r.host}/private/copy:1")
    assert skopeo_digest(f"docker://{r.host}/private/copy:1", *creds) == digest

    boxen_image("logout", r.host)
    again = boxen_image("pull", "--no-unpack", f"{r.host}/private/copy:1", check=False)
    assert again.returncode == 1 and "HTTP 401" in again.stderr


def test_login_through_a_credential_store(boxen_image, tls_registry, busybox_layout, tmp_path):
    r = tls_registry
    ref = f"{r.host}/private/busybox:latest"
    images.push(*busybox_layout, ref, tls_verify=True, creds=f"{USER}:{PASSWORD}", cert_dir=r.certs_dir())
    _strict(boxen_image, r)
    _trust(boxen_image, r)
    keychain = tmp_path / "keychain.json"
    boxen_image.env.update(credential_helper.install(tmp_path / "bin", keychain))
    config = os.path.join(boxen_image.env["DOCKER_CONFIG"], "config.json")
    os.makedirs(os.path.dirname(config))
    with open(config, "w") as f:
        json.dump({"credsStore": "test"}, f)

    out = boxen_image("login", "-u", USER, "--password-stdin", r.host, input=PASSWORD + "\n")
    assert "docker-credential-test" in out.stdout
    assert json.loads(keychain.read_text()) == {r.host: [USER, PASSWORD]}
    with open(config) as f:
        assert json.load(f)["auths"] == {r.host: {}}  # no secret in the file

    out = boxen_image("pull", "--no-unpack", "--explain", ref)
    assert "Basic authentication" in out.stderr
    # Basic authentication goes with every request, but the helper is asked once per command
    assert (tmp_path / "keychain.json.log").read_text().split().count("get") == 1

    boxen_image("logout", r.host)
    assert json.loads(keychain.read_text()) == {}
    again = boxen_image("pull", "--no-unpack", ref, check=False)
    assert again.returncode == 1 and "HTTP 401" in again.stderr
