"""Integrations: everything that talks to the world outside Stepwise's database.

Module map:

- `llm`           the OpenAI-compatible Chat Completions client, its errors and prices
- `agent`         the step agent: one forced tool call fills the fields a step leaves empty
- `linkedin`      LinkedIn credentials (encrypted), OAuth sign-in, commentary escaping
- `guarded_http`  the one outbound HTTP client: SSRF guard, redirects, size and time caps
- `crypto`        Fernet encryption of stored secrets, keyed from SECRET_KEY
- `accounts`      users, passwords, login throttling, API tokens
"""
