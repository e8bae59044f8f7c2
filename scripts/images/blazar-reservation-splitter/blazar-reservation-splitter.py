#!/usr/bin/env python3
"""Split Blazar lease notifications into per-reservation notifications.

Consumes `lease.event.start_lease` notifications from the `openstack` topic exchange
(queue blazar_reservation_splitter, bound on notifications.info) and republishes one
oslo.messaging-format notification per reservation as blazar.reservation.<type>
(flavor:instance, physical:host, virtual:floatingip), so Gnocchi gets per-reservation
metrics.  Connection from RABBITMQ_HOST, RABBITMQ_PORT, RABBITMQ_USER,
RABBITMQ_PASSWORD, RABBITMQ_VHOST (and RABBITMQ_EXCHANGE, RABBITMQ_QUEUE,
RABBITMQ_ROUTING_KEY to override the names).
"""
import datetime
import json
import logging
import os
import time
import uuid

import pika

LOG = logging.getLogger("blazar-reservation-splitter")
TYPE_FIELDS = {
    "flavor:instance": ("amount", "vcpus", "memory_mb", "disk_gb", "affinity", "resource_properties", "flavor_id"),
    "physical:host": ("min", "max", "hypervisor_properties", "resource_properties"),
    "virtual:floatingip": ("network_id", "amount", "required_floatingips"),
}


def env(name, default):
    return os.environ.get(f"RABBITMQ_{name}", default)


def split(payload):
    """One (event_type, payload) per reservation of a lease payload."""
    lease = payload.get("lease", payload)
    for res in lease.get("reservations", []):
        rtype = res.get("resource_type", "unknown")
        out = {"lease_id": lease.get("id"), "lease_name": lease.get("name"),
               "project_id": lease.get("project_id"), "user_id": lease.get("user_id"),
               "start_date": lease.get("start_date"), "end_date": lease.get("end_date"),
               "reservation_id": res.get("id"), "resource_id": res.get("resource_id"),
               "resource_type": rtype, "status": res.get("status")}
        for field in TYPE_FIELDS.get(rtype, ()):
            if field in res:
                out[field] = res[field]
        yield f"blazar.reservation.{rtype.replace(':', '.')}", out


def oslo_envelope(publisher, event_type, payload):
    msg = {"message_id": str(uuid.uuid4()), "publisher_id": publisher, "event_type": event_type,
           "priority": "INFO", "payload": payload,
           "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")}
    return {"oslo.version": "2.0", "oslo.message": json.dumps(msg)}


def decode(body):
    msg = json.loads(body)
    if "oslo.message" in msg:
        msg = json.loads(msg["oslo.message"])
    return msg


def on_message(chan, method, _props, body, exchange, routing_key):
    try:
        msg = decode(body)
        if msg.get("event_type") == "lease.event.start_lease":
            for event_type, payload in split(msg.get("payload", {})):
                env_msg = oslo_envelope("blazar-reservation-splitter", event_type, payload)
                chan.basic_publish(exchange, routing_key, json.dumps(env_msg),
                                   pika.BasicProperties(content_type="application/json", delivery_mode=2))
                LOG.info("published %s for reservation %s", event_type, payload["reservation_id"])
    except (ValueError, KeyError, TypeError) as exc:
        LOG.warning("dropping malformed notification: %s", exc)
    chan.basic_ack(method.delivery_tag)


def run_once():
    creds = pika.PlainCredentials(env("USER", "guest"), env("PASSWORD", "guest"))
    params = pika.ConnectionParameters(env("HOST", "localhost"), int(env("PORT", "5672")), env("VHOST", "/"),
                                       creds, heartbeat=60)
    exchange, queue, key = env("EXCHANGE", "openstack"), env("QUEUE", "blazar_reservation_splitter"), \
        env("ROUTING_KEY", "notifications.info")
    conn = pika.BlockingConnection(params)
    chan = conn.channel()
    chan.exchange_declare(exchange, exchange_type="topic", durable=False, passive=True)
    chan.queue_declare(queue, durable=False)
    chan.queue_bind(queue, exchange, routing_key=key)
    chan.basic_consume(queue, lambda c, m, p, b: on_message(c, m, p, b, exchange, key))
    LOG.info("consuming %s on %s/%s", queue, exchange, key)
    chan.start_consuming()


def main():
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    while True:
        try:
            run_once()
        except pika.exceptions.AMQPError as exc:
            LOG.warning("rabbitmq: %s; reconnecting in 5s", exc)
            time.sleep(5)


if __name__ == "__main__":
    main()
