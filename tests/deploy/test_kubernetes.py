"""The Kubernetes manifests: valid against the Kubernetes schemas (offline), every env name
known to the service's settings class, probes, limits and non-root on every Deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from services.agent_planner.settings import PlannerSettings
from services.memory.settings import MemorySettings
from services.model_gateway.settings import GatewaySettings
from services.notifier.settings import NotifierSettings
from services.sandbox.settings import SandboxSettings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"
SETTINGS_BY_MODULE: dict[str, type[BaseSettings]] = {
    "services.agent_planner": PlannerSettings,
    "services.memory": MemorySettings,
    "services.model_gateway": GatewaySettings,
    "services.notifier": NotifierSettings,
    "services.sandbox": SandboxSettings,
}


def documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents() if doc["kind"] == kind]


def setting_names(cls: type[BaseSettings]) -> set[str]:
    names = set()
    for name, field in cls.model_fields.items():
        names.add(name)
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
    return names


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return dict(containers[0])


def test_every_manifest_is_valid_against_the_schemas() -> None:
    docs = documents()
    assert {doc["kind"] for doc in docs} >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_deployment() -> None:
    broken = of_kind("Deployment")[0]
    container(broken)["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    present = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(listed) == sorted(present)


def test_every_service_has_a_deployment() -> None:
    modules = {container(d)["command"][-1] for d in of_kind("Deployment")}
    assert modules == set(SETTINGS_BY_MODULE)


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_env_names_exist_in_the_settings_class(deployment: dict[str, Any]) -> None:
    spec = container(deployment)
    known = setting_names(SETTINGS_BY_MODULE[spec["command"][-1]])
    names = [entry["name"] for entry in spec["env"]]
    assert len(names) == len(set(names)), names
    assert [name for name in names if name not in known] == []


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_config_map_references_resolve(deployment: dict[str, Any]) -> None:
    (config,) = of_kind("ConfigMap")
    for entry in container(deployment)["env"]:
        ref = entry.get("valueFrom", {}).get("configMapKeyRef")
        if ref:
            assert ref["name"] == config["metadata"]["name"]
            assert ref["key"] in config["data"], ref["key"]


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_deployment_runs_non_root_with_limits_and_probes(deployment: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    spec = container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False
    assert set(spec["resources"]) == {"requests", "limits"}
    if spec.get("ports"):  # the notifier has no port to probe
        assert "readinessProbe" in spec and "livenessProbe" in spec
        declared = {port["containerPort"] for port in spec["ports"]} | {
            port["name"] for port in spec["ports"]
        }
        for probe in (spec["readinessProbe"], spec["livenessProbe"]):
            (kind,) = [key for key in ("httpGet", "grpc") if key in probe]
            assert probe[kind]["port"] in declared


def test_services_select_their_deployments() -> None:
    labels = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in of_kind("Deployment")
    }
    for service in of_kind("Service"):
        name = service["metadata"]["name"]
        assert service["spec"]["selector"].items() <= labels[name].items()
        target_ports = {port["targetPort"] for port in service["spec"]["ports"]}
        names = {port["name"] for port in container_by_name(name)["ports"]}
        assert target_ports <= names


def container_by_name(name: str) -> dict[str, Any]:
    (deployment,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == name]
    return container(deployment)


def test_planner_has_a_disruption_budget_and_an_autoscaler() -> None:
    (budget,) = of_kind("PodDisruptionBudget")
    (scaler,) = of_kind("HorizontalPodAutoscaler")
    planner = container_by_name("agent-planner")
    assert planner
    assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "agent-planner"
    assert scaler["spec"]["scaleTargetRef"]["name"] == "agent-planner"
    assert scaler["spec"]["minReplicas"] >= 2


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_listening_pods_bind_every_interface_and_get_the_internal_key(
    deployment: dict[str, Any],
) -> None:
    spec = container(deployment)
    if not spec.get("ports"):
        return  # the notifier listens on nothing
    env = {entry["name"]: entry for entry in spec["env"]}
    (config,) = of_kind("ConfigMap")
    bind = env["BIND_HOST"]["valueFrom"]["configMapKeyRef"]["key"]
    assert config["data"][bind] == "0.0.0.0"
    secret = env["INTERNAL_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert (secret["name"], secret["key"]) == ("pagi-secrets", "INTERNAL_API_KEY")
