#!/usr/bin/env python3
"""Prometheus collector for Barbican.

Authenticates with an application credential (OS_APPLICATION_CREDENTIAL_ID and
OS_APPLICATION_CREDENTIAL_SECRET) or a password (OS_USERNAME, OS_PASSWORD,
OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME) against OS_AUTH_URL,
honouring OS_CACERT, and exports on EXPORTER_PORT (default 9100):

    barbican_api_up, barbican_secrets_count, barbican_containers_count,
    barbican_orders_count

BARBICAN_API_URL is required.  Counts come from paginated listing (PAGE_LIMIT per
page, at most MAX_PAGES pages) and are cached for CACHE_TTL seconds (default 60).
"""
import logging
import os
import time

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import GaugeMetricFamily

LOG = logging.getLogger("barbican-exporter")
KINDS = ("secrets", "containers", "orders")


def make_session():
    env = os.environ
    common = {"auth_url": env["OS_AUTH_URL"]}
    if env.get("OS_APPLICATION_CREDENTIAL_ID"):
        auth = v3.ApplicationCredential(application_credential_id=env["OS_APPLICATION_CREDENTIAL_ID"],
                                        application_credential_secret=env["OS_APPLICATION_CREDENTIAL_SECRET"],
                                        **common)
    else:
        auth = v3.Password(username=env["OS_USERNAME"], password=env["OS_PASSWORD"],
                           project_name=env.get("OS_PROJECT_NAME"),
                           user_domain_name=env.get("OS_USER_DOMAIN_NAME", "Default"),
                           project_domain_name=env.get("OS_PROJECT_DOMAIN_NAME", "Default"), **common)
    return ks_session.Session(auth=auth, verify=env.get("OS_CACERT") or True)


class BarbicanCollector:
    def __init__(self, sess, url, page_limit, max_pages, ttl):
        self.sess, self.url = sess, url.rstrip("/")
        self.page_limit, self.max_pages, self.ttl = page_limit, max_pages, ttl
        self.cache, self.cached_at = None, 0.0

    def count(self, kind):
        total, offset = 0, 0
        for _ in range(self.max_pages):
            resp = self.sess.get(f"{self.url}/v1/{kind}", params={"limit": self.page_limit, "offset": offset},
                                 raise_exc=True, timeout=30)
            body = resp.json()
            if "total" in body:
                return int(body["total"])
            items = body.get(kind, [])
            total += len(items)
            if len(items) < self.page_limit:
                break
            offset += self.page_limit
        return total

    def sample(self):
        if self.cache is not None and time.monotonic() - self.cached_at < self.ttl:
            return self.cache
        try:
            result = (1, {k: self.count(k) for k in KINDS})
        except Exception as exc:  # the API is down or refuses us
            LOG.warning("barbican: %s", exc)
            result = (0, {})
        self.cache, self.cached_at = result, time.monotonic()
        return result

    def collect(self):
        up, counts = self.sample()
        yield GaugeMetricFamily("barbican_api_up", "1 when the Barbican API answered", value=up)
        for kind in KINDS:
            if kind in counts:
                yield GaugeMetricFamily(f"barbican_{kind}_count", f"Number of Barbican {kind}", value=counts[kind])


def main():
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    url = os.environ.get("BARBICAN_API_URL")
    if not url:
        raise SystemExit("barbican-exporter: BARBICAN_API_URL is required")
    REGISTRY.register(BarbicanCollector(make_session(), url, int(os.environ.get("PAGE_LIMIT", "100")),
                                        int(os.environ.get("MAX_PAGES", "100")),
                                        float(os.environ.get("CACHE_TTL", "60"))))
    start_http_server(int(os.environ.get("EXPORTER_PORT", "9100")))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
