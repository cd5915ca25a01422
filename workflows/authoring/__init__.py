"""Authoring: what people write and read back, checked before anything is stored.

Module map:

- `definitions`   validation of goals, schedules, timezones, overlap and steps (StepSpec)
- `editing`       create, change and delete workflows (QStash first, then the database)
- `planning`      the model proposes steps for a goal, validated like hand-written ones
- `owned`         the caller's workflow / run / approval, else NotFound; every list
- `pagination`    keyset pagination with an opaque cursor
- `serialize`     the JSON shapes of the API
- `proposals`     what a step proposes, arranged to read (post, email, webhook), and time left
- `input_form`    a tool's input as form fields from its JSON Schema, and the form read back
- `mailbox`       the dev mailbox's list and its sanitised email HTML
"""
