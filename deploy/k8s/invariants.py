#!/usr/bin/env python3
"""Checks what the schema validator and the security scanner cannot know about rendered LMA
manifests: that they agree with how the services are configured.

Usage: invariants.py RENDERED.yaml [--search-secret NAME]
Exit 1 with one line per broken rule. Needs PyYAML.
"""

import argparse
import sys

import yaml

# Per service: gRPC port (LMA_LISTEN_ADDR), database role and the HPA it must (not) have.
SERVICES = {
    "ingest-svc": {"port": 50051, "role": "lma_ingest", "hpa": True},
    "search-svc": {"port": 50052, "role": "lma_search", "hpa": True},
    "refresh-svc": {"port": 50053, "role": "lma_refresh", "hpa": False},
}


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def check(objects, search_secret):
    problems = []
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    config = by_kind.get("ConfigMap", {}).get("lma-config", {}).get("data", {})
    grace = int(config.get("LMA_SHUTDOWN_GRACE_SECS", "20"))
    health_port = port_of(config["LMA_HEALTH_LISTEN_ADDR"]) if "LMA_HEALTH_LISTEN_ADDR" in config else None
    if health_port is None:
        problems.append("lma-config: LMA_HEALTH_LISTEN_ADDR is unset (the probes need it)")
    if bool(config.get("LMA_TLS_CERT")) != bool(config.get("LMA_TLS_KEY")):
        problems.append("lma-config: LMA_TLS_CERT and LMA_TLS_KEY go together")

    for name, expected in SERVICES.items():
        deployment = by_kind.get("Deployment", {}).get(name)
        if deployment is None:
            problems.append(f"{name}: no Deployment")
            continue
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        pause = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
        if not pause:
            problems.append(f"{name}: needs a preStop sleep, so endpoints go before the process stops accepting")
        if pod.get("terminationGracePeriodSeconds", 30) <= grace + (pause or 0):
            problems.append(f"{name}: terminationGracePeriodSeconds must exceed the preStop sleep plus LMA_SHUTDOWN_GRACE_SECS ({grace})")
        env = {item["name"]: item for item in container.get("env", [])}
        listen = env.get("LMA_LISTEN_ADDR", {}).get("value")
        if listen is None or port_of(listen) != expected["port"]:
            problems.append(f"{name}: LMA_LISTEN_ADDR must listen on {expected['port']}")
        if env.get("LMA_DATABASE_ROLE", {}).get("value") != expected["role"]:
            problems.append(f"{name}: LMA_DATABASE_ROLE must be {expected['role']}")
        secret = env.get("LMA_DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("name")
        if not secret:
            problems.append(f"{name}: LMA_DATABASE_URL must come from a Secret")
        if name == "search-svc" and search_secret and secret != search_secret:
            problems.append(f"search-svc: reads {secret}, expected {search_secret}")
        if name == "search-svc":
            token_key = env.get("LMA_PAGE_TOKEN_KEY", {}).get("valueFrom", {}).get("secretKeyRef", {})
            if not token_key.get("name"):
                problems.append("search-svc: LMA_PAGE_TOKEN_KEY must come from a Secret")
        ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
        if ports.get("grpc") != expected["port"]:
            problems.append(f"{name}: container port 'grpc' must be {expected['port']}")
        if ports.get("health") != health_port:
            problems.append(f"{name}: container port 'health' must be LMA_HEALTH_LISTEN_ADDR's ({health_port})")
        for probe_name, service in (("readinessProbe", None), ("livenessProbe", "liveness")):
            probe = container.get(probe_name, {}).get("grpc")
            if not probe or probe.get("port") != health_port or probe.get("service") != service:
                problems.append(f"{name}: {probe_name} must be a gRPC probe of {service or 'the server'} on {health_port}")
        service_object = by_kind.get("Service", {}).get(name)
        if not service_object or service_object["spec"]["ports"][0]["port"] != expected["port"]:
            problems.append(f"{name}: Service must expose {expected['port']}")
        if name not in by_kind.get("PodDisruptionBudget", {}):
            problems.append(f"{name}: no PodDisruptionBudget")
        if (name in by_kind.get("HorizontalPodAutoscaler", {})) != expected["hpa"]:
            problems.append(f"{name}: HorizontalPodAutoscaler expected: {expected['hpa']}")
        if config.get("LMA_TLS_CERT"):
            mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
            if not any(config["LMA_TLS_CERT"].startswith(path.rstrip("/") + "/") for path in mounts):
                problems.append(f"{name}: LMA_TLS_CERT {config['LMA_TLS_CERT']} is not on a mounted volume")
        policy_ports = [
            port["port"]
            for policy in by_kind.get("NetworkPolicy", {}).values()
            if policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == name
            for rule in policy["spec"].get("ingress", [])
            for port in rule.get("ports", [])
        ]
        if policy_ports != [expected["port"]]:
            problems.append(f"{name}: NetworkPolicy ingress must open exactly {expected['port']}, opens {policy_ports}")

    job = by_kind.get("Job", {}).get("lma-migrate")
    if job is None or job["spec"]["template"]["spec"]["containers"][0].get("args") != ["migrate"]:
        problems.append("lma-migrate: a Job running `lmactl migrate` is missing")
    if "lma-default-deny" not in by_kind.get("NetworkPolicy", {}):
        problems.append("lma-default-deny: the default-deny NetworkPolicy is missing")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered")
    parser.add_argument("--search-secret", help="the Secret search-svc must read its database URL from")
    args = parser.parse_args()
    with open(args.rendered, encoding="utf-8") as handle:
        objects = [obj for obj in yaml.safe_load_all(handle) if obj]
    problems = check(objects, args.search_secret)
    for problem in problems:
        print(f"{args.rendered}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
