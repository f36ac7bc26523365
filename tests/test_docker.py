"""No Docker engine runs here: the Dockerfile is linted with hadolint, and its install
command is checked to be the README's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from syndicator.config import load_config
from tests.conftest import ROOT, require_tool
from tests.test_readme import readme_commands


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return found if Path(found).exists() else require_tool("hadolint")


def test_hadolint_passes():
    out = subprocess.run([_hadolint(), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_installs_like_the_readme_and_runs_the_daemon():
    dockerfile = (ROOT / "Dockerfile").read_text()
    demo, _ = readme_commands()
    install = demo.split(" && .venv/bin/syndicator", 1)[0]
    assert install == "python3 -m venv .venv && .venv/bin/pip install ."
    runs = [line.removeprefix("RUN ").strip() for line in dockerfile.splitlines() if line.startswith("RUN ")]
    assert install in runs
    assert re.search(r'^USER 10001', dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile and "VOLUME" in dockerfile
    assert 'CMD ["syndicator", "run", "--host", "0.0.0.0"' in dockerfile


def test_container_configuration_loads():
    cfg = load_config(ROOT / "config" / "docker.toml")
    assert cfg.database_url() == "sqlite:////data/syndicator.db"
    assert str(cfg.output_dir) == "/data/public"
    for src in cfg.sources:
        assert (ROOT / "config" / src.url).is_file()


def test_compose_runs_postgres_three_workers_and_a_server():
    """docker-compose.yml (docs/scaling.md): no engine here, so its shape is checked, and its configuration loaded."""
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    worker, server = services["worker"], services["server"]
    assert worker["build"] == "." and worker["command"] == ["syndicator", "worker"]
    assert worker["deploy"]["replicas"] == 3
    assert server["command"][:2] == ["syndicator", "serve"] and server["image"] == worker["image"]
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
    mounts = {m.split(":")[0]: m for m in worker["volumes"]}
    assert mounts["./config/compose.toml"].endswith(":/config/syndicator.toml:ro")
    assert "public:/data/public" in worker["volumes"] and "public:/data/public:ro" in server["volumes"]
    cfg = load_config(ROOT / "config" / "compose.toml")
    assert cfg.database_url().startswith("postgresql+psycopg://")
    assert str(cfg.output_dir) == "/data/public"
    env = services["postgres"]["environment"]
    assert cfg.database_url() == (
        f"postgresql+psycopg://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@postgres:5432/{env['POSTGRES_DB']}"
    )
