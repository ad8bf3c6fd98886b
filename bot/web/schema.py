"""The OpenAPI description of /api/ask and /healthz: request body, answer, every error."""

from bot.history import MAX_TURN_CHARS, MAX_TURNS
from bot.web.limits import ASK_TIMEOUT_S, MAX_BODY_BYTES

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "what was wrong and how to fix it"}},
}
_TURN = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {"role": {"type": "string", "enum": ["user", "assistant"]}, "content": {"type": "string"}},
}
ASK_BODY = {
    "type": "object",
    "required": ["question"],
    "properties": {
        "question": {"type": "string", "description": "cut to BOT_MAX_QUESTION_CHARS characters, with a notice"},
        "history": {
            "type": "array",
            "items": _TURN,
            "default": [],
            "description": f"earlier turns, oldest first; only the last {MAX_TURNS} are used, each cut to {MAX_TURN_CHARS} characters",
        },
    },
}
_STR_LIST = {"type": "array", "items": {"type": "string"}}
ANSWER = {
    "type": "object",
    "required": ["text", "lang", "intent", "entities", "refused", "citations", "retrieved", "backend", "timings_ms"],
    "properties": {
        "text": {"type": "string", "description": "Markdown with [n] citation markers"},
        "lang": {"type": "string"},
        "intent": {"type": "string", "description": "classify | compare | explain | list | correct | refuse | chat"},
        "entities": _STR_LIST,
        "refused": {"type": "boolean"},
        "citations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["n", "doc_id", "entity", "title", "snippet", "source"],
                "properties": {
                    "n": {"type": "integer"},
                    **{k: {"type": "string"} for k in ("doc_id", "entity", "title", "snippet", "source", "chunk_id", "heading")},
                },
            },
        },
        "retrieved": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["chunk_id", "doc_id", "entity"],
                "properties": {
                    "chunk_id": {"type": "string"},
                    "doc_id": {"type": "string"},
                    "entity": {"type": "string"},
                    "score": {"type": "number"},
                },
            },
        },
        "backend": {"type": "string", "description": "composer | openai:MODEL"},
        "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
        "notices": _STR_LIST,
        "question": {"type": "string", "description": "the question as understood (cleaned, maybe cut)"},
        "standalone": {"type": "string"},
    },
}


def json_response(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ASK_RESPONSES = {
    200: json_response(ANSWER, "the answer (the Answer object of INTERFACES.md)"),
    400: json_response(_ERROR, "the body is not JSON, or the question is empty"),
    413: json_response(_ERROR, f"the body is over {MAX_BODY_BYTES} bytes"),
    422: json_response(_ERROR, "the JSON does not have the shape of the request body"),
    429: json_response(_ERROR, "over BOT_RATE_LIMIT requests a minute from this client; see Retry-After"),
    503: json_response(_ERROR, "the index is missing or unreadable, or the Chroma server is down; the error says the fix"),
    504: json_response(_ERROR, f"no answer within {ASK_TIMEOUT_S:g} s"),
}
HEALTH = {
    "type": "object",
    "required": ["ok", "index", "chunks"],
    "properties": {
        "ok": {"type": "boolean"},
        "index": {"type": "boolean"},
        "chunks": {"type": "integer"},
        "generation": {"type": "string"},
        "error": {"type": "string"},
        **{k: {"type": "string"} for k in ("version", "embedder", "llm", "chroma")},
        "slack": {"type": "boolean"},
        "ui": {"type": "string", "enum": ["loading", "ready", "failed"], "description": "whether the chat at / is up yet"},
    },
}
