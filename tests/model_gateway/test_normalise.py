"""Reply normalisation rules (SPEC 5), checked directly on the function."""

from __future__ import annotations

import json

from services.model_gateway.normalise import normalise_reply


def normalised(reply: str) -> object:
    return json.loads(normalise_reply(reply, "openrouter", "the input"))


def test_raw_plan_is_re_emitted_with_model_type_and_prompt() -> None:
    reply = '{"steps": ["a", "b"], "extra": 1, "prompt": "other"}'
    assert normalised(reply) == {
        "model_type": "openrouter",
        "steps": ["a", "b"],
        "prompt": "the input",
    }


def test_fenced_json_is_found_inside_prose() -> None:
    reply = 'Here you go:\n```json\n{"tool": {"name": "web_search", "args": {"query": "x"}}}\n```'
    assert normalised(reply) == {
        "tool": {"name": "web_search", "args": {"query": "x"}},
        "model_type": "openrouter",
        "prompt": "the input",
    }


def test_tool_keeps_given_model_type_and_prompt_and_defaults_args() -> None:
    reply = '{"model_type": "m", "prompt": "p", "tool": {"name": " weather_tool "}}'
    assert normalised(reply) == {
        "model_type": "m",
        "prompt": "p",
        "tool": {"name": "weather_tool", "args": {}},
    }


def test_invalid_candidates_fall_back_to_wrapping_the_text() -> None:
    for reply in (
        '{"steps": []}',
        '{"steps": ["ok", "  "]}',
        '{"steps": ["ok", 3]}',
        '{"tool": {"name": "  "}}',
        '{"tool": {"name": "web_search", "args": "query=x"}}',
        '{"tool": "web_search"}',
        '["a", "b"]',
        "```\nnot json\n```",
        "Just do it.",
    ):
        assert normalised(reply) == {
            "model_type": "openrouter",
            "steps": [reply],
            "prompt": "the input",
        }, reply


def test_invalid_tool_with_valid_steps_is_a_plan() -> None:
    reply = '{"tool": {"name": ""}, "steps": ["answer"]}'
    assert normalised(reply) == {
        "model_type": "openrouter",
        "steps": ["answer"],
        "prompt": "the input",
    }


def test_second_fence_is_used_when_the_first_is_not_valid() -> None:
    reply = '```\n{"steps": []}\n```\nthen\n```json\n{"steps": ["real"]}\n```'
    assert normalised(reply) == {
        "model_type": "openrouter",
        "steps": ["real"],
        "prompt": "the input",
    }


def test_prompt_is_the_users_prompt_of_a_framed_input() -> None:
    planner_input = (
        "<session_history>\nuser: earlier\n</session_history>\n\n"
        "<rag_context>\n**Domain-KB**\nID: d\nText: t\n---\n</rag_context>\n\n"
        "<user_prompt>\nhello\n</user_prompt>\n"
    )
    for reply in ('{"steps": ["hi"]}', '{"tool": {"name": "web_search"}}', "plain text"):
        shaped = json.loads(normalise_reply(reply, "openai", planner_input))
        assert shaped["prompt"] == "hello", reply
