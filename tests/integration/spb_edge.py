"""A Sparkplug B edge node of mqtt-spb-wrapper (PyPI), driven line by line on stdin.

Run by tests/integration/test_sparkplug_edge.py with the python of `.venv-sparkplug` (the
library pins paho-mqtt 1.6 and protobuf 3.20, which HazardWatch's own venv does not take):

    spb_edge.py HOST PORT GROUP NODE

Lines in: ``level <m>`` sets and publishes the tank level (NDATA), ``skip`` skips one
sequence number, ``quit``. Lines out: ``born`` after each NBIRTH (the first, and every
answer to a rebirth request), ``sent`` after each NDATA.
"""

from __future__ import annotations

import sys
from typing import Any


def main(argv: list[str]) -> None:
    # imported here: pytest's doctest collection imports this file in HazardWatch's venv
    from mqtt_spb_wrapper import MqttSpbEntityEdgeNode
    from mqtt_spb_wrapper.spb_protobuf import sparkplug_b

    host, port, group, node_name = argv[0], int(argv[1]), argv[2], argv[3]
    # include_spb_rebirth=False: the library's own Node Control/Rebirth command registers the
    # result of publish_birth() as its callback (a bool), which raises when the command comes.
    node = MqttSpbEntityEdgeNode(group, node_name, include_spb_rebirth=False)
    node.data.set_value("Tank1/Level", 2.0, spb_alias_num=1)

    def birth() -> None:
        # The library's NBIRTH says bdSeq one above the NDEATH it left as its will
        # (getNodeBirthPayload's `--bdSeq` is no decrement in Python): give the birth the
        # will's number, as the specification asks.
        sparkplug_b.bdSeq = will_bd_seq
        node.publish_birth()
        print("born", flush=True)

    def on_rebirth(value: Any) -> None:
        if value:
            birth()

    node.commands.set_value("Node Control/Rebirth", False, callback_on_change=on_rebirth)
    will_bd_seq = sparkplug_b.bdSeq  # what connect() puts in the NDEATH will
    node.connect(host, port)
    birth()
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "level":
            node.data.set_value("Tank1/Level", float(words[1]))
            node.publish_data()
            print("sent", flush=True)
        elif words[0] == "skip":
            sparkplug_b.getSeqNum()
        elif words[0] == "quit":
            break
    node.disconnect()


if __name__ == "__main__":
    main(sys.argv[1:])
