"""Where notifications go: our signed webhooks, and apprise for everything else.

A channel has one method, `send(title, body)`: `body` is the notification's JSON text,
sent byte for byte as the log keeps it; a failure raises SendError (the sender retries).

Webhook: `POST` of the JSON body, `Content-Type: application/json`, with
`X-HazardWatch-Delivery: <notification key>` (the same on every retry: a receiver may
drop a repeat) and, when the channel has a secret, `X-HazardWatch-Signature:
sha256=<hex HMAC-SHA256 of the body>`. Any 2xx answer is a delivery.

Apprise: e-mail, DingTalk, WeCom, Feishu, SMS gateways and the rest apprise supports,
each by its URL; the title and a plain-text rendering of the body.

>>> sign("k", b'{"id": 1}')
'sha256=d661d79c6661a28af6e9bc678d132658d1d211135191454f3311a733e72d788e'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
import warnings
from collections.abc import Mapping
from typing import Any, Protocol

from alerting.lifecycle import AlertingError
from hazardwatch.vocabulary.notify_rules import Channel

log = logging.getLogger("hazardwatch.notify")

SIGNATURE_HEADER = "X-HazardWatch-Signature"
DELIVERY_HEADER = "X-HazardWatch-Delivery"


class SendError(AlertingError):
    """One attempt to send failed (the sender logs it and retries)."""


class Sink(Protocol):
    def send(self, title: str, body: str) -> None: ...


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class Webhook:
    """Our own webhook: the JSON body, signed when a secret is set."""

    def __init__(self, url: str, secret: str | None = None, timeout_s: float = 10.0) -> None:
        self.url, self._secret, self.timeout_s = url, secret, timeout_s

    def send(self, title: str, body: str) -> None:
        data = body.encode()
        headers = {"Content-Type": "application/json", "User-Agent": "HazardWatch"}
        key = json.loads(body).get("id")
        if key is not None:
            headers[DELIVERY_HEADER] = str(key)
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, data)
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                answer.read()
        except urllib.error.HTTPError as e:  # a 4xx or 5xx answer
            raise SendError(f"webhook answered {e.code} {e.reason}") from e
        except (OSError, ValueError) as e:  # refused, reset, timed out, bad URL
            raise SendError(f"webhook unreachable: {e}") from e


def _load_apprise() -> Any:
    import apprise
    from apprise.manager_plugins import NotificationManager

    # apprise's e-mail plugin imports the standard library's imghdr, deprecated in 3.11:
    # load its plugins once here, that warning aside (the tests turn warnings into errors).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        NotificationManager().load_modules()
    return apprise


def text(body: str) -> str:
    """A plain-text rendering of a notification body for people's channels.

    >>> print(text('{"text": "HH on T1-LT", "id": "event:3"}'))
    HH on T1-LT
    (event:3)
    """
    data = json.loads(body)
    return f"{data.get('text', '')}\n({data.get('id')})"


class AppriseSink:
    """Every URL of one channel through apprise; an attempt fails unless all succeed."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        apprise = _load_apprise()
        self._apprise = apprise.Apprise()
        for url in urls:
            if not self._apprise.add(url):
                raise AlertingError(f"apprise does not understand the URL {url.split(':')[0]}:")

    def send(self, title: str, body: str) -> None:
        if not self._apprise.notify(title=title, body=text(body)):
            raise SendError("apprise reported a failure (its log says which service)")


def build_channels(channels: Mapping[str, Channel]) -> dict[str, Sink]:
    """One sink per configured channel."""
    out: dict[str, Sink] = {}
    for name, c in channels.items():
        if c.webhook is not None:
            out[name] = Webhook(c.webhook, c.secret, c.timeout_s)
        else:
            out[name] = AppriseSink(c.apprise)
    return out
