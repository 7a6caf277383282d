#!/usr/bin/python3
"""Checks docker-compose.yml without Docker: it parses, and its services, ports, volumes,
NATS cluster configs and Dockerfile agree with each other and with the repository."""
import configparser
import os
import re
import sys

import yaml

root = sys.argv[1]
problems = []


def check(condition, message):
    if not condition:
        problems.append(message)


with open(os.path.join(root, "docker-compose.yml")) as f:
    compose = yaml.safe_load(f)

services = compose.get("services", {})
declared_volumes = set((compose.get("volumes") or {}).keys())
nats = sorted(name for name in services if name.startswith("nats-"))
nodes = sorted(name for name in services if name.startswith("eventbase-"))
check(nats == ["nats-1", "nats-2", "nats-3"], f"expected three NATS services, got {nats}")
check(len(nodes) == 2, f"expected two eventbase services, got {nodes}")

used_volumes = set()
host_ports = []
for name, service in services.items():
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("./"):
            check(os.path.exists(os.path.join(root, source)), f"{name}: {source} does not exist")
        else:
            used_volumes.add(source)
            check(source in declared_volumes, f"{name}: volume {source} is not declared")
    for port in service.get("ports", []):
        host_ports.append(str(port).split(":")[0])
check(used_volumes == declared_volumes,
      f"declared but unused volumes: {sorted(declared_volumes - used_volumes)}")
check(len(host_ports) == len(set(host_ports)), f"host ports collide: {host_ports}")

# The NATS cluster: each node's config routes to all three, with unique names.
cluster_port = None
client_port = None
names = set()
for name in nats:
    conf_path = os.path.join(root, "configs", "nats", f"{name}.conf")
    check(os.path.exists(conf_path), f"{conf_path} is missing")
    if not os.path.exists(conf_path):
        continue
    text = open(conf_path).read()
    names.add(re.search(r"server_name:\s*(\S+)", text).group(1))
    client_port = re.search(r"^listen:\s*\S+:(\d+)", text, re.M).group(1)
    cluster_port = re.search(r"cluster\s*{[^}]*listen:\s*\S+:(\d+)", text, re.S).group(1)
    routes = set(re.findall(r"nats-route://([\w-]+):(\d+)", text))
    check({r[0] for r in routes} == set(nats), f"{name}: routes {routes} do not name {nats}")
    check(all(r[1] == cluster_port for r in routes), f"{name}: routes use another port")
    check("jetstream" in text, f"{name}: JetStream is not enabled")
check(names == set(nats), f"server names {names} do not match the services")

# The Eventbase nodes: built from the Dockerfile, pointed at the NATS services.
ini = configparser.ConfigParser()
ini.read(os.path.join(root, "configs", "eventbase-server.ini"))
server_port = ini["global"]["port"]
dockerfile = open(os.path.join(root, "Dockerfile")).read()
check(f"EXPOSE {server_port}" in dockerfile, "the Dockerfile does not expose the server port")
check("--bind=0.0.0.0" in dockerfile, "the server in the image must listen on all interfaces")
for binary in ("eventbase-server", "eventbase"):
    check(f"/build/apps/{binary}" in dockerfile, f"the image lacks {binary}")
for name in nodes:
    service = services[name]
    check(service.get("build") == ".", f"{name}: not built from this repository")
    command = " ".join(service.get("command", []))
    urls = re.findall(r"nats://([\w-]+):(\d+)", command)
    check({u[0] for u in urls} == set(nats), f"{name}: --nats does not name every NATS node")
    check(all(u[1] == client_port for u in urls), f"{name}: --nats uses another port")
    check(set(service.get("depends_on", [])) == set(nats), f"{name}: depends_on is incomplete")
    for port in service.get("ports", []):
        check(str(port).split(":")[1] == server_port, f"{name}: maps a port the server does not use")

if problems:
    print("docker-compose.yml problems:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"docker-compose.yml ok: {len(services)} services, {len(declared_volumes)} volumes")
