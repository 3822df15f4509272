"""infra/ cannot be run here (no Docker), so check what can be checked statically: every YAML
parses, Deployments have probes and limits, and every SUISHIN_* variable is one the process reads.
"""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from suishin.contracts.topics import ALL_TOPICS, DEFAULT_PARTITIONS, INDICATOR_REPORTED
from suishin.gateway.settings import GatewaySettings
from suishin.indicators.settings import IndicatorsSettings
from suishin.notifications.settings import NotificationsSettings
from suishin.plans.settings import PlansSettings

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
K8S = INFRA / "k8s"

SETTINGS: dict[str, type[BaseSettings]] = {
    "plans": PlansSettings,
    "indicators": IndicatorsSettings,
    "notifications": NotificationsSettings,
    "gateway": GatewaySettings,
}
PORTS = {"gateway": 4000, "plans": 4001, "indicators": 4002, "notifications": 4003}
SWITCHES = {"SUISHIN_DATABASE_URL", "SUISHIN_KAFKA_BOOTSTRAP"}


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads."""
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif alias is not None:
            names.update(str(choice).upper() for choice in alias.choices)  # type: ignore[union-attr]
        else:
            names.add(f"{prefix}{name}".upper())
    return names


ALL_ENV_NAMES = set().union(*(env_names(s) for s in SETTINGS.values()))


def yaml_files() -> list[Path]:
    return sorted(p for p in INFRA.rglob("*") if p.suffix in {".yaml", ".yml"})


def k8s_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d is not None]
    return docs


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in k8s_documents() if d["kind"] == kind]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((INFRA / "compose.yaml").read_text("utf-8"))
    return document


# --- every file -------------------------------------------------------------------------------


def test_infra_has_the_expected_files() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in yaml_files()}
    assert {"compose.yaml", "k8s/kustomization.yaml"} <= names
    assert (INFRA / "Dockerfile").is_file()
    assert (INFRA / "README.md").is_file()


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_yaml_parses(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d is not None]
    assert documents, f"{path} is empty"
    for document in documents:
        assert isinstance(document, dict)


def test_env_name_helper_follows_aliases() -> None:
    assert "SUISHIN_PLANS_PORT" in env_names(PlansSettings)
    assert "SUISHIN_PORT" not in env_names(PlansSettings)
    assert {"SUISHIN_HOST", *SWITCHES} <= env_names(PlansSettings)
    assert "SUISHIN_PLANS_URL" in env_names(GatewaySettings)


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_builds_from_the_lock_and_copies_existing_paths() -> None:
    text = (INFRA / "Dockerfile").read_text("utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert "uv sync --locked --all-packages" in text
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE):
        for source in sources.split():
            assert (REPO / source).exists(), f"COPY {source}: no such path"


# --- compose ----------------------------------------------------------------------------------


def test_compose_runs_real_kafka_in_kraft_mode_reachable_from_the_host(
    compose: dict[str, Any],
) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "127.0.0.1:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "127.0.0.1:9092:9092" in kafka["ports"]
    assert int(env["KAFKA_NUM_PARTITIONS"]) == DEFAULT_PARTITIONS
    assert "healthcheck" in kafka


def test_compose_runs_postgres_17(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].split(":")[1].startswith("17")
    assert "healthcheck" in postgres


@pytest.mark.parametrize("process", list(SETTINGS))
def test_compose_suishin_process(compose: dict[str, Any], process: str) -> None:
    service = compose["services"][process]
    assert service["command"] == ["python", "-m", f"suishin.{process}"]
    assert service["build"]["dockerfile"] == "infra/Dockerfile"
    assert (INFRA / service["build"]["context"] / service["build"]["dockerfile"]).is_file()

    env = service["environment"]
    unknown = set(env) - env_names(SETTINGS[process])
    assert not unknown, f"{process} does not read {sorted(unknown)}"
    assert set(env) >= SWITCHES
    assert env["SUISHIN_HOST"] == "0.0.0.0"

    port = PORTS[process]
    port_env = "SUISHIN_GATEWAY_PORT" if process == "gateway" else f"SUISHIN_{process.upper()}_PORT"
    assert env[port_env] == str(port)
    assert any(str(mapping).endswith(f":{port}") for mapping in service["ports"])
    healthcheck = " ".join(service["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in healthcheck


def test_compose_subgraphs_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    for process in ("plans", "indicators", "notifications"):
        for mapping in compose["services"][process]["ports"]:
            assert str(mapping).startswith("127.0.0.1:"), (process, mapping)


def test_compose_gateway_points_at_the_subgraph_services(compose: dict[str, Any]) -> None:
    env = compose["services"]["gateway"]["environment"]
    for process in ("plans", "indicators", "notifications"):
        assert env[f"SUISHIN_{process.upper()}_URL"] == (
            f"http://{process}:{PORTS[process]}/graphql"
        )


def test_compose_dependencies_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)


# --- Kubernetes -------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text("utf-8"))
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_k8s_documents_are_namespaced_resources() -> None:
    for document in k8s_documents():
        assert document.get("apiVersion"), document
        assert document["metadata"].get("name"), document
        if document["kind"] != "Namespace":
            assert document["metadata"].get("namespace") == "suishin", document["metadata"]


def test_one_deployment_and_cluster_ip_service_per_process() -> None:
    deployments = {d["metadata"]["name"] for d in of_kind("Deployment")}
    services = {s["metadata"]["name"]: s for s in of_kind("Service")}
    assert deployments == set(SETTINGS)
    assert set(services) == set(SETTINGS)
    for service in services.values():
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
        assert service["spec"]["ports"][0]["port"] == PORTS[service["metadata"]["name"]]


@pytest.mark.parametrize("process", list(SETTINGS))
def test_deployment_has_probes_and_resources(process: str) -> None:
    (deployment,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == process]
    template = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()

    (container,) = template["spec"]["containers"]
    assert container["args"] == ["python", "-m", f"suishin.{process}"]
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port_names == {"http": PORTS[process]}

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names

    resources = container["resources"]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[bound]), (process, bound)

    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    unknown = set(env) - env_names(SETTINGS[process])
    assert not unknown, f"{process} does not read {sorted(unknown)}"
    refs = {
        source.get("configMapRef", source.get("secretRef", {})).get("name")
        for source in container["envFrom"]
    }
    assert refs == {"suishin-config", "suishin-secrets"}


def test_config_and_secret_hold_known_variables_including_the_two_switches() -> None:
    (config,) = of_kind("ConfigMap")
    (secret,) = [s for s in of_kind("Secret") if s["metadata"]["name"] == "suishin-secrets"]
    keys = set(config["data"]) | set(secret["stringData"])
    assert not keys - ALL_ENV_NAMES, sorted(keys - ALL_ENV_NAMES)
    assert keys >= SWITCHES
    assert {"SUISHIN_JWT_ISSUER", "SUISHIN_JWT_AUDIENCE", "SUISHIN_JWT_JWKS_URL"} <= keys
    assert "SUISHIN_DATABASE_URL" in secret["stringData"]  # it carries a password
    assert config["data"]["SUISHIN_HOST"] == "0.0.0.0"


def test_gateway_reaches_subgraphs_by_service_name() -> None:
    (gateway,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == "gateway"]
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    for process in ("plans", "indicators", "notifications"):
        assert env[f"SUISHIN_{process.upper()}_URL"].startswith(
            f"http://{process}.suishin.svc.cluster.local:{PORTS[process]}/"
        )


def test_only_the_gateway_is_exposed_by_ingress() -> None:
    backends = {
        path["backend"]["service"]["name"]
        for ingress in of_kind("Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"gateway"}


def test_indicators_autoscaling_stays_within_the_partition_count() -> None:
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "indicators",
    }
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= DEFAULT_PARTITIONS


# --- Kafka principals and ACLs ----------------------------------------------------------------


def compose_acls() -> set[tuple[str, str, str, str]]:
    """(principal, operation, resource type, name) from kafka/acls.sh's ``acl`` lines, with its
    Describe loop expanded."""
    text = (INFRA / "kafka" / "acls.sh").read_text("utf-8")
    topics = re.search(r'^TOPICS="([^"]+)"', text, re.MULTILINE)
    assert topics is not None
    rules = set()
    for service in ("plans", "indicators", "notifications", "gateway"):
        for topic in topics.group(1).split():
            rules |= {
                (service, "Describe", "topic", topic),
                (service, "Describe", "topic", f"{topic}.dlq"),
            }
    for principal, operation, kind, name in re.findall(
        r"^acl (\S+) (\w+) --(topic|group) (\S+)$", text, re.MULTILINE
    ):
        rules.add((principal, operation, kind, name))
    return rules


def strimzi_acls() -> set[tuple[str, str, str, str]]:
    path = K8S / "kafka" / "users.yaml"
    rules = set()
    for document in yaml.safe_load_all(path.read_text("utf-8")):
        if document["kind"] != "KafkaUser":
            continue
        assert document["spec"]["authentication"]["type"] == "scram-sha-512"
        for acl in document["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            for operation in acl["operations"]:
                rules.add(
                    (document["metadata"]["name"], operation, resource["type"], resource["name"])
                )
    return rules


def test_compose_and_kubernetes_declare_the_same_kafka_acls() -> None:
    assert compose_acls() == strimzi_acls()


def test_only_services_write_internal_topics_and_external_producers_only_reports() -> None:
    rules = strimzi_acls()
    writes = {(p, name) for p, op, kind, name in rules if op == "Write"}
    assert {name for p, name in writes if p == "external-producer"} == {INDICATOR_REPORTED}
    assert {p for p, op, _, _ in rules if p == "external-producer" and op != "Write"} == set()
    for topic in ALL_TOPICS:
        writers = {p for p, name in writes if name == topic}
        if topic == INDICATOR_REPORTED:
            assert writers == {"external-producer"}
        else:
            assert len(writers) == 1 and writers != {"external-producer"}, (topic, writers)
    # Every service principal is set on its Deployment and reads its password from a Secret.
    for process in SETTINGS:
        (deployment,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == process]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["SUISHIN_KAFKA_USERNAME"]["value"] == process
        assert env["SUISHIN_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == process
        assert any(p == process for p, _, _, _ in rules)
