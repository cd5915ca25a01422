"""The domain of Stepwise: no Flask request objects in it; collaborators come in as `Services`.

Module map (docs/architecture.md explains the design):

- `ports`         Services: the settings, queue, model and clock the domain is handed
- `errors`        DomainError and its statuses (400/404/409/422/503, Refused); ToolError, RetryableToolError
- `usage`         Usage: tokens and what they cost
- `encoding`      the strict JSON reader every body goes through; base64 with or without padding
- `transactions`  how SQLite transactions begin: IMMEDIATE unless the request never writes
- `engine/`       the step engine: one step per QStash delivery, runs, approvals, publishing
- `authoring/`    what people write: validation, editing, planning, owned reads, JSON shapes
- `integrations/` the outside world: the model, LinkedIn, guarded HTTP, crypto, accounts
- `tools/`        the tool registry and one module per tool
"""
