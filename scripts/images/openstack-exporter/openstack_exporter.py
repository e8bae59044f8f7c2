#!/usr/bin/env python3
"""Prometheus probe of OpenStack API endpoints.

Reads the services to probe from /etc/openstack-exporter/probe_target.yaml
(PROBE_TARGETS overrides the path):

    services:
      - name: nova
        endpoint: https://nova.example.com/v2.1
      - name: glance
        endpoint: https://glance.example.com/

Every PROBE_INTERVAL seconds (default 15) it GETs each endpoint with a Keystone v3
token (password auth from AUTH_URL, USERNAME, PASSWORD, PROJECT_NAME,
USER_DOMAIN_NAME, PROJECT_DOMAIN_NAME) and exports openstack_api_up and
openstack_api_latency_seconds on EXPORTER_PORT (default 49152).
"""
import logging
import os
import time

import requests
import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from prometheus_client import Gauge, Histogram, start_http_server

LOG = logging.getLogger("openstack-exporter")
UP = Gauge("openstack_api_up", "1 when the endpoint answered below HTTP 500", ["service", "endpoint"])
LATENCY = Histogram("openstack_api_latency_seconds", "Endpoint response time", ["service", "endpoint"])


def load_targets(path):
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    targets = data.get("services", [])
    for t in targets:
        if "name" not in t or "endpoint" not in t:
            raise ValueError(f"{path}: every service needs `name` and `endpoint`")
    return targets


def make_session():
    auth = v3.Password(
        auth_url=os.environ["AUTH_URL"],
        username=os.environ["USERNAME"],
        password=os.environ["PASSWORD"],
        project_name=os.environ.get("PROJECT_NAME", "admin"),
        user_domain_name=os.environ.get("USER_DOMAIN_NAME", "Default"),
        project_domain_name=os.environ.get("PROJECT_DOMAIN_NAME", "Default"),
    )
    verify = os.environ.get("OS_CACERT") or os.environ.get("VERIFY", "true").lower() != "false"
    return ks_session.Session(auth=auth, verify=verify)


def probe(sess, target, timeout):
    name, endpoint = target["name"], target["endpoint"]
    start = time.monotonic()
    try:
        token = sess.get_token()
        resp = requests.get(endpoint, headers={"X-Auth-Token": token}, timeout=timeout,
                            verify=sess.verify)
        up = resp.status_code < 500
    except Exception as exc:  # any failure means the API is not usable
        LOG.warning("%s %s: %s", name, endpoint, exc)
        up = False
    LATENCY.labels(name, endpoint).observe(time.monotonic() - start)
    UP.labels(name, endpoint).set(1 if up else 0)


def main():
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    targets = load_targets(os.environ.get("PROBE_TARGETS", "/etc/openstack-exporter/probe_target.yaml"))
    interval = float(os.environ.get("PROBE_INTERVAL", "15"))
    timeout = float(os.environ.get("PROBE_TIMEOUT", "10"))
    start_http_server(int(os.environ.get("EXPORTER_PORT", "49152")))
    sess = make_session()
    while True:
        for t in targets:
            probe(sess, t, timeout)
        time.sleep(interval)


if __name__ == "__main__":
    main()
