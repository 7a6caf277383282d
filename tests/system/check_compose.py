#!/usr/bin/python3
"""Checks docker-compose.yml without Docker: it parses, and its services, ports, volumes,
NATS cluster configs and Dockerfile agree with each other and with the repository; every
connection is TLS (NATS clients and routes, the Eventbase nodes' port) with certificates that
scripts/dev-certs.sh makes; every NATS config syncs JetStream before acknowledging
(`sync_interval: always`) on a NATS image that has the setting (2.10+), and passes
`nats-server -t` with those certificates (the newest nats-server here:
scripts/nats-server-path.sh, or $EVENTBASE_NATS_SERVER)."""
import configparser
import os
import re
import shutil
import subprocess
import sys
import tempfile

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
        if source == "./certs":
            # Made by scripts/dev-certs.sh (checked below), not part of the repository.
            check(volume.endswith(":/certs:ro"), f"{name}: ./certs must be mounted read-only at /certs")
        elif source.startswith("./"):
            check(os.path.exists(os.path.join(root, source)), f"{name}: {source} does not exist")
        else:
            used_volumes.add(source)
            check(source in declared_volumes, f"{name}: volume {source} is not declared")
    for port in service.get("ports", []):
        parts = str(port).split(":")
        # CAF and NATS ports are not for the world: published on the host's loopback only.
        check(len(parts) == 3 and parts[0] == "127.0.0.1",
              f"{name}: port {port} is not published on 127.0.0.1 only")
        host_ports.append(parts[-2])
    check(service.get("restart") == "unless-stopped", f"{name}: no restart: unless-stopped")
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
    # nats-server puts its files in <store_dir>/jetstream itself.
    store = re.search(r"store_dir:\s*(\S+)", text)
    check(store is not None and not store.group(1).rstrip("/").endswith("jetstream"),
          f"{name}: store_dir must not end in jetstream (it would be .../jetstream/jetstream)")
    monitor = re.search(r"^http:\s*\S+:(\d+)", text, re.M)
    check(monitor is not None, f"{name}: no monitoring port (http:)")
    service = services.get(name, {})
    test = " ".join(map(str, service.get("healthcheck", {}).get("test", [])))
    check(monitor is not None and f":{monitor.group(1)}/healthz?js-enabled-only=true" in test,
          f"{name}: the healthcheck does not ask /healthz?js-enabled-only=true")
    check(monitor is not None and any(str(p).endswith(":" + monitor.group(1))
                                      for p in service.get("ports", [])),
          f"{name}: the monitoring port is not published")
    check("alpine" in str(service.get("image", "")),
          f"{name}: the image has no shell tools for the healthcheck (use nats:*-alpine)")
    # sync_interval (below) needs nats-server 2.10; 2.9 refuses the configuration.
    release = re.match(r"nats:(\d+)\.(\d+)", str(service.get("image", "")))
    check(release is not None and (int(release.group(1)), int(release.group(2))) >= (2, 10),
          f"{name}: the image {service.get('image')} is not nats:MAJOR.MINOR-alpine of 2.10 or "
          "newer (sync_interval needs 2.10)")
check(names == set(nats), f"server names {names} do not match the services")


def jetstream_block(text):
    """The jetstream { ... } block of a NATS config, without comments; None when missing."""
    text = re.sub(r"(#|//).*", "", text)
    block = re.search(r"^jetstream\s*{(.*?)^}", text, re.M | re.S)
    return block.group(1) if block else None


# Every NATS config here, in the compose file or not, syncs each write before acknowledging it.
nats_configs = sorted(f for f in os.listdir(os.path.join(root, "configs", "nats"))
                      if f.endswith(".conf"))
check(nats_configs, "no NATS configs under configs/nats")
for conf in nats_configs:
    block = jetstream_block(open(os.path.join(root, "configs", "nats", conf)).read())
    check(block is not None and re.search(r"^\s*sync_interval\s*[:=]?\s*\"?always\"?\s*$", block,
                                          re.M) is not None,
          f"configs/nats/{conf}: its jetstream block lacks sync_interval: always")

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
    urls = re.findall(r"(?:nats|tls)://([\w-]+):(\d+)", command)
    check({u[0] for u in urls} == set(nats), f"{name}: --nats does not name every NATS node")
    check(all(u[1] == client_port for u in urls), f"{name}: --nats uses another port")
    depends = service.get("depends_on", {})
    check(isinstance(depends, dict) and set(depends) == set(nats) and
          all(d.get("condition") == "service_healthy" for d in depends.values()),
          f"{name}: must depend on every NATS service with condition: service_healthy")
    for port in service.get("ports", []):
        check(str(port).split(":")[-1] == server_port,
              f"{name}: maps a port the server does not use")
    # The healthcheck asks the node's HTTP endpoint (--http, loopback in the container) with a
    # program the image has.
    http = re.search(r"--http=(127\.0\.0\.1:\d+)", command)
    check(http is not None, f"{name}: no --http=127.0.0.1:PORT for its healthcheck")
    test = " ".join(map(str, service.get("healthcheck", {}).get("test", [])))
    check(http is not None and f"http://{http.group(1)}/healthz" in test,
          f"{name}: the healthcheck does not ask GET /healthz of its --http endpoint")
    check(test.split(" ")[:2] == ["CMD", "curl"] and re.search(r"\bcurl\b", dockerfile),
          f"{name}: the healthcheck runs curl, which the image must install")
    check("libcpp-httplib0.11" in dockerfile, "the image lacks cpp-httplib (--http)")

# The build context leaves out build trees and data paths.
ignore_path = os.path.join(root, ".dockerignore")
ignored = open(ignore_path).read().split() if os.path.exists(ignore_path) else []
for entry in ("build", "data", ".git"):
    check(entry in ignored, f".dockerignore does not leave out {entry}")

# The nats-server that checks the configs: the newest here. One older than 2.10 refuses
# sync_interval, so it checks them without that line (and says so).
nats_server = os.environ.get("EVENTBASE_NATS_SERVER") or ""
if not nats_server:
    found = subprocess.run([os.path.join(root, "scripts", "nats-server-path.sh")],
                           capture_output=True, text=True)
    nats_server = found.stdout.strip() if found.returncode == 0 else ""
nats_server = shutil.which(nats_server) if nats_server else None
nats_release = None
if nats_server:
    said = subprocess.run([nats_server, "--version"], capture_output=True, text=True).stdout
    release = re.match(r"nats-server: v(\d+)\.(\d+)", said)
    nats_release = (int(release.group(1)), int(release.group(2))) if release else None
old_nats = nats_release is not None and nats_release < (2, 10)
if nats_server:
    print(f"nats-server -t with {nats_server} ({'.'.join(map(str, nats_release or ()))})"
          + (": without sync_interval, which it predates" if old_nats else ""))

# Security: TLS everywhere, with files that scripts/dev-certs.sh makes for the service names.
certs = tempfile.mkdtemp(prefix="eventbase-compose-certs-")
try:
    made = subprocess.run([os.path.join(root, "scripts", "dev-certs.sh"), certs],
                          capture_output=True, text=True)
    check(made.returncode == 0, f"scripts/dev-certs.sh failed: {made.stderr}")
    made_files = set(os.listdir(certs))

    def cert_files(text):
        return set(re.findall(r"/certs/([\w.-]+)", text))

    nats_users = None
    for name in nats:
        conf_path = os.path.join(root, "configs", "nats", f"{name}.conf")
        if not os.path.exists(conf_path):
            continue
        text = open(conf_path).read()
        top_tls = re.search(r"^tls\s*{([^}]*)}", text, re.M)
        check(top_tls is not None, f"{name}: clients are not served over TLS")
        if top_tls:
            check(re.search(r"verify(_and_map)?:\s*true", top_tls.group(1)) is not None,
                  f"{name}: NATS does not verify client certificates")
            check(f"/certs/{name}.pem" in top_tls.group(1), f"{name}: not its own certificate")
        check(re.search(r"cluster\s*{.*?tls\s*{[^}]*verify:\s*true", text, re.S) is not None,
              f"{name}: cluster routes are not mutual TLS")
        users = set(re.findall(r"user:\s*([\w-]+)", text))
        check(nats_users is None or users == nats_users, f"{name}: other users than nats-1")
        nats_users = users
        missing = cert_files(text) - made_files
        check(not missing, f"{name}: dev-certs.sh does not make {sorted(missing)}")
        if nats_server and not missing:
            local = os.path.join(certs, f"{name}.conf")
            tested_text = text.replace("/certs/", certs + "/").replace("/data/", certs + "/data/")
            if old_nats:
                tested_text = re.sub(r"^\s*sync_interval\b.*$", "", tested_text, flags=re.M)
            with open(local, "w") as f:
                f.write(tested_text)
            tested = subprocess.run([nats_server, "-c", local, "-t"], capture_output=True,
                                    text=True)
            check(tested.returncode == 0, f"{name}: nats-server -t: {tested.stderr.strip()}")
    for name in nodes:
        service = services[name]
        command = service.get("command", [])
        joined = " ".join(command)
        check(not re.search(r"nats://", joined), f"{name}: plaintext NATS URL")
        check(len(re.findall(r"tls://[\w-]+:\d+", joined)) == len(nats),
              f"{name}: --nats must list every NATS node as tls://")
        for option in ("--tls-cert", "--tls-key", "--tls-ca", "--nats-tls-ca", "--nats-tls-cert",
                       "--nats-tls-key"):
            check(any(c.startswith(option + "=/certs/") for c in command),
                  f"{name}: {option}=/certs/... is missing")
        check("--insecure" not in joined, f"{name}: runs with --insecure")
        check(f"--nats-tls-cert=/certs/{name}.pem" in command,
              f"{name}: presents another certificate to NATS")
        check(nats_users is None or name in nats_users, f"{name}: not a NATS user")
        environment = service.get("environment", {})
        for variable in ("EVENTBASE_TLS_CERT", "EVENTBASE_TLS_KEY", "EVENTBASE_TLS_CA"):
            check(str(environment.get(variable, "")).startswith("/certs/"),
                  f"{name}: {variable} is not set for the client in the container")
        missing = (cert_files(joined) | cert_files(" ".join(map(str, environment.values())))) \
            - made_files
        check(not missing, f"{name}: dev-certs.sh does not make {sorted(missing)}")
    check("libcaf-openssl0.17" in dockerfile, "the image lacks CAF's OpenSSL module")
finally:
    shutil.rmtree(certs, ignore_errors=True)

if problems:
    print("docker-compose.yml problems:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"docker-compose.yml ok: {len(services)} services, {len(declared_volumes)} volumes")
