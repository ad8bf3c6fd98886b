"""Limits and fixed values of the web server, in one place."""

# A request that takes longer than this is cut off with a message instead of hanging the client.
ASK_TIMEOUT_S = 30.0
# Bodies above this are refused before parsing; the bot itself truncates long questions.
MAX_BODY_BYTES = 1_000_000
# Slack's payloads are a few kB; a message is at most 40,000 characters.
SLACK_MAX_BODY_BYTES = 1_000_000
# The chat's requests carry the conversation shown so far (a 100,000-character paste is 300 kB).
MAX_UI_BODY_BYTES = 4_000_000
# Gradio routes that take files; the chat has no file input, so they are closed.
CLOSED_GRADIO_ROUTES = {"upload", "process_recording"}
# Images (and everything else) load only from this server.
CSP = "img-src 'self' data: blob:"
# A reader renews its lease on the generation it answers from this often (bot.store.LEASE_TTL_S is 1 h).
LEASE_RENEW_S = 300
