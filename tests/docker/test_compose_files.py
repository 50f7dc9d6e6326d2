"""docker-compose.yml, its host-network variant and the Dockerfiles' requirements (no engine)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"ingest", "etl", "training", "api", "front", "mlflow", "mosquitto"}

yaml = pytest.importorskip("yaml")


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "docker" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_has_the_five_services_mlflow_and_shared_volumes(config: dict) -> None:
    services = config["services"]
    assert set(services) == SERVICES
    for name in SERVICES - {"mlflow"}:
        assert services[name]["build"]["dockerfile"] == f"docker/Dockerfile.{name}".replace(
            "Dockerfile.mlflow", "Dockerfile.training"
        )
        assert (REPO / services[name]["build"]["dockerfile"]).exists()
        assert services[name]["build"]["args"]["BASE_IMAGE"].startswith("${BASE_IMAGE:-python:")
    mounts = {v.split(":/data/")[1].split(":")[0] for s in services.values() for v in s["volumes"]}
    assert {"raw", "processed", "models", "mlflow"} <= mounts
    for service in services.values():  # published on loopback only
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


def test_host_variant_drops_ports_and_uses_loopback(config: dict, tmp_path: Path) -> None:
    host = _module("host_compose").host_variant(config, tmp_path)
    assert not any(k.startswith("x-") for k in host)
    for name, service in host["services"].items():
        assert service["network_mode"] == "host"
        assert "ports" not in service
        assert service["environment"]["INFOTRAFIC_BIND"] == "127.0.0.1"
        assert service["environment"]["INFOTRAFIC_MLFLOW_URI"].startswith("http://127.0.0.1:")
        assert service["build"]["context"] == str(tmp_path)
        assert all(f"{tmp_path}/data" in v for v in service["volumes"]), name
    assert "ports" in config["services"]["api"]  # the input is left alone


def test_requirements_split_core_and_extras() -> None:
    req = _module("requirements")
    core = req.requirements(REPO / "pyproject.toml", [])
    assert any(r.startswith("pandas") for r in core)
    api = req.requirements(REPO / "pyproject.toml", ["api"])
    assert any(r.startswith("fastapi") for r in api) and not set(api) & set(core)
    everything = req.requirements(REPO / "pyproject.toml", ["all"])  # self-references expanded
    assert not any(r.startswith("infotrafic") for r in everything)
    assert any(r.startswith("streamlit") for r in everything)
    with pytest.raises(SystemExit, match="unknown extra"):
        req.requirements(REPO / "pyproject.toml", ["nope"])
