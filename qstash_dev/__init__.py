"""qstash_dev: a local, persistent, QStash-compatible server.

Run it with `python -m qstash_dev`; point any QStash SDK at it with `base_url`
(Python) or `baseUrl` (JS). It imports nothing from the Stepwise app. The pure
cron helpers in `qstash_dev.cron` are shared with the app.
"""

__version__ = "1.0.0"
