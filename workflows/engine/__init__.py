"""The step engine: each step of a run is one signed QStash delivery (docs/architecture.md).

Module map:

- `delivery`      handle_step: parse the step message, claim the step (the claim table), prepare
                  the input, run the tool
- `attempt`       Attempt (the ids of the attempt in hand and its claim token), ClaimedStep, and
                  the loaders of what only some steps need (goal, owner, earlier outputs, decision)
- `outcomes`      the guarded commits that end an attempt: completed, awaiting approval, failed,
                  given back for a retry
- `replies`       Reply and the consumer's vocabulary: ok, 409/503 with Retry-After, 489 non-retryable
- `conversation`  the run's conversation with the model: load, append, the synthetic tool exchange
- `runs`          run creation (run now, ticks, the overlap policy, supersede), and every change
                  of a run's status (the only module that writes it): finish, pause for approval
                  or budget, reopen for a retry or a resume
- `approvals`     decide once (approve, edit & approve, reject, request changes), expire
- `costs`         what a workflow costs: the month's spend (in its zone), a run's projected cost,
                  a step's median cost, a prompt priced before it is sent
- `cost_guard`    the check before every model call, the workflow's pause (marked for
                  `schedules.settle` after the commit) and its one email, resuming a run
- `retries`       retry a failed run from its failed step (`confirmedOutcome` for a maybe-posted step)
- `undeliverable` a workflow's step messages in QStash's DLQ (listed by label), retried through
                  the run's retry or discarded
- `consumers`     the consumers beside the step: schedule ticks, the failure callback, the sweep
- `publishing`    every QStash message as a PendingPublish row, flushed after the commit
- `queue_client`  QStash through the official SDK (4xx refused vs unavailable); signature verification
- `schedules`     workflow schedules in QStash; the one mark and the one repair (`settle`, the
                  sweep's `repair_changes`) for a schedule that may disagree with the database,
                  whether a change or the cost guard's pause left it; next fire times; which
                  tick a delivery is
- `tool_context`  the ToolContext a claimed step's tool sees
- `references`    Jinja references to earlier outputs, rendered in a sandbox
- `bounded`       a render in a forked child under CPU, memory and wall-time limits
- `outbox`        emails as outbox rows, rendered from templates/email, written in the
                  transaction that decides them
- `sending`       the outbox over SMTP after the commit, claimed once, retried with backoff
"""
