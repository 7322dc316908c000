"""MQTT ingest: subscribe, decode wire format v1, ThingsBoard's gateway API and Sparkplug B,
validate, and yield columnar Batches.

Bad input never stops the stream: each rejection is counted by `Reason` and kept in the
dead-letter file.
"""

from ingest.acks import Acks, Receipt
from ingest.batcher import Batcher
from ingest.counters import IngestCounters
from ingest.deadletter import DeadLetter, payload_text
from ingest.decode import AHEAD_TOLERANCE_S, MAX_AGE_S, MAX_FUTURE_S, MAX_PAYLOAD_BYTES, Decoder
from ingest.decoded import NOTED, Decoded, GatewayStatus, Reason, Rejection, Reply
from ingest.plans import PlanClosed
from ingest.router import Router
from ingest.session import IngestError, Ingestor, parse_broker_url
from ingest.sparkplug import SparkplugDecoder
from ingest.thingsboard import ThingsBoardDecoder

__all__ = [
    "AHEAD_TOLERANCE_S",
    "MAX_AGE_S",
    "MAX_FUTURE_S",
    "MAX_PAYLOAD_BYTES",
    "NOTED",
    "Acks",
    "Batcher",
    "DeadLetter",
    "Decoded",
    "Decoder",
    "GatewayStatus",
    "IngestCounters",
    "IngestError",
    "Ingestor",
    "PlanClosed",
    "Reason",
    "Receipt",
    "Rejection",
    "Reply",
    "Router",
    "SparkplugDecoder",
    "ThingsBoardDecoder",
    "parse_broker_url",
    "payload_text",
]
