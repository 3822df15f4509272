"""Render the kustomizations under infra/k8s and validate every object they produce.

CI has neither kustomize nor kubeconform, so this does what the manifests need of both:

* **render**: a kustomization's ``resources`` (files and directories), ``namespace``, ``images``
  and ``patches`` written as JSON 6902 operations with a ``target`` (kind, name, optionally
  group, version, namespace) — the subset of kustomize the overlays use, with kustomize's
  meaning. Anything else (strategic-merge patches, generators, labels, ...) is refused rather
  than silently ignored, so an overlay can never render differently here than with
  ``kubectl apply -k``.
* **validate**: Kubernetes' own kinds against the API's JSON schemas in strict mode (unknown
  fields are errors), shipped offline by the ``kubernetes-validate`` package; the custom
  resources of Strimzi (``kafka.strimzi.io/v1beta2``) and KEDA (``keda.sh/v1alpha1``) against
  the structural schemas in ``k8s_crd_schemas.yaml`` beside this file. A kind with no schema is
  an error.

    python tools/k8s_manifests.py render infra/k8s/overlays/prod   # the YAML kubectl would apply
    python tools/k8s_manifests.py check infra/k8s/overlays/*       # exit 1 on any problem
"""

from __future__ import annotations

import copy
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonpatch
import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.31"  # the oldest Kubernetes the manifests must run on
CRD_SCHEMAS = Path(__file__).with_name("k8s_crd_schemas.yaml")
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
TARGET_KEYS = {"kind", "name", "namespace", "group", "version"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "ClusterTriggerAuthentication",
}
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")

Manifest = dict[str, Any]


class KustomizationError(ValueError):
    """A kustomization this renderer cannot render as kustomize would."""


# --- render -----------------------------------------------------------------------------------


def load_documents(path: Path) -> list[Manifest]:
    documents = [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d is not None]
    for document in documents:
        if not isinstance(document, dict):
            raise KustomizationError(f"{path}: a document is not a mapping")
    return documents


def render(directory: Path) -> list[Manifest]:
    """The objects ``kubectl apply -k directory`` would apply, in kustomize's order of
    resources."""
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise KustomizationError(f"{directory}: no kustomization.yaml")
    kustomization = yaml.safe_load(path.read_text("utf-8")) or {}
    unsupported = set(kustomization) - KUSTOMIZATION_KEYS
    if unsupported:
        raise KustomizationError(f"{path}: unsupported fields {sorted(unsupported)}")

    objects: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        resource = (directory / entry).resolve()
        if resource.is_dir():
            objects += render(resource)
        elif resource.is_file():
            objects += load_documents(resource)
        else:
            raise KustomizationError(f"{path}: resource {entry} does not exist")
    objects = copy.deepcopy(objects)

    for patch in kustomization.get("patches", []):
        apply_patch(objects, patch, directory)
    if "namespace" in kustomization:
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        set_image(objects, image)

    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        metadata = obj.get("metadata", {})
        key = (obj.get("apiVersion", ""), obj.get("kind", ""), metadata.get("namespace", ""),
               metadata.get("name", ""))  # fmt: skip
        if key in seen:
            raise KustomizationError(f"{path}: {key} is defined twice")
        seen.add(key)
    return objects


def _matches(obj: Manifest, target: dict[str, str]) -> bool:
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    metadata = obj.get("metadata", {})
    return (
        target.get("kind", obj.get("kind")) == obj.get("kind")
        and target.get("name", metadata.get("name")) == metadata.get("name")
        and target.get("namespace", metadata.get("namespace")) == metadata.get("namespace")
        and target.get("group", group) == group
        and target.get("version", version) == version
    )


def apply_patch(objects: list[Manifest], patch: dict[str, Any], directory: Path) -> None:
    target = patch.get("target")
    if not isinstance(target, dict) or set(target) - TARGET_KEYS or not target:
        raise KustomizationError(
            f"{directory}: a patch needs a target of {sorted(TARGET_KEYS)}, got {target!r}"
        )
    if "path" in patch:
        text = (directory / patch["path"]).read_text("utf-8")
    elif "patch" in patch:
        text = patch["patch"]
    else:
        raise KustomizationError(f"{directory}: a patch needs `path` or `patch`")
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise KustomizationError(
            f"{directory}: only JSON 6902 patches (a list of operations) are supported"
        )
    matched = [i for i, obj in enumerate(objects) if _matches(obj, target)]
    if not matched:
        raise KustomizationError(f"{directory}: patch target {target} matches no object")
    for index in matched:
        try:
            objects[index] = jsonpatch.apply_patch(objects[index], operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise KustomizationError(f"{directory}: patch on {target}: {exc}") from exc


def image_name(image: str) -> str:
    """``registry/name:tag@digest`` without tag and digest."""
    name = image.split("@", 1)[0]
    head, sep, tail = name.rpartition(":")
    return head if sep and "/" not in tail else name


def _containers(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"containers", "initContainers"} and isinstance(value, list):
                found += [c for c in value if isinstance(c, dict)]
            else:
                found += _containers(value)
    elif isinstance(node, list):
        for item in node:
            found += _containers(item)
    return found


def set_image(objects: list[Manifest], image: dict[str, str]) -> None:
    """kustomize ``images:``: containers whose image name is ``name`` get ``newName``,
    ``newTag`` or ``digest``."""
    for obj in objects:
        for container in _containers(obj.get("spec", {})):
            current = container.get("image", "")
            if image_name(current) != image["name"]:
                continue
            name = image.get("newName", image["name"])
            if "digest" in image:
                container["image"] = f"{name}@{image['digest']}"
            elif "newTag" in image:
                container["image"] = f"{name}:{image['newTag']}"
            else:
                container["image"] = name + current[len(image_name(current)) :]


# --- validate ---------------------------------------------------------------------------------


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → JSON schema; the file's first document holds the shared ``$defs``."""
    shared, *documents = yaml.safe_load_all(CRD_SCHEMAS.read_text("utf-8"))
    schemas = {}
    for document in documents:
        schema = {**document["schema"], "$defs": shared["definitions"]}
        jsonschema.Draft202012Validator.check_schema(schema)
        schemas[(document["apiVersion"], document["kind"])] = schema
    return schemas


def problems(obj: Manifest, version: str = KUBERNETES_VERSION) -> list[str]:
    """What is wrong with one object (empty: valid)."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    name = obj.get("metadata", {}).get("name", "")
    label = f"{kind} {name or '?'}"
    if not kind or not api_version:
        return [f"{label}: apiVersion and kind are required"]
    found = []
    if not DNS_1123.match(name) or len(name) > 253:
        found.append(f"{label}: metadata.name {name!r} is not a DNS-1123 name")
    schema = crd_schemas().get((api_version, kind))
    try:
        if schema is not None:
            jsonschema.Draft202012Validator(schema).validate(obj)
        else:
            kubernetes_validate.validate(obj, version, strict=True)
    except jsonschema.ValidationError as exc:
        path = ".".join(str(p) for p in exc.absolute_path)
        found.append(f"{label}: {path or '<root>'}: {exc.message}")
    except kubernetes_validate.SchemaNotFoundError:
        found.append(f"{label}: no schema for {api_version} {kind}")
    return found


def check(directories: list[Path], version: str = KUBERNETES_VERSION) -> list[str]:
    out = []
    for directory in directories:
        try:
            objects = render(directory)
        except (KustomizationError, OSError, yaml.YAMLError) as exc:
            out.append(f"{directory}: {exc}")
            continue
        out += [f"{directory}: {p}" for obj in objects for p in problems(obj, version)]
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in {"render", "check"}:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "render":
        (directory,) = argv[1:]
        yaml.safe_dump_all(render(Path(directory)), sys.stdout, sort_keys=False)
        return 0
    found = check([Path(d) for d in argv[1:]])
    for problem in found:
        print(problem)
    print(f"{len(argv) - 1} kustomization(s), {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
