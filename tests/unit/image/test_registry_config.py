import base64
import json
import os

import pytest

from boxen.common.errors import InvalidArgument, NotFound
from boxen.image.registry import config, credentials
from support import credential_helper


def test_default_endpoints():
    cfg = config.RegistryConfig({}, ())
    [hub] = config.endpoints(cfg, "docker.io", "registry-1.docker.io")
    assert (hub.url, hub.verify) == ("https://registry-1.docker.io", True)
    # A registry on this machine: plain HTTP first (what it almost always speaks), then unverified TLS.
    local = config.endpoints(cfg, "127.0.0.1:5000", "127.0.0.1:5000")
    assert [(e.url, e.verify) for e in local] == [("http://127.0.0.1:5000", True), ("https://127.0.0.1:5000", False)]
    assert [e.url for e in config.endpoints(cfg, "localhost", "localhost")] == ["http://localhost", "https://localhost"]


def test_mirrors_insecure_and_daemon_json_keys():
    cfg = config.parse({
        "registries": {"docker.io": {"mirrors": ["http://127.0.0.1:5000"]},
                       "registry.test:5443": {"insecure": True},
                       "127.0.0.1:6000": {"insecure": False}},
        "registry-mirrors": ["mirror.test"],
        "insecure-registries": ["other.test"],
    }, certs_dirs=())
    hub = config.endpoints(cfg, "docker.io", "registry-1.docker.io")
    assert [(e.url, e.mirror) for e in hub] == [
        ("http://127.0.0.1:5000", True), ("https://mirror.test", True), ("https://registry-1.docker.io", False)]
    assert [e.url for e in config.endpoints(cfg, "docker.io", "registry-1.docker.io", push=True)] == [
        "https://registry-1.docker.io"]
    assert [e.url for e in config.endpoints(cfg, "registry.test:5443", "registry.test:5443")] == [
        "https://registry.test:5443", "http://registry.test:5443"]
    assert [e.url for e in config.endpoints(cfg, "other.test", "other.test")] == ["https://other.test", "http://other.test"]
    strict = config.endpoints(cfg, "127.0.0.1:6000", "127.0.0.1:6000")
    assert [(e.url, e.verify) for e in strict] == [("https://127.0.0.1:6000", True)]


@pytest.mark.parametrize("doc, field", [
    ([], "registries.json"),
    ({"registries": []}, "registries.json: registries"),
    ({"registries": {"x": {"mirrors": "http://a"}}}, "registries.json: registries['x'].mirrors"),
    ({"registries": {"x": {"mirrors": ["http://a/path"]}}}, "registries.json: registries['x'].mirrors[0]"),
    ({"registries": {"x": {"insecure": "yes"}}}, "registries.json: registries['x'].insecure"),
    ({"insecure-registries": [1]}, "registries.json: insecure-registries"),
])
def test_bad_configuration_names_the_field(doc, field):
    with pytest.raises(InvalidArgument) as exc:
        config.parse(doc)
    assert exc.value.field == field


def test_load_missing_file_is_default(tmp_path):
    assert config.load(str(tmp_path / "none.json"), certs_dirs=()).hosts == {}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InvalidArgument):
        config.load(str(tmp_path / "bad.json"))


def test_certs_d(tmp_path):
    d = tmp_path / "certs.d" / "registry.test:5443"
    d.mkdir(parents=True)
    (d / "ca.crt").write_text("ca")
    (d / "client.cert").write_text("cert")
    (d / "client.key").write_text("key")
    cfg = config.RegistryConfig({}, (str(tmp_path / "certs.d"),))
    tls = config.tls_files(cfg, "registry.test:5443")
    assert tls.ca_files == (str(d / "ca.crt"),)
    assert (tls.client_cert, tls.client_key) == (str(d / "client.cert"), str(d / "client.key"))
    [e] = config.endpoints(cfg, "registry.test:5443", "registry.test:5443")
    assert e.tls == tls
    (d / "client.key").unlink()
    with pytest.raises(InvalidArgument, match="no matching .key"):
        config.tls_files(cfg, "registry.test:5443")
    assert config.tls_files(cfg, "elsewhere") == config.TLSFiles()


def test_credentials_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    path = credentials.default_path()
    assert path == str(tmp_path / "docker" / "config.json")
    assert credentials.lookup("registry.test") is None
    credentials.store("registry.test:5000", "alice", "s3:cret")
    credentials.store("docker.io", "bob", "pw")
    data = json.loads(open(path).read())
    assert base64.b64decode(data["auths"]["registry.test:5000"]["auth"]) == b"alice:s3:cret"
    assert "https://index.docker.io/v1/" in data["auths"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert credentials.lookup("registry.test:5000") == ("alice", "s3:cret")
    assert credentials.lookup("docker.io") == ("bob", "pw")
    credentials.remove("registry.test:5000")
    assert credentials.lookup("registry.test:5000") is None
    with pytest.raises(NotFound):
        credentials.remove("registry.test:5000")


def test_credentials_other_spellings_and_keys_kept(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"proxies": {"default": {}}, "auths": {
        "https://registry.test:5000/v1/": {"auth": base64.b64encode(b"u:p").decode()},
        "plain.test": {"username": "x", "password": "y"}}}))
    assert credentials.lookup("registry.test:5000", str(path)) == ("u", "p")
    assert credentials.lookup("plain.test", str(path)) == ("x", "y")
    credentials.store("registry.test:5000", "v", "q", str(path))
    data = json.loads(path.read_text())
    assert data["proxies"] == {"default": {}} and list(data["auths"]) == ["plain.test", "registry.test:5000"]


def test_credentials_bad_auth_field(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"r.test": {"auth": base64.b64encode(b"nocolon").decode()}}}))
    with pytest.raises(InvalidArgument) as exc:
        credentials.lookup("r.test", str(path))
    assert exc.value.field.endswith("auths['r.test'].auth")


@pytest.fixture
def helper(tmp_path, monkeypatch):
    """A docker-credential-test on PATH; returns the JSON file it keeps the secrets in."""
    env = credential_helper.install(tmp_path / "bin", tmp_path / "keychain.json")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "keychain.json"


def test_credentials_in_a_credential_store(tmp_path, helper):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credsStore": "test"}))
    credentials.store("registry.test:5000", "alice", "s3:cret", str(path))
    assert json.loads(helper.read_text()) == {"registry.test:5000": ["alice", "s3:cret"]}
    assert json.loads(path.read_text())["auths"] == {"registry.test:5000": {}}  # listed, no secret
    assert credentials.lookup("registry.test:5000", str(path)) == ("alice", "s3:cret")
    assert credentials.lookup("other.test", str(path)) is None
    credentials.remove("registry.test:5000", str(path))
    assert json.loads(helper.read_text()) == {} and json.loads(path.read_text())["auths"] == {}
    with pytest.raises(NotFound):
        credentials.remove("registry.test:5000", str(path))


def test_a_registry_helper_comes_before_the_file(tmp_path, helper):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credHelpers": {"registry.test:5000": "test"}, "auths": {
        "registry.test:5000": {"auth": base64.b64encode(b"old:pw").decode()},
        "plain.test": {"auth": base64.b64encode(b"x:y").decode()}}}))
    assert credentials.lookup("registry.test:5000", str(path)) == ("old", "pw")  # the helper has none yet
    credentials.store("registry.test:5000", "new", "pw2", str(path))
    assert list(json.loads(path.read_text())["auths"]) == ["plain.test"]  # the plain-text secret is gone
    assert credentials.lookup("registry.test:5000", str(path)) == ("new", "pw2")
    assert credentials.lookup("plain.test", str(path)) == ("x", "y")  # no helper for it


def test_a_missing_or_failing_helper_is_named(tmp_path, helper):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credHelpers": {"registry.test": "absent"}}))
    with pytest.raises(NotFound, match="docker-credential-absent is not on PATH") as exc:
        credentials.lookup("registry.test", str(path))
    assert exc.value.field.endswith("credHelpers['registry.test']")
    (tmp_path / "bin" / "docker-credential-broken").write_text("#!/bin/sh\necho 'keychain locked' >&2\nexit 3\n")
    (tmp_path / "bin" / "docker-credential-broken").chmod(0o755)
    path.write_text(json.dumps({"credsStore": "broken"}))
    with pytest.raises(InvalidArgument, match="failed to get: keychain locked"):
        credentials.lookup("registry.test", str(path))
