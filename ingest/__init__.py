"""MQTT ingest: subscribe, decode wire format v1, validate, and yield columnar Batches.

Bad input never stops the stream: each rejection is counted by `Reason` and kept in the
dead-letter file.
"""

from ingest.acks import Acks, Receipt
from ingest.batcher import Batcher
from ingest.counters import IngestCounters
from ingest.deadletter import DeadLetter, payload_text
from ingest.decode import AHEAD_TOLERANCE_S, MAX_AGE_S, MAX_FUTURE_S, MAX_PAYLOAD_BYTES, Decoder
from ingest.decoded import NOTED, Decoded, GatewayStatus, Reason, Rejection
from ingest.plans import PlanClosed
from ingest.session import IngestError, Ingestor, parse_broker_url

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
    "parse_broker_url",
    "payload_text",
]
