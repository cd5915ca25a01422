"""Authoring: what people write and read back, checked before anything is stored.

Module map:

- `definitions`   validation of goals, schedules, timezones, overlap and steps (StepSpec)
- `editing`       create, change and delete workflows (QStash first, then the database)
- `planning`      the model proposes steps for a goal, validated like hand-written ones
- `owned`         the caller's workflow / run / approval, else NotFound; every list (the last
                  runs of a page of workflows in one statement)
- `recipes`       complete workflows to start from, runnable without a model
- `schedule_text` a schedule in words (cron-descriptor) and its next runs
- `trial`         "Test step": a read-only tool run now from the form, nothing stored
- `pagination`    keyset pagination with an opaque cursor
- `serialize`     the JSON shapes of the API
- `proposals`     what a step proposes, arranged to read (post, email, webhook), time left, and
                  when the next tick supersedes it (overlap supersede)
- `changes`       a proposal against the last approved version of its step: word diff, similarity
- `input_form`    a tool's input as form fields from its JSON Schema, and the form read back
- `mailbox`       the dev mailbox's list and its sanitised email HTML
"""
