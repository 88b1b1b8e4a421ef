"""An application that logs through Python's `logging` with the OpenTelemetry SDK's
LoggingHandler and OTLP/HTTP (protobuf) exporter, inside a span, as a real service would.

usage: app.py ENDPOINT TOKEN RUN COUNT gzip|none [grpc]

With `grpc`, the OTLP/gRPC exporter instead (ENDPOINT is then HOST:PORT).

Prints {"trace_id": …, "span_id": …, "statuses": […]} (the span's ids and, over HTTP,
the status of every response, retries included); exits non-zero when an export failed.
APP_PAD=N in the environment pads every message with N bytes; APP_START=T (Unix
seconds) makes it wait until then to log, so that several applications export at once.
"""

import json
import logging
import os
import sys
import time

import requests

from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

endpoint, token, run, count, compression = sys.argv[1:6]
count = int(count)
pad = "." * int(os.environ.get("APP_PAD", "0"))
statuses = []
session = requests.Session()
session.hooks["response"].append(lambda r, *args, **kwargs: statuses.append(r.status_code))
grpc = sys.argv[6:] == ["grpc"]
if grpc:
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
        OTLPLogExporter as GrpcExporter,
    )
    import grpc as grpc_lib

failures = []


class Checked(OTLPLogExporter):
    """The SDK exporter, remembering any export that did not succeed."""

    def export(self, batch):
        result = super().export(batch)
        if result.name != "SUCCESS":
            failures.append(result)
        return result


resource = Resource.create(
    {
        "service.name": "checkout",
        "service.version": "1.4.2",
        "host.name": "node-otel",
        "k8s.pod.name": "pay-7d9f",
        "k8s.namespace.name": "shop",
        "k8s.container.name": "pay",
        "deployment.environment": "test",
    }
)
trace.set_tracer_provider(TracerProvider(resource=resource))
provider = LoggerProvider(resource=resource)
set_logger_provider(provider)
if grpc:

    class CheckedGrpc(GrpcExporter):
        def export(self, batch):
            result = super().export(batch)
            if result.name != "SUCCESS":
                failures.append(result)
            return result

    exporter = CheckedGrpc(
        endpoint=endpoint,
        insecure=True,
        headers={"authorization": f"Bearer {token}"},
        compression=grpc_lib.Compression.Gzip if compression == "gzip" else None,
    )
else:
    exporter = Checked(
        endpoint=endpoint,
        headers={"Authorization": f"Bearer {token}"},
        compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
        session=session,
        # The exporter retries 429s until this deadline: long enough for a busy server.
        timeout=60,
    )
# Small batches, so one run makes several export requests.
provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=50))

log = logging.getLogger("shop.pay")
log.setLevel(logging.DEBUG)
log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))
log.propagate = False

tracer = trace.get_tracer("shop")
start = float(os.environ.get("APP_START", "0"))
time.sleep(max(0.0, start - time.time()))
with tracer.start_as_current_span("pay") as span:
    ctx = span.get_span_context()
    for i in range(count):
        if i % 2:
            log.error("payment %d of %s failed%s", i, run, pad, extra={"order": i, "run": run})
        else:
            log.info("payment %d of %s ok%s", i, run, pad, extra={"order": i, "run": run, "ok": True})

# Every export done (retries included) before the exporter is shut down, which would
# cut a retry short.
provider.force_flush(timeout_millis=60_000)
provider.shutdown()
print(
    json.dumps(
        {
            "trace_id": format(ctx.trace_id, "032x"),
            "span_id": format(ctx.span_id, "016x"),
            "statuses": statuses,
        }
    )
)
if failures:
    sys.exit(f"{len(failures)} exports failed: {failures}")
