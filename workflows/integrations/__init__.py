"""Integrations: everything that talks to the world outside Stepwise's database.

Module map:

- `llm`           the OpenAI-compatible Chat Completions client, its errors and prices
- `agent`         the step agent: one forced tool call fills the fields a step leaves empty
- `linkedin`      LinkedIn credentials (encrypted), OAuth sign-in, commentary escaping
- `guarded_http`  the one outbound HTTP client: SSRF guard, redirects, size and time caps
- `crypto`        Fernet encryption of stored secrets, keyed from SECRET_KEY
- `accounts`      users, passwords, sessions, login throttling, API tokens
- `profile`       a person's own changes: password, email, notifications, time zone, reset
- `signed_links`  signed, expiring tokens of emailed links (approval, reset, verification)
- `mail`          the SMTP Mailer (Flask-Mail with a timeout)
"""
