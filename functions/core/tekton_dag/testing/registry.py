"""A real OCI registry for tests: Debian's ``docker-registry`` (Distribution 2.8) on a loopback port.

Not a double: the registry is the real one. ``TokenServer`` stands in for a registry's token
service (Distribution's token authentication), which the real registry then trusts.

``start_registry(tmp_path, auth=...)`` writes a config.yml (filesystem storage under ``tmp_path``,
``http.addr`` on a free loopback port), runs ``docker-registry serve`` and waits until ``/v2/``
answers. ``auth`` is ``None`` (anonymous), ``"basic"`` (a real htpasswd file, bcrypt) or
``"token"`` (Distribution's own ``auth.token`` verifying JWTs from ``TokenServer`` below, a loopback
token server that signs with an RSA key whose self-signed certificate the registry trusts).

Images are pushed through the Registry HTTP API, no Docker: a config blob and a layer blob via
``POST``/``PUT`` uploads, then a ``PUT`` of an OCI (or Docker v2) manifest.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from tekton_dag.testing.serving import free_port

USERNAME = "tester"
PASSWORD = "registry-test-password"
# bcrypt of PASSWORD (cost 4): Distribution's htpasswd accepts bcrypt only, and the stdlib has no
# bcrypt; made once with `bcrypt.hashpw(PASSWORD, bcrypt.gensalt(rounds=4))`.
PASSWORD_BCRYPT = "$2b$04$Q91mfLbX9WNrboPFzpWjXOwyy9T59wNA7gD9gYzd5ILE3woFKndl6"
SERVICE = "tekton-dag-test-registry"
ISSUER = "tekton-dag-test-token-server"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
_BLOB_TYPES = {
    OCI_MANIFEST: ("application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"),
    DOCKER_MANIFEST: (
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ),
}


def registry_binary() -> str:
    """The docker-registry binary; fails clearly when absent (``scripts/install-tools`` installs it)."""
    found = shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
    )
    if not found:
        raise RuntimeError("docker-registry not found: run scripts/install-tools (Debian package docker-registry)")
    return found


def unreachable_host() -> str:
    """A loopback ``host:port`` nobody listens on: a registry that is down (connection refused)."""
    return f"127.0.0.1:{free_port()}"


@dataclass
class Registry:
    host: str  # "127.0.0.1:PORT": what a team's imageRegistry names
    process: subprocess.Popen[bytes]
    auth: str | None = None
    token_server: TokenServer | None = None
    pushed: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def push_image(self, repository: str, tag: str, manifest_type: str = OCI_MANIFEST) -> str:
        """Push a tiny image as ``repository:tag``; returns the manifest digest."""
        return self.push_images([repository], tag, manifest_type)[0]

    def push_images(self, repositories: list[str], tag: str, manifest_type: str = OCI_MANIFEST) -> list[str]:
        """Push one tiny image per repository, all as ``tag``, over one connection."""
        with httpx.Client(base_url=self.url, timeout=10) as client:
            return [self._push(client, repository, tag, manifest_type) for repository in repositories]

    def _push(self, client: httpx.Client, repository: str, tag: str, manifest_type: str) -> str:
        config_type, layer_type = _BLOB_TYPES[manifest_type]
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        ).encode()
        layer = f"layer of {repository}".encode()
        headers = self._auth_headers(repository)
        blobs = [self._upload(client, repository, blob, headers) for blob in (config, layer)]
        manifest = {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": blobs[0], "size": len(config)},
            "layers": [{"mediaType": layer_type, "digest": blobs[1], "size": len(layer)}],
        }
        body = json.dumps(manifest).encode()
        response = client.put(f"/v2/{repository}/manifests/{tag}", content=body,
                              headers={**headers, "Content-Type": manifest_type})
        response.raise_for_status()
        self.pushed.append(f"{repository}:{tag}")
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def _upload(self, client: httpx.Client, repository: str, blob: bytes, headers: dict[str, str]) -> str:
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        started = client.post(f"/v2/{repository}/blobs/uploads/", headers=headers)
        if started.status_code != 202:
            raise RuntimeError(f"upload start for {repository} answered {started.status_code}: {started.text}")
        # The Location carries the upload's state in its query: add the digest, keep the rest.
        location = httpx.URL(started.headers["location"]).copy_merge_params({"digest": digest})
        finished = client.put(location, content=blob,
                              headers={**headers, "Content-Type": "application/octet-stream"})
        if finished.status_code != 201:
            raise RuntimeError(f"upload of {digest} answered {finished.status_code}: {finished.text}")
        return digest

    def _auth_headers(self, repository: str) -> dict[str, str]:
        if self.auth == "basic":
            return {"Authorization": "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()}
        if self.auth == "token" and self.token_server is not None:
            token = self.token_server.issue(f"repository:{repository}:pull,push")
            return {"Authorization": f"Bearer {token}"}
        return {}

    def docker_config(self) -> str:
        """A docker config.json granting this registry's test credentials."""
        auth = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        return json.dumps({"auths": {self.host: {"auth": auth}}})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.token_server is not None:
            self.token_server.stop()


def start_registry(directory: Path, auth: str | None = None) -> Registry:
    """Start docker-registry with its storage and config under ``directory``; ready on return."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex},
    }
    token_server = None
    if auth == "basic":
        htpasswd = directory / "htpasswd"
        htpasswd.write_text(f"{USERNAME}:{PASSWORD_BCRYPT}\n")
        config["auth"] = {"htpasswd": {"realm": SERVICE, "path": str(htpasswd)}}
    elif auth == "token":
        token_server = TokenServer(directory)
        config["auth"] = {"token": {
            "realm": token_server.realm, "service": SERVICE, "issuer": ISSUER,
            "rootcertbundle": str(token_server.certificate_path),
        }}
    elif auth is not None:
        raise ValueError(f"auth must be None, 'basic' or 'token', not {auth!r}")
    config_path = directory / "config.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    with (directory / "registry.log").open("wb") as log:  # the child keeps its own copy of the file
        process = subprocess.Popen([registry_binary(), "serve", str(config_path)], stdout=log,
                                   stderr=subprocess.STDOUT)
    registry = Registry(f"127.0.0.1:{port}", process, auth, token_server)
    try:
        _wait_until_up(registry, directory / "registry.log")
    except BaseException:
        registry.stop()
        raise
    return registry


def _wait_until_up(registry: Registry, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(f"docker-registry exited ({registry.process.returncode}): {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{registry.url}/v2/", timeout=1).status_code in (200, 401):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer /v2/ within {timeout}s: {log.read_text()[-2000:]}")


class TokenServer:
    """Distribution's token protocol on loopback: ``GET /token?service=…&scope=…`` -> a signed JWT.

    Requests without valid basic credentials for ``USERNAME``/``PASSWORD`` get 401 unless
    ``anonymous`` is set. Granted access is what the scope asks (a test server, not a policy).
    Each token's header carries the signing certificate (``x5c``), which the registry verifies
    against ``rootcertbundle``.
    """

    def __init__(self, directory: Path, anonymous: bool = False) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.anonymous = anonymous
        self.requests: list[dict[str, Any]] = []
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.certificate_path = directory / "token-cert.pem"
        self.certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.realm = f"http://127.0.0.1:{self._server.server_address[1]}/token"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def issue(self, scope: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": USERNAME, "aud": SERVICE, "iat": now, "nbf": now - 5, "exp": now + 300,
            "jti": uuid.uuid4().hex, "access": _access(scope),
        }
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self._x5c]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                url = urlparse(self.path)
                query = parse_qs(url.query)
                authorized = self.headers.get("Authorization") == "Basic " + base64.b64encode(
                    f"{USERNAME}:{PASSWORD}".encode()).decode()
                server.requests.append({"path": url.path, "query": query, "authorized": authorized})
                if url.path != "/token":
                    return self._answer(404, {"error": "not found"})
                if not (authorized or server.anonymous):
                    return self._answer(401, {"error": "credentials required"})
                token = server.issue(" ".join(query.get("scope", [])))
                self._answer(200, {"token": token, "access_token": token, "expires_in": 300})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        return Handler

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _access(scope: str) -> list[dict[str, Any]]:
    """``repository:a/b:pull,push repository:c:pull`` -> the JWT ``access`` claim."""
    access = []
    for item in scope.split():
        kind, _, rest = item.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind and name:
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
    return access


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
