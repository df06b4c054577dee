#!/usr/bin/env python3
"""Renders a kustomization in deploy/k8s offline, for CI machines without kubectl.

Handles exactly the kustomize features this directory uses, and refuses any other, so the
manifests cannot drift into features it would silently get wrong:

- resources: files, or directories holding a kustomization.yaml (rendered recursively);
- namespace: set on every (namespaced) object;
- images: name -> newName / newTag / digest on every container of a pod template;
- patches: inline JSON 6902 patches (add, replace, remove) with a target of kind, name and
  labelSelector (equality terms only).

Usage: render.py DIR > rendered.yaml    (prints the objects as one multi-document YAML)
       render.py --check-same DIR FILE  (exit 1 unless FILE, e.g. `kubectl kustomize DIR`
                                         output, holds the same objects)
Needs PyYAML.
"""

import copy
import os
import sys

import yaml

SUPPORTED_KEYS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
}


class RenderError(Exception):
    pass


def load_kustomization(directory):
    path = os.path.join(directory, "kustomization.yaml")
    try:
        with open(path, encoding="utf-8") as handle:
            kustomization = yaml.safe_load(handle) or {}
    except OSError as error:
        raise RenderError(f"{path}: {error}") from error
    unsupported = set(kustomization) - SUPPORTED_KEYS
    if unsupported:
        raise RenderError(
            f"{path}: unsupported kustomization fields {sorted(unsupported)}; "
            "extend deploy/k8s/render.py or keep the kustomization simple"
        )
    return kustomization


def render(directory):
    kustomization = load_kustomization(directory)
    objects = []
    for resource in kustomization.get("resources", []):
        path = os.path.normpath(os.path.join(directory, resource))
        if os.path.isdir(path):
            objects.extend(render(path))
        else:
            with open(path, encoding="utf-8") as handle:
                objects.extend(doc for doc in yaml.safe_load_all(handle) if doc)
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj.get("kind") in CLUSTER_SCOPED_KINDS:
                raise RenderError(f"{obj['kind']} is cluster-scoped; not supported here")
            obj.setdefault("metadata", {})["namespace"] = namespace
    for image in kustomization.get("images", []):
        for obj in objects:
            set_image(obj, image)
    for index, patch in enumerate(kustomization.get("patches", [])):
        where = f"{directory}: patches[{index}]"
        if set(patch) != {"target", "patch"}:
            raise RenderError(f"{where}: only inline patches with a target are supported")
        operations = yaml.safe_load(patch["patch"])
        if not isinstance(operations, list):
            raise RenderError(f"{where}: only JSON 6902 patches (a list of operations)")
        matched = [obj for obj in objects if matches(obj, patch["target"], where)]
        if not matched:
            raise RenderError(f"{where}: the target matches no object")
        for obj in matched:
            for operation in operations:
                apply_operation(obj, operation, where)
    return objects


def matches(obj, target, where):
    unsupported = set(target) - {"kind", "name", "labelSelector"}
    if unsupported:
        raise RenderError(f"{where}: unsupported target fields {sorted(unsupported)}")
    if "kind" in target and obj.get("kind") != target["kind"]:
        return False
    metadata = obj.get("metadata", {})
    if "name" in target and metadata.get("name") != target["name"]:
        return False
    labels = metadata.get("labels", {})
    for term in filter(None, target.get("labelSelector", "").split(",")):
        if "=" not in term or "!=" in term:
            raise RenderError(f"{where}: labelSelector supports key=value terms only")
        key, value = (part.strip() for part in term.split("=", 1))
        if labels.get(key) != value:
            return False
    return True


def pod_containers(obj):
    spec = obj.get("spec", {})
    template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
    if not template:
        return []
    pod = template.get("spec", {})
    return pod.get("containers", []) + pod.get("initContainers", [])


def set_image(obj, image):
    for container in pod_containers(obj):
        reference = container.get("image", "")
        name = reference.split("@", 1)[0]
        tag = None
        if ":" in name.rsplit("/", 1)[-1]:
            name, tag = name.rsplit(":", 1)
        if name != image["name"]:
            continue
        name = image.get("newName", name)
        tag = image.get("newTag", tag)
        if "digest" in image:
            container["image"] = f"{name}@{image['digest']}"
        else:
            container["image"] = f"{name}:{tag}" if tag else name


def pointer_parts(path, where):
    if not path.startswith("/"):
        raise RenderError(f"{where}: bad JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def apply_operation(obj, operation, where):
    op = operation.get("op")
    parts = pointer_parts(operation.get("path", ""), where)
    parent = obj
    for part in parts[:-1]:
        try:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        except (KeyError, IndexError, ValueError) as error:
            raise RenderError(f"{where}: path {operation['path']} does not exist") from error
    last = parts[-1]
    if op not in ("add", "replace", "remove"):
        raise RenderError(f"{where}: unsupported op {op!r}")
    if isinstance(parent, list):
        if op == "add" and last == "-":
            parent.append(copy.deepcopy(operation["value"]))
            return
        index = int(last)
        if op == "add":
            parent.insert(index, copy.deepcopy(operation["value"]))
        elif index >= len(parent):
            raise RenderError(f"{where}: path {operation['path']} does not exist")
        elif op == "replace":
            parent[index] = copy.deepcopy(operation["value"])
        else:
            del parent[index]
        return
    if op in ("replace", "remove") and last not in parent:
        raise RenderError(f"{where}: path {operation['path']} does not exist")
    if op == "remove":
        del parent[last]
    else:
        parent[last] = copy.deepcopy(operation["value"])


def identity(obj):
    metadata = obj.get("metadata", {})
    return (obj.get("kind"), metadata.get("namespace"), metadata.get("name"))


def main(argv):
    try:
        if len(argv) == 3 and argv[0] == "--check-same":
            ours = {identity(obj): obj for obj in render(argv[1])}
            with open(argv[2], encoding="utf-8") as handle:
                theirs = {identity(obj): obj for obj in yaml.safe_load_all(handle) if obj}
            if ours == theirs:
                return 0
            for key in sorted(set(ours) | set(theirs), key=str):
                if ours.get(key) != theirs.get(key):
                    print(f"render.py and {argv[2]} differ on {key}", file=sys.stderr)
            return 1
        if len(argv) == 1:
            yaml.safe_dump_all(render(argv[0]), sys.stdout, sort_keys=True)
            return 0
    except RenderError as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
