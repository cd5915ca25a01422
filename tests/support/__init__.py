"""Shared test servers and doubles, one of each, imported wherever they are needed.

- `stack_tier`    the `stack` marker set by `stack_fixture`, and the guard that keeps every other
                  test from listening on a socket or starting a process
- `loopback`      `ServerThread` (any socketserver-based server in a thread) and `free_port`
- `live_server`   `LiveServer`: the app on a real socket, in a thread of the test process
- `qstash_server` `QStashDevProcess`: `python -m qstash_dev` as a real subprocess
- `memory_queue`  `MemoryQueue`: the in-memory `Queue`, checked against the real one
- `signing`       Upstash-Signature JWTs made and read by hand
- `recorder`      `Recorder`: a webhook receiver that records requests and answers as told
- `fake_openai`   `FakeOpenAI`: a scripted OpenAI-compatible Chat Completions server
- `linkedin_standin` LinkedIn's OAuth and REST endpoints, strict about every field
- `tool_context`  ToolContexts for tests that run a tool directly
- `waiting`       `eventually`: wait for a positive signal instead of sleeping
"""
