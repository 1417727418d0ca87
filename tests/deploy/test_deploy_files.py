"""The deploy files would run: each is checked by a real tool, then for what makes it start.

* Compose: Debian's ``docker-compose config`` validates and renders the file (no daemon
  needed); the gateway then reaches the Postgres it starts and gets the trunk passwords,
  and the rendered environment loads as settings.
* Kubernetes: ``kubernetes-validate`` (bundled API schemas, offline) in strict mode; the
  pod runs as the image's numeric non-root user, its probes fit their timeouts, secrets
  come from Secrets, the gateway listens on the pod's address, not loopback.
* systemd: ``systemd-analyze verify`` is clean and ``systemd-analyze security`` rates the
  unit's exposure below EXPOSURE_MAX (the scale runs 0 safe .. 10 exposed; 2.0 is the top
  of systemd's "OK" band; the unit as first shipped scored 8.5).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from carrier.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
EXPOSURE_MAX = 2.0
SECRET_NAMES = re.compile(r"KEK|PASSWORD|SECRET|DATABASE_URL|TOKEN", re.IGNORECASE)


def _trunk_password_vars() -> set[str]:
    doc = yaml.safe_load((REPO / "config" / "trunk.example.yaml").read_text())
    return {t["password_env"] for t in doc["trunks"] if t.get("password_env")}


# --------------------------------------------------------------------------- Compose


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose (Debian package docker-compose) is not installed")
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    env_file.write_text(
        "PG_PASSWORD=synthetic-pg-password\nCARRIER_KEK=" + "A" * 43 + "=\n"
        "SIP_ADDRESS=192.0.2.10\nCARRIER_TRUNK_EAST_PASSWORD=east-secret\n"
        "CARRIER_TRUNK_WEST_PASSWORD=west-secret\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(env_file.parent)}
    done = subprocess.run(
        [tool, "-f", str(DEPLOY / "container" / "compose.yaml"), "--env-file", str(env_file),
         "config"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    rendered: dict[str, Any] = yaml.safe_load(done.stdout)
    return rendered


def test_compose_gateway_reaches_its_postgres(compose: dict[str, Any]) -> None:
    gateway, postgres = compose["services"]["gateway"], compose["services"]["postgres"]
    url = gateway["environment"]["CARRIER_DATABASE_URL"]
    m = re.fullmatch(r"postgresql://(\w+):([^@]+)@([\w.]+):(\d+)/(\w+)", url)
    assert m, url
    user, password, host, port, db = m.groups()
    pg_env = postgres["environment"]
    assert (user, password, db) == (
        pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], pg_env["POSTGRES_DB"])
    if gateway.get("network_mode") == "host":
        # On the host's network the gateway sees only what Postgres publishes there.
        published = {(p.split(":")[0], p.split(":")[1]) for p in
                     (str(x).removesuffix("/tcp") for x in postgres.get("ports", []))}
        assert (host, port) in published, (host, port, postgres.get("ports"))
    else:
        assert host == "postgres"
        assert port == "5432"
    # The gateway works as carrier_app with the URL's password: the init script creates it.
    init = [v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert init, postgres["volumes"]
    script = DEPLOY / "container" / "initdb" / "10-carrier-app-role.sh"
    assert "CREATE ROLE carrier_app LOGIN PASSWORD :'pw'" in script.read_text()
    assert '--set pw="$POSTGRES_PASSWORD"' in script.read_text()
    subprocess.run(["sh", "-n", str(script)], check=True, timeout=30)
    # The gateway starts once the database accepts connections, not merely once started.
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_compose_passes_trunk_secrets_and_settings_load(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    env = compose["services"]["gateway"]["environment"]
    assert env["CARRIER_TRUNK_EAST_PASSWORD"] == "east-secret"
    assert env["CARRIER_TRUNK_WEST_PASSWORD"] == "west-secret"
    assert _trunk_password_vars() <= set(env)
    assert env["CARRIER_SIP__BIND_HOST"] == "192.0.2.10"  # not loopback: trunks reach it
    # The rendered environment, with the example trunks (and the dialer sent through one
    # of them, as README "Production" says), is accepted by the settings.
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    shutil.copy(config / "trunk.example.yaml", config / "trunks.yaml")
    env_vars = {k: str(v) for k, v in env.items()} | {"CARRIER_DIALER__TRUNK": "carrier-east"}
    settings = load_settings(config, env=env_vars)
    assert settings.database.url == env["CARRIER_DATABASE_URL"]
    assert settings.sip.bind_host == "192.0.2.10"


# --------------------------------------------------------------------------- Kubernetes


def _k8s_docs() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _gateway_pod() -> tuple[dict[str, Any], dict[str, Any]]:
    (sts,) = [d for d in _k8s_docs() if d["kind"] == "StatefulSet"]
    pod = sts["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "gateway"]
    return pod, container


def test_kubernetes_manifests_pass_schema_validation() -> None:
    tool = shutil.which("kubernetes-validate") or str(
        Path(sys.executable).with_name("kubernetes-validate"))
    if not Path(tool).exists():
        pytest.skip("kubernetes-validate (PyPI, in the test extras) is not installed")
    files = sorted(str(p) for p in (DEPLOY / "kubernetes").glob("*.yaml"))
    done = subprocess.run([tool, "--strict", *files], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") == len(_k8s_docs()), done.stdout


def test_kubernetes_pod_runs_as_the_images_numeric_non_root_user() -> None:
    pod, container = _gateway_pod()
    ctx = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    assert ctx["runAsNonRoot"] is True
    uid = ctx["runAsUser"]
    assert isinstance(uid, int)
    assert uid > 0
    # The image's USER is the same number (runAsNonRoot cannot check a user name).
    user_lines = [line.split()[1] for line in
                  (DEPLOY / "container" / "Containerfile").read_text().splitlines()
                  if line.startswith("USER ")]
    assert user_lines == [f"{uid}:{ctx['runAsGroup']}"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    if container["securityContext"].get("readOnlyRootFilesystem"):
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/tmp", "/var/lib/carrier"} <= mounts  # what the process writes


def test_compose_and_kubernetes_keep_the_images_init(compose: dict[str, Any]) -> None:
    # The image's ENTRYPOINT is an init running carrier (tests/deploy/test_init_process.py);
    # an `entrypoint:` or `command:` here would make carrier PID 1 again, reaping nothing.
    assert "entrypoint" not in compose["services"]["gateway"]
    _, container = _gateway_pod()
    assert "command" not in container
    assert container["args"] == ["serve"]


def test_kubernetes_probes_fit_their_timeouts() -> None:
    _, container = _gateway_pod()
    for name in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container[name]
        command = probe["exec"]["command"]
        assert command[:2] == ["/opt/carrier/.venv/bin/carrier", "health"], command
        wait = float(command[command.index("--timeout") + 1])
        timeout = probe.get("timeoutSeconds", 1)  # Kubernetes' default is 1 s
        # Python's start-up and the settings load come on top of the SIP wait.
        assert timeout >= wait + 3, (name, timeout, wait)
        assert probe.get("periodSeconds", 10) >= timeout, name
    startup = container["startupProbe"]
    # The first start assembles the speech model: allow it three minutes at least.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 180


def test_kubernetes_secrets_come_from_secrets_and_gateway_is_not_on_loopback() -> None:
    pod, container = _gateway_pod()
    env = {e["name"]: e for e in container.get("env", [])}
    for name, entry in env.items():
        if SECRET_NAMES.search(name):
            assert "secretKeyRef" in entry.get("valueFrom", {}), name
            assert "value" not in entry, name
    assert {"CARRIER_KEK", "CARRIER_DATABASE_URL"} <= set(env)
    assert any("secretRef" in src for src in container.get("envFrom", []))
    bind = env["CARRIER_SIP__BIND_HOST"]
    assert bind["valueFrom"]["fieldRef"]["fieldPath"] in ("status.podIP", "status.hostIP")
    assert pod["hostNetwork"] is True


def test_kubernetes_example_settings_load(tmp_path: Path) -> None:
    """The ConfigMap's files, mounted over the image's /etc/carrier, load as settings."""
    (cm,) = [d for d in _k8s_docs() if d["kind"] == "ConfigMap"]
    config = tmp_path / "etc-carrier"
    shutil.copytree(REPO / "config", config)
    for name, text in cm["data"].items():
        (config / name).write_text(text)
    env = {"CARRIER_SIP__BIND_HOST": "192.0.2.11",
           "CARRIER_DATABASE_URL": "postgresql://carrier:x@db.internal:5432/carrier",
           "CARRIER_DATABASE__REGION": "us-east"}
    settings = load_settings(config, env=env)
    assert settings.sip.bind_host == "192.0.2.11"


# --------------------------------------------------------------------------- systemd


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: package systemd)")
    # verify checks that the programs exist: point them at this environment's `carrier`.
    carrier = Path(sys.executable).with_name("carrier")
    text = (DEPLOY / "systemd" / "carrier.service").read_text()
    assert "/opt/carrier/.venv/bin/carrier " in text
    path = tmp_path / "carrier.service"
    path.write_text(text.replace("/opt/carrier/.venv/bin/carrier", str(carrier)))
    return path


def test_systemd_unit_verifies_clean(unit: Path) -> None:
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], cwd=unit.parent,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    noise = [line for line in done.stderr.splitlines() if unit.name in line]
    assert not noise, done.stderr


def test_systemd_unit_exposure_is_low(unit: Path) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager",
         f"--threshold={int(EXPOSURE_MAX * 10)}", str(unit)],
        cwd=unit.parent, capture_output=True, text=True, timeout=120, check=False,
    )
    out = done.stdout + done.stderr
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", out)
    assert m, out
    assert float(m.group(1)) < EXPOSURE_MAX, out
    assert done.returncode == 0, out  # --threshold: the tool's own verdict agrees


@pytest.mark.postgres
def test_compose_init_script_creates_the_app_role_with_the_password(make_cluster: Any) -> None:
    """The postgres image runs initdb/*.sh once on a fresh cluster; so does this test."""
    from urllib.parse import parse_qs, urlsplit  # noqa: PLC0415

    from carrier.records.embedded import BIN_DIR  # noqa: PLC0415

    server = make_cluster()
    url = urlsplit(server.uri())
    env = {"PATH": f"{BIN_DIR}:/usr/bin:/bin", "PGHOST": parse_qs(url.query)["host"][0],
           "POSTGRES_USER": url.username or "postgres", "POSTGRES_DB": "postgres",
           "POSTGRES_PASSWORD": "synthetic 'quoted' password"}
    script = DEPLOY / "container" / "initdb" / "10-carrier-app-role.sh"
    done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    check = subprocess.run(
        [str(BIN_DIR / "psql"), "-At", "-d", server.uri(), "-c",
         "SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid"
         " WHERE rolname = 'carrier_app'"],
        capture_output=True, text=True, timeout=60, check=True)
    assert check.stdout.strip() == "t|t"
