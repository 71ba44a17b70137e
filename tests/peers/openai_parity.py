#!/usr/bin/env python3
"""Consumer parity: the official OpenAI Python SDK (`openai` on PyPI), pointed at the endpoint
the smoke probes, judges the same three things the smoke judges, with the smoke's own
questions, and prints its verdicts as one JSON document on stdout:

  {"sdk": "openai <version>",
   "chat_completion": {"verdict": "pass|fail", "why": ...},
   "json_schema":     {"verdict": "pass|fail", "why": ...},
   "tool_call":       {"verdict": "pass|fail", "why": ...}}

- chat_completion: `chat.completions.create`; passes on non-blank `message.content`.
- json_schema: `chat.completions.parse` with a Pydantic model of the smoke's asked keys
  (`capital: str`, `letters: int`), which the SDK sends as a strict `json_schema`
  `response_format` and validates; passes when `message.parsed` is set.
- tool_call: `chat.completions.create` offering `get_weather(city: string)`; passes when
  `tool_calls[0]` names it and its arguments parse to an object with a string `city`.

The key comes from the environment (OPENAI_API_KEY), never from argv.
Usage: openai_parity.py --base-url URL --model NAME [--max-tokens N]
Exit 0 when the three verdicts were reached (pass or fail); 1 when the SDK could not be used.
"""

import argparse
import json
import os
import sys

import openai
from pydantic import BaseModel

# The smoke's questions (src/smoke/checks.rs), so that both judge the same answers.
PONG = "Reply with the single word: pong"
JSON_PROMPT = (
    "What is the capital of France, and how many letters does its name have? Answer as a "
    'JSON object with exactly these keys: "capital" (string), "letters" (integer).'
)
WEATHER = "What is the weather in Paris right now? Use the tool you are given."
TOOLS = [{"type": "function", "function": {
    "name": "get_weather",
    "description": "Get the current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city name."}},
        "required": ["city"],
    },
}}]


class Capital(BaseModel):
    capital: str
    letters: int


def verdict(ok, why):
    return {"verdict": "pass" if ok else "fail", "why": why}


def failed(exc):
    return verdict(False, f"{type(exc).__name__}: {exc}"[:300])


def chat(client, model, max_tokens):
    try:
        r = client.chat.completions.create(
            model=model, max_tokens=max_tokens,
            messages=[{"role": "user", "content": PONG}])
    except openai.OpenAIError as exc:
        return failed(exc)
    content = r.choices[0].message.content
    return verdict(bool(content and content.strip()), f"content={content!r}"[:300])


def json_schema(client, model, max_tokens):
    try:
        r = client.chat.completions.parse(
            model=model, max_tokens=max_tokens, response_format=Capital,
            messages=[{"role": "user", "content": JSON_PROMPT}])
    except (openai.OpenAIError, ValueError) as exc:
        # pydantic's ValidationError is a ValueError: content that is not the asked object
        return failed(exc)
    m = r.choices[0].message
    if m.refusal:
        return verdict(False, f"refusal={m.refusal!r}"[:300])
    return verdict(m.parsed is not None, f"parsed={m.parsed!r}"[:300])


def tool_call(client, model, max_tokens):
    try:
        r = client.chat.completions.create(
            model=model, max_tokens=max_tokens, tools=TOOLS,
            messages=[{"role": "user", "content": WEATHER}])
    except openai.OpenAIError as exc:
        return failed(exc)
    calls = r.choices[0].message.tool_calls or []
    if not calls:
        return verdict(False, "no tool_calls")
    fn = calls[0].function
    if fn.name != "get_weather":
        return verdict(False, f"function={fn.name!r}")
    try:
        args = json.loads(fn.arguments)
    except (TypeError, ValueError) as exc:
        return failed(exc)
    ok = isinstance(args, dict) and isinstance(args.get("city"), str)
    return verdict(ok, f"arguments={fn.arguments!r}"[:300])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--max-tokens", type=int, default=1024)
    a = p.parse_args()
    try:
        # no retries, like the smoke: one request per judgement
        client = openai.OpenAI(base_url=a.base_url, api_key=os.environ.get("OPENAI_API_KEY", "none"),
                               max_retries=0, timeout=120)
    except openai.OpenAIError as exc:
        print(f"openai_parity: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    out = {
        "sdk": f"openai {openai.__version__}",
        "chat_completion": chat(client, a.model, a.max_tokens),
        "json_schema": json_schema(client, a.model, a.max_tokens),
        "tool_call": tool_call(client, a.model, a.max_tokens),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
