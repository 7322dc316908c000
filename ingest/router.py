"""Router: each message to the decoder of its input (wire format v1, ThingsBoard, Sparkplug B).

The site config says which inputs are on (hazardwatch.vocabulary.inputs.Inputs); each input owns its
topics: Sparkplug ``spBv1.0/...``, ThingsBoard ``v1/...`` (or its mount root), wire format
v1 the rest under its root. A topic no input owns is rejected as ``bad_topic``.
"""

from __future__ import annotations

from hazardwatch.vocabulary.inputs import Inputs
from hazardwatch.vocabulary.model import Batch, SensorTable
from ingest.decode import Decoder
from ingest.decoded import Decoded, Reason, Rejection
from ingest.sparkplug import SparkplugDecoder
from ingest.thingsboard import ThingsBoardDecoder


class Router:
    """Decodes a message with the decoder of the input that owns its topic; never raises."""

    def __init__(self, table: SensorTable, inputs: Inputs, root_topic: str = "hw") -> None:
        self.table = table
        self.inputs = inputs
        self.root_topic = root_topic.strip("/")
        self.v1 = Decoder(table, root_topic) if inputs.wire_v1 else None
        self.thingsboard = (
            ThingsBoardDecoder(table, inputs.thingsboard) if inputs.thingsboard else None
        )
        self.sparkplug = SparkplugDecoder(table, inputs.sparkplug) if inputs.sparkplug else None

    def topics(self) -> list[str]:
        """The topic filters of every input that is on."""
        out = [f"{self.root_topic}/#"] if self.v1 is not None else []
        for other in (self.thingsboard, self.sparkplug):
            if other is not None:
                out += other.topics()
        return out

    def decode(self, topic: str, payload: bytes, received: float) -> Decoded:
        """Decode one message with its input's decoder."""
        if self.sparkplug is not None and self.sparkplug.owns(topic):
            return self.sparkplug.decode(topic, payload, received)
        if self.thingsboard is not None and self.thingsboard.owns(topic):
            return self.thingsboard.decode(topic, payload, received)
        if self.v1 is not None:
            return self.v1.decode(topic, payload, received)
        detail = "no input that is on takes this topic (inputs: in the site config)"
        rejection = Rejection(Reason.BAD_TOPIC, topic, detail, bytes(payload[:4096]))
        return Decoded(Batch.empty(), [rejection])
