#!/usr/bin/env python3
"""Writes tests/fixtures/chat/chat_templates.json: chat templates of widely used model families,
conversations to render with them, and what transformers' apply_chat_template(tokenize=False)
renders (or the error it raises), for tests/unit/chat_template_test.cpp.

The templates are the strings those models ship in tokenizer_config.json / chat_template.json
(there is no network access to the Hub here, so they are written out below). Each template
renders hand-written conversations and seeded random ones built from text that stresses whitespace
handling (Unicode spaces too), escaping and Unicode. A second part,
"features", holds small templates that exercise one interpreter feature each, and a third,
"expressions", seeded random expressions over "expression_variables" (operators, filters, tests,
subscripts, mixed types, many of them errors), and a fourth, "statements", seeded random
templates of if/for/set/namespace/break/continue/comments with random whitespace control, newlines
and indentation (scoping and trim/lstrip rules), and of macros called with random arguments, and a
fifth, "filter_calls", filters with their arguments applied to chat-like data, all rendered by the same Jinja environment, so the
C++ interpreter is checked against Jinja itself rather than against expectations written by hand.

Run with the tools environment (tools/setup_tools_env.sh):  .venv/bin/python tools/gen_chat_template_fixtures.py
"""

import copy
import datetime
import warnings
import json
import random
import pathlib

import jinja2
import transformers
import transformers.utils.chat_template_utils as chat_template_utils
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "chat" / "chat_templates.json"

# strftime_now() reads datetime.now(); the fixtures fix it (the C++ test injects the same time).
FIXED_NOW = datetime.datetime(2024, 7, 26, 14, 5, 9)


class _FixedDatetime(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


chat_template_utils.datetime = _FixedDatetime

LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

LLAMA3_TOOLS_IN_USER = r"""
{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}
"""

LLAMA3_TOOL_RESULTS = r"""
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

LLAMA3_SYSTEM_TOOLS = r"""{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}
"""

LLAMA31 = (
    r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
"""
    + LLAMA3_SYSTEM_TOOLS
    + LLAMA3_TOOLS_IN_USER
    + r"""
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}"""
    + LLAMA3_TOOL_RESULTS
)

LLAMA32 = (
    r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
"""
    + LLAMA3_SYSTEM_TOOLS
    + LLAMA3_TOOLS_IN_USER
    + r"""
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}"""
    + LLAMA3_TOOL_RESULTS
)

MISTRAL_V03 = r"""{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

QWEN25 = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

QWEN3 = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}"""

GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

GEMMA3 = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

# Zephyr and TinyLlama-Chat ship the same template, with real newlines inside the literals.
ZEPHYR = """{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>
'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}"""

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

LLAVA15 = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

# Vicuna v1.5 ships no template; this is the widely used one with its system prompt.
VICUNA = (
    "{% if messages[0]['role'] == 'system' %}{% set system_message = messages[0]['content'] %}{% set loop_messages = messages[1:] %}"
    "{% else %}{% set system_message = 'A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user\\'s questions.' %}{% set loop_messages = messages %}{% endif %}"
    "{{ system_message + ' ' }}{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ 'USER: ' + message['content'] + ' ' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'ASSISTANT: ' + message['content'] + eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

SMOLLM2 = """{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
' }}{% endif %}{{'<|im_start|>' + message['role'] + '
' + message['content'] + '<|im_end|>' + '
'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
' }}{% endif %}"""

HERMES2_PRO_TOOL_USE = """{%- macro json_to_python_type(json_spec) %}
{%- set basic_type_map = {
    "string": "str",
    "number": "float",
    "integer": "int",
    "boolean": "bool"
} %}

{%- if basic_type_map[json_spec.type] is defined %}
    {{- basic_type_map[json_spec.type] }}
{%- elif json_spec.type == "array" %}
    {{- "list[" +  json_to_python_type(json_spec|items) + "]"}}
{%- elif json_spec.type == "object" %}
    {%- if json_spec.additionalProperties is defined %}
        {{- "dict[str, " + json_to_python_type(json_spec.additionalProperties) + ']'}}
    {%- else %}
        {{- "dict" }}
    {%- endif %}
{%- elif json_spec.type is iterable %}
    {{- "Union[" }}
    {%- for t in json_spec.type %}
      {{- json_to_python_type({"type": t}) }}
      {%- if not loop.last %}
        {{- "," }} 
    {%- endif %}
    {%- endfor %}
    {{- "]" }}
{%- else %}
    {{- "Any" }}
{%- endif %}
{%- endmacro %}


{{- bos_token }}
{{- '<|im_start|>system
' }}
{{- "You are a function calling AI model. You are provided with function signatures within <tools></tools> XML tags. You may call one or more functions to assist with the user query. Don't make assumptions about what values to plug into functions. Here are the available tools: <tools> " }}
{%- for tool in tools %}
    {%- if tool.function is defined %}
        {%- set tool = tool.function %}
    {%- endif %}
    {{- '{"type": "function", "function": ' }}
    {{- '{"name": "' + tool.name + '", ' }}
    {{- '"description": "' + tool.name + '(' }}
    {%- for param_name, param_fields in tool.parameters.properties|items %}
        {{- param_name + ": " + json_to_python_type(param_fields) }}
        {%- if not loop.last %}
            {{- ", " }}
        {%- endif %}
    {%- endfor %}
    {{- ")" }}
    {%- if tool.return is defined %}
        {{- " -> " + json_to_python_type(tool.return) }}
    {%- endif %}
    {{- " - " + tool.description + "

" }}
    {%- for param_name, param_fields in tool.parameters.properties|items %}
        {%- if loop.first %}
            {{- "    Args:
" }}
        {%- endif %}
        {{- "        " + param_name + "(" + json_to_python_type(param_fields) + "): " + param_fields.description|trim }}
    {%- endfor %}
    {%- if tool.return is defined and tool.return.description is defined %}
        {{- "
    Returns:
        " + tool.return.description }}
    {%- endif %}
    {{- '"' }}
    {{- ', "parameters": ' }}
    {%- if tool.parameters.properties | length == 0 %}
        {{- "{}" }}
    {%- else %}
        {{- tool.parameters|tojson }}
    {%- endif %}
    {{- "}" }}
    {%- if not loop.last %}
        {{- "
" }}
    {%- endif %}
{%- endfor %}
{{- " </tools>" }}
{{- 'Use the following pydantic model json schema for each tool call you will make: {"properties": {"name": {"title": "Name", "type": "string"}, "arguments": {"title": "Arguments", "type": "object"}}, "required": ["name", "arguments"], "title": "FunctionCall", "type": "object"}
' }}
{{- "For each function call return a json object with function name and arguments within <tool_call></tool_call> XML tags as follows:
" }}
{{- "<tool_call>
" }}
{{- '{"name": <function-name>, "arguments": <args-dict>}
' }}
{{- '</tool_call><|im_end|>
' }}
{%- for message in messages %}
    {%- if message.role == "user" or message.role == "system" or (message.role == "assistant" and message.tool_calls is not defined) %}
        {{- '<|im_start|>' + message.role + '
' + message.content + '<|im_end|>' + '
' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
    {%- for tool_call in message.tool_calls %}
       {{- '
<tool_call>
' }}           {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '{' }}
            {{- '"name": "' }}
            {{- tool_call.name }}
            {{- '"' }}
            {{- ', '}}
            {%- if tool_call.arguments is defined %}
                {{- '"arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments|tojson }}
                {%- endif %}
            {%- endif %}
            {{- '}' }}
            {{- '
</tool_call>' }}
    {%- endfor %}
        {{- '<|im_end|>
' }}
    {%- elif message.role == "tool" %}
        {%- if loop.previtem and loop.previtem.role != "tool" %}
            {{- '<|im_start|>tool
' }}
        {%- endif %}
        {{- '<tool_response>
' }}
        {{- message.content }}
        {%- if not loop.last %}
            {{- '
</tool_response>
' }}
        {%- else %}
            {{- '
</tool_response>' }}
        {%- endif %}
        {%- if not loop.last and loop.nextitem.role != "tool" %}
            {{- '<|im_end|>' }}
        {%- elif loop.last %}
            {{- '<|im_end|>' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant
' }}
{%- endif %}
"""

# Not a model's template: shows exactly what transformers passes to templates (normalised messages,
# tools, documents, special tokens, extra variables).
INSPECT = (
    "{{ messages | tojson }}|{{ tools | tojson }}|{{ documents | tojson }}|{{ add_generation_prompt }}|"
    "{{ bos_token }}|{{ eos_token }}|{{ unk_token }}|{{ pad_token }}|{{ enable_thinking }}"
)

LLAMA_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
LLAMA3_TOKENS = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
CHATML_TOKENS = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}

# name: (family, template, special tokens, which conversations it renders)
TEMPLATES = {
    "llama2": ("Llama-2-chat", LLAMA2, LLAMA_TOKENS, "plain"),
    "llama3.1": ("Llama-3.1-Instruct", LLAMA31, LLAMA3_TOKENS, "llama3"),
    "llama3.2": ("Llama-3.2-Instruct", LLAMA32, LLAMA3_TOKENS, "llama3"),
    "mistral-v0.3": ("Mistral-7B-Instruct-v0.3", MISTRAL_V03, LLAMA_TOKENS, "mistral"),
    "qwen2.5": ("Qwen2.5-Instruct", QWEN25, {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}, "qwen"),
    "qwen3": ("Qwen3 (thinking)", QWEN3, {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}, "qwen3"),
    "gemma2": ("gemma-2-it", GEMMA2, {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"}, "plain"),
    "gemma3": ("gemma-3-it", GEMMA3, {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"}, "parts"),
    "phi3": ("Phi-3-mini-instruct", PHI3, {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>", "pad_token": "<|endoftext|>"}, "plain"),
    "zephyr": ("zephyr-7b-beta", ZEPHYR, LLAMA_TOKENS, "plain"),
    "tinyllama": ("TinyLlama-1.1B-Chat-v1.0", ZEPHYR, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "</s>"}, "plain"),
    "chatml": ("ChatML (OpenHermes-2.5)", CHATML, CHATML_TOKENS, "plain"),
    "llava-1.5": ("llava-1.5 (Vicuna-style prompt)", LLAVA15, LLAMA_TOKENS, "parts"),
    "vicuna": ("Vicuna v1.5 (community template)", VICUNA, LLAMA_TOKENS, "plain"),
    "smollm2": ("SmolLM2-Instruct", SMOLLM2, {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "unk_token": "<|endoftext|>", "pad_token": "<|im_end|>"}, "plain"),
    "inspect": ("(what templates see)", INSPECT, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, "inspect"),
    "hermes2-pro-tool-use": ("Hermes-2-Pro-Llama-3 (tool_use)", HERMES2_PRO_TOOL_USE, {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"}, "tools"),
}

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
CONVERSATIONS = {
    "single_user": [{"role": "user", "content": "Hello!"}],
    "system_user": [SYSTEM, {"role": "user", "content": "What is 2+2?"}],
    "multi_turn": [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "system_multi_turn": [
        SYSTEM,
        {"role": "user", "content": "  Spaces around  "},
        {"role": "assistant", "content": "\nNewlines around\n"},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "You're welcome."},
    ],
    "non_ascii": [
        {"role": "system", "content": "Réponds en français, s'il te plaît. 🙂"},
        {"role": "user", "content": "日本語で答えてください。Ünïcödé «quotes» \"double\" 'single' \\ back\tslash"},
        {"role": "assistant", "content": "はい、もちろん！🎉 Ça va? ß ΣΑΣ"},
        {"role": "user", "content": "👍🏽 emoji with modifier, zero\u200bwidth, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"},
    ],
    "empty_content": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}, {"role": "user", "content": ""}],
    "ends_with_assistant": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}],
    "not_alternating": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
    "starts_with_assistant": [{"role": "assistant", "content": "I speak first"}, {"role": "user", "content": "ok"}],
    "null_fields": [{"role": "user", "content": "Hello", "name": None, "tool_calls": None}],
    "jinja_in_content": [{"role": "user", "content": "{{ not a template }} {% raw %} {# #} and a }} brace"}],
    "multiline": [SYSTEM, {"role": "user", "content": "line 1\nline 2\r\nline 3\n\n"}],
}
PARTS_CONVERSATIONS = {
    "parts_text": [{"role": "user", "content": [{"type": "text", "text": "Describe this."}]}],
    "parts_image_text": [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in the image?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat on a mat."}]},
        {"role": "user", "content": [{"type": "text", "text": "And this one? "}, {"type": "image"}]},
    ],
    "parts_system": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "  Hi  "}]},
    ],
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": " The unit "},
                "days": {"type": "integer", "description": "Forecast days"},
                "hourly": {"type": "boolean", "description": "Hourly data"},
                "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags"},
                "extra": {"type": "object", "additionalProperties": {"type": "number"}, "description": "Extra"},
                "either": {"type": ["string", "number"], "description": "Either"},
            },
            "required": ["location"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web ☀️",
        "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "What to look for"}}},
        "return": {"type": "string", "description": "The results"},
    },
}
TOOLS = [WEATHER_TOOL, SEARCH_TOOL]
TOOL_CALL_CONVERSATION = [
    {"role": "user", "content": "What's the weather in Paris?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call12345", "type": "function", "function": {"name": "get_current_weather", "arguments": {"location": "Paris, France", "unit": "celsius"}}}
        ],
    },
    {"role": "tool", "tool_call_id": "call12345", "name": "get_current_weather", "content": "22.5 °C, sunny"},
]
TWO_TOOL_RESULTS = TOOL_CALL_CONVERSATION[:2] + [
    {"role": "tool", "tool_call_id": "call12345", "content": "first"},
    {"role": "tool", "tool_call_id": "call12345", "content": "second"},
    {"role": "assistant", "content": "Done."},
]


# Pieces of message text that stress whitespace handling, escaping and Unicode.
TEXT_PIECES = [
    "Hello", "  leading", "trailing  ", "\n", "\n\n", "\r\n", "\t", " ", "", "é", "日本語", "🙂", "👨‍👩‍👧", "ß", "İ",
    "'", '"', "\\", "{{ x }}", "{% if %}", "</s>", "<|im_end|>", "[INST]", "<think>", "</think>", "null", "None",
    "0", "-1.5", "a,b", "\u00a0", "\u2028", "\u3000", "ǅ",
]


def random_conversations(rng, count, parts):
    """Seeded random conversations: optional system message, then user/assistant turns (mostly
    alternating), text assembled from TEXT_PIECES, as content parts when `parts`."""
    conversations = []
    for index in range(count):
        messages = []
        if rng.random() < 0.4:
            messages.append({"role": "system", "content": "".join(rng.choices(TEXT_PIECES, k=rng.randint(0, 4)))})
        for turn in range(rng.randint(1, 5)):
            role = "user" if turn % 2 == 0 else "assistant"
            if rng.random() < 0.05:
                role = rng.choice(["user", "assistant"])
            text = "".join(rng.choices(TEXT_PIECES, k=rng.randint(0, 6)))
            content = [{"type": "text", "text": text}] if parts and rng.random() < 0.7 else text
            if parts and isinstance(content, list) and rng.random() < 0.3:
                content.insert(rng.randint(0, 1), {"type": "image"})
            messages.append({"role": role, "content": content})
        conversations.append((f"random_{index}", messages, {}))
    return conversations


def conversations_for(kind):
    """(conversation name, messages, extra variables) the template renders."""
    plain = [(name, msgs, {}) for name, msgs in CONVERSATIONS.items()]
    if kind == "plain":
        return plain
    if kind == "parts":
        return plain + [(name, msgs, {}) for name, msgs in PARTS_CONVERSATIONS.items()]
    if kind == "llama3":
        return plain + [
            ("tools", [SYSTEM, {"role": "user", "content": "Weather in Paris?"}], {"tools": TOOLS}),
            ("tools_in_system", [SYSTEM, {"role": "user", "content": "Weather?"}], {"tools": TOOLS, "tools_in_user_message": False}),
            ("tool_call", TOOL_CALL_CONVERSATION, {"tools": TOOLS}),
            ("builtin_tools", TOOL_CALL_CONVERSATION, {"builtin_tools": ["brave_search", "code_interpreter", "get_current_weather"]}),
            ("date_string", [{"role": "user", "content": "Date?"}], {"date_string": "01 Jan 2025"}),
            ("tools_no_user", [], {"tools": TOOLS}),
        ]
    if kind == "mistral":
        return plain + [
            ("tools", [{"role": "user", "content": "Weather in Paris?"}], {"tools": TOOLS}),
            ("tool_call", TOOL_CALL_CONVERSATION + [{"role": "assistant", "content": "It is sunny."}, {"role": "user", "content": "Thanks"}], {"tools": TOOLS}),
            ("bad_tool_id", [TOOL_CALL_CONVERSATION[0], {"role": "assistant", "tool_calls": [{"id": "x", "function": {"name": "f", "arguments": {}}}]}], {}),
            ("unknown_role", [{"role": "narrator", "content": "Once upon a time"}], {}),
        ]
    if kind == "qwen":
        return plain + [(name, msgs, {}) for name, msgs in PARTS_CONVERSATIONS.items()] + [
            ("tools", [{"role": "user", "content": "Weather in Paris?"}], {"tools": TOOLS}),
            ("tools_system", [SYSTEM, {"role": "user", "content": "Weather in Paris?"}], {"tools": TOOLS}),
            ("tool_call", TOOL_CALL_CONVERSATION, {"tools": TOOLS}),
            ("two_tool_results", TWO_TOOL_RESULTS, {"tools": TOOLS}),
            ("tool_call_with_text", [TOOL_CALL_CONVERSATION[0], dict(TOOL_CALL_CONVERSATION[1], content="Let me check.")], {}),
        ]
    if kind == "qwen3":
        thinking_turns = [
            {"role": "user", "content": "What is 3*7?"},
            {"role": "assistant", "content": "<think>\nThree sevens.\n</think>\n\n21"},
            {"role": "user", "content": "And 3*8?"},
            {"role": "assistant", "content": "24", "reasoning_content": "\nOne more three.\n"},
        ]
        return plain + [
            ("thinking_history", thinking_turns, {}),
            ("thinking_history_last_user", thinking_turns + [{"role": "user", "content": "Thanks"}], {}),
            ("enable_thinking_false", [{"role": "user", "content": "Quick answer"}], {"enable_thinking": False}),
            ("enable_thinking_true", [{"role": "user", "content": "Think hard"}], {"enable_thinking": True}),
            ("tools", [SYSTEM, {"role": "user", "content": "Weather in Paris?"}], {"tools": TOOLS}),
            ("tool_call", TOOL_CALL_CONVERSATION + [{"role": "assistant", "content": "It is 22.5 °C."}], {"tools": TOOLS}),
            ("two_tool_results", TWO_TOOL_RESULTS, {"tools": TOOLS}),
        ] + [(name, msgs, {}) for name, msgs in PARTS_CONVERSATIONS.items()]
    if kind == "inspect":
        return [
            ("null_fields", CONVERSATIONS["null_fields"], {}),
            ("reasoning", [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "reasoning": "because"}], {}),
            ("reasoning_content", [{"role": "assistant", "thinking": "t0", "content": "a", "reasoning_content": "rc"}], {}),
            ("reasoning_null", [{"role": "assistant", "reasoning_content": None, "thinking": "t", "content": "a"}], {}),
            ("parts", PARTS_CONVERSATIONS["parts_image_text"], {}),
            ("variables", [{"role": "user", "content": "x"}], {"tools": TOOLS[:1], "documents": [{"title": "T", "text": "doc"}], "enable_thinking": False, "bos_token": "<override>"}),
        ]
    if kind == "tools":
        return [
            ("tools", [SYSTEM, {"role": "user", "content": "Weather in Paris?"}], {"tools": TOOLS}),
            ("tool_call", TOOL_CALL_CONVERSATION, {"tools": TOOLS}),
            ("two_tool_results", TWO_TOOL_RESULTS, {"tools": TOOLS}),
            ("string_arguments", [TOOL_CALL_CONVERSATION[0], {"role": "assistant", "tool_calls": [{"function": {"name": "search", "arguments": "{\"query\": \"x\"}"}}]}], {"tools": TOOLS}),
        ]
    raise ValueError(kind)


def make_tokenizer(template, special_tokens):
    backend = Tokenizer(models.WordLevel(vocab={"<unk>": 0}, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=backend, chat_template=template, **special_tokens)


def render_case(tokenizer, messages, add_generation_prompt, variables):
    """{"expected": text} or {"error": message, "raised": bool} as transformers renders it."""
    variables = dict(variables)
    tools = variables.pop("tools", None)
    try:
        text = tokenizer.apply_chat_template(
            messages, tools=tools, tokenize=False, add_generation_prompt=add_generation_prompt, **variables
        )
        return {"expected": text}
    except jinja2.exceptions.TemplateError as e:
        # raise_exception() raises TemplateError itself; UndefinedError etc. are subclasses.
        return {"error": str(e), "raised": type(e) is jinja2.exceptions.TemplateError}
    except Exception as e:  # TypeError from '+' on a list, IndexError from messages[0], ...
        return {"error": f"{type(e).__name__}: {e}", "raised": False}


# Small templates, one interpreter feature each, rendered by Jinja in transformers' environment.
FEATURES = [
    # whitespace control and trim_blocks / lstrip_blocks
    ("{% if true %}\n  yes\n{% endif %}\n", {}),
    ("  {% if true %}\n  indented\n  {% endif %}\nend", {}),
    ("a  {{- ' b ' -}}  c", {}),
    ("a\n  {%- if true -%}\n  b\n  {%- endif %}\n  c", {}),
    ("{%+ if true %}x{% endif +%}\nkept", {}),
    ("  {# comment #}\nafter comment\n{#- trimmed -#}  x", {}),
    ("line\r\nwindows\rmac\n", {}),
    ("{{ 'trailing' }}\n\n", {}),
    ("  {{ 'var not lstripped' }}\n  {% set x = 1 %}\nz", {}),
    # loops
    ("{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}", {"items": ["a", "b", "c"]}),
    ("{% for x in items %}{{ loop.previtem }}>{{ x }}>{{ loop.nextitem }};{% endfor %}", {"items": [1, 2, 3]}),
    ("{% for x in items if x is odd %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% else %}none{% endfor %}", {"items": [1, 2, 3, 4, 5]}),
    ("{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}{% for k in d %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": [1, 2]}}),
    ("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("{% for x in items %}{{ loop.cycle('odd', 'even') }} {% endfor %}", {"items": [1, 2, 3]}),
    ("{% for row in rows %}{% for c in row %}{{ loop.index }}{% endfor %}/{{ loop.index }} {% endfor %}", {"rows": [[1, 2], [3]]}),
    ("{% for c in 'héllo' %}[{{ c }}]{% endfor %}", {}),
    ("{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", {}),
    # namespaces and scoping
    ("{% set ns = namespace(found=false, n=0) %}{% for m in items %}{% if m > 1 %}{% set ns.found = true %}{% set ns.n = ns.n + m %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.n }}", {"items": [1, 2, 3]}),
    ("{% if true %}{% set leaked = 'yes' %}{% endif %}{{ leaked }}", {}),
    ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (1, 'x') %}{{ t }}", {}),
    ("{% set block %}inner {{ 1 + 1 }}{% endset %}[{{ block }}]", {}),
    # macros and call
    ("{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(punct='.', name='Cy') }}", {}),
    ("{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}", {}),
    ("{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body{% endcall %}", {}),
    ("{% macro m(a) %}{{ a is defined }}{% endmacro %}{{ m() }}", {}),
    ("{% filter upper %}shout {{ 'this' }}{% endfilter %}", {}),
    # expressions
    ("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** -1 }}", {}),
    ("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ 'ab' < 'b' }}", {}),
    ("{{ 'x' in 'xyz' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'xyz' }}", {}),
    ("{{ 1 ~ 2 ~ 'a' ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 'a' + 'b' }}", {}),
    ("{{ 'yes' if x else 'no' }} {{ 'yes' if not x else 'no' }} [{{ 'only' if false }}]", {"x": 0}),
    ("{{ x and y }} {{ x or y }} {{ not x }} {{ none or 'default' }} {{ 0 and 1 }}", {"x": 1, "y": "y"}),
    ("{{ [1, 'a', none, true, 1.5] }} {{ {'a': 1, 'b': [2]} }} {{ (1,) }} {{ 'it\\'s' }} {{ \"q\\\"\" }}", {}),
    ("{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.0 }} {{ 3.14159 }} {{ 1e-5 }} {{ 100.0 / 3 }} {{ 2.5e16 }}", {}),
    ("{{ 'a\\tb\\n' }}|{{ '\\u00e9\\x41\\101' }}|{{ 'back\\\\slash' }}|{{ 'keep\\q' }}", {}),
    ("{{ s[1:3] }} {{ s[::-1] }} {{ s[-2:] }} {{ s[:-1] }} {{ l[1:] }} {{ l[::2] }} {{ s[0] }} {{ s[-1] }} {{ l[-1] }} {{ s[10:] }}", {"s": "héllo", "l": [1, 2, 3, 4]}),
    ("{{ items.0 }} {{ d.key }} {{ d['key'] }} {{ d.get('key') }} {{ d.get('missing', 'fallback') }} {{ d.get('missing') }}", {"items": ["first"], "d": {"key": "v"}}),
    ("[{{ undefined_var }}] {{ undefined_var is defined }} {{ d.missing is defined }} {{ undefined_var | length }} {% for x in undefined_var %}x{% endfor %}{{ 'set' if undefined_var else 'unset' }}", {"d": {}}),
    ("{{ none }} {{ true }} {{ false }} {{ none is none }} {{ True }} {{ None }}", {}),
    # filters
    ("{{ '  pad  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'MiXed' | lower }}|{{ 'MiXed' | upper }}|{{ 'hello wORLD' | capitalize }}|{{ 'hello wORLD-foo (bar)' | title }}", {}),
    ("{{ [3, 1, 2] | length }} {{ 'héllo' | length }} {{ {'a': 1} | length }} {{ [1, 2] | count }} {{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }}", {}),
    ("{{ x | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | d('n') }} {{ 0 | default('z', boolean=true) }}", {}),
    ("{{ [1, 2, 3] | join(', ') }} {{ items | map(attribute='n') | join }} {{ items | map(attribute='missing', default='?') | list }} {{ ['a', 'b'] | map('upper') | list }}", {"items": [{"n": "x"}, {"n": "y"}]}),
    ("{{ 'a-b-a' | replace('a', 'c') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 42 | string }} {{ '42' | int + 1 }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ '2.5' | float }} {{ 3 | float }}", {}),
    ("{{ d | items | list }} {{ d | dictsort }} {{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}", {"d": {"b": 2, "a": 1}}),
    ("{{ users | selectattr('active') | map(attribute='name') | list }} {{ users | rejectattr('active') | map(attribute='name') | list }} {{ users | selectattr('role', 'equalto', 'admin') | list | length }} {{ users | sort(attribute='age') | map(attribute='name') | join(',') }}", {"users": [{"name": "a", "active": True, "role": "admin", "age": 30}, {"name": "b", "active": False, "role": "user", "age": 20}]}),
    ("{{ [1, 2, 2, 'a', 'A'] | unique | list }} {{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }} {{ [1, 5, 3] | max }} {{ [4, 2, 8] | min }} {{ [1, 2, 3] | sum }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.1 | round(0, 'ceil') }} {{ 7 | round }} {{ 7 | round(1, 'floor') }} {{ -2.5 | round }} {{ 0.125 | round(2) }}", {}),
    ("{{ [1, 2, 3, 4] | select('even') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ [0, 1, '', 'a'] | select | list }} {{ [1, 2, 3] | select('greaterthan', 1) | list }}", {}),
    ("{{ 'one\\ntwo\\n\\nthree' | indent(2) }}|{{ 'a\\nb' | indent(4, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}", {}),
    ("{{ 'Hello, world! How are you?' | wordcount }} {{ '<a href=\"x\">&</a>' | e }} {{ '<b>' | safe }} {{ 'abc' | center(9) }}|", {}),
    ("{{ data | tojson }}|{{ data | tojson(indent=2) }}|{{ data | tojson(sort_keys=true) }}|{{ 'é\"\\n' | tojson }}|{{ [1.5, none, true] | tojson }}", {"data": {"z": 1, "a": ["é", {"k": None}], "f": 0.5, "e": {}, "l": []}}),
    # tests
    ("{{ 1 is number }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }}", {}),
    ("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is in [1, 2] }} {{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ none is sameas none }} {{ x is true }} {{ x is false }} {{ 'ab' is lower }} {{ 'AB' is upper }}", {"x": True}),
    ("{{ x is not defined }} {{ x is undefined }} {{ none is not none }} {{ f is callable }} {{ 1 is gt 0 }} {{ 1 is le 0 }} {{ true is number }} {{ true is integer }}", {}),
    # string methods
    ("{{ '  s  '.strip() }}|{{ 'xxsxx'.strip('x') }}|{{ '  s'.lstrip() }}|{{ 's  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}", {}),
    ("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'hello'.replace('l', 'L') }} {{ 'hello'.upper() }} {{ 'HeLLo'.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}", {}),
    ("{{ 'hello'.find('l') }} {{ 'héllo'.find('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ ', '.join(['a', 'b']) }} {{ '123'.isdigit() }} {{ ' '.isspace() }} {{ 'hello'.rfind('l') }}", {}),
    ("{{ 'ß straße'.upper() }} {{ 'ΣΑΣ'.lower() }} {{ 'éCOLE'.title() }} {{ 'ǆemal'.capitalize() }}", {}),
    ("{{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }} {{ [1, 2, 1].count(1) }} {{ [1, 2, 3].index(2) }}", {"d": {"x": 1, "y": 2}}),
    # globals
    ("{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }} {{ dict(a=1, b='x') }} {{ namespace(a=1).a }}", {}),
    ("{{ strftime_now('%Y-%m-%d %H:%M:%S %d %b %Y %A %B') }}", {}),
    # errors
    ("{{ raise_exception('custom failure: ' ~ 42) }}", {}),
    ("{% for m in messages %}{% if m.role == 'bad' %}{{ raise_exception('Bad role ' + m.role) }}{% endif %}{% endfor %}", {"messages": [{"role": "user"}, {"role": "bad"}]}),
    ("{{ undefined_var.attribute }}", {}),
    ("{{ 1 + 'a' }}", {}),
    ("{{ [1, 2].append(3) }}", {}),
    ("{{ 1 / 0 }}", {}),
    ("{{ x.y.z }}", {"x": {}}),
    ("{{ none.attr }}", {}),
    ("{{ undefined_var + 1 }}", {}),
    ("{{ 'a' < 1 }}", {}),
]


# The values random expressions compute with. They are passed as variables (v0, v1, ...), never
# written as literals: Jinja folds constant expressions while compiling, with rules of its own
# (slicing None folds to Undefined but raises at run time), which no template relies on.
EXPRESSION_VALUES = [0, 1, 2, 3, -3, 7, 0.5, 2.0, -1.25, 1000.0, "", "ab", " x ", "Ünï", "a b c", "Hello World",
                     None, True, False, [1, 2, 3], ["b", "a"], [3, 1, 2], [], {"k": 1, "a": "v"}, {"b": 2, "a": 1},
                     {}]
EXPRESSION_VARIABLES = {f"v{i}": value for i, value in enumerate(EXPRESSION_VALUES)}
VALUE_NAMES = list(EXPRESSION_VARIABLES) + ["missing"]
# No '%': on strings it is printf formatting, which the interpreter refuses (numbers are covered above).
BINARY_OPS = ["+", "-", "*", "/", "//", "~", "==", "!=", "<", ">", "<=", ">=", "and", "or", "in", "not in"]
# Jinja's select, reject, map, items, unique and reverse return lazy iterators, which templates
# always consume (| list, a for loop); so do these. No escape: its Markup shows in reprs.
FILTERS = ["length", "string", "upper", "lower", "trim", "first", "last", "list", "reverse | list", "sort",
           "unique | list", "join(',')", "join", "tojson", "abs", "int", "float", "round", "round(1)",
           "default('d')", "default('d', true)", "capitalize", "title", "wordcount", "count", "sum", "min", "max",
           "items | list", "dictsort", "select | list", "reject('none') | list", "map('string') | list",
           "indent(2)", "replace('a', 'b')"]
TESTS = ["none", "string", "number", "integer", "float", "defined", "undefined", "odd", "even", "iterable",
         "mapping", "sequence", "boolean", "true", "false", "lower", "upper"]
SUBSCRIPTS = ["0", "-1", "1:", ":-1", "::-1", "::2", "'k'"]


def random_expression(rng, depth):
    """A random Jinja expression over the variables, for differential tests against Jinja itself."""
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(VALUE_NAMES)
    choice = rng.random()
    if choice < 0.3:
        return f"{random_expression(rng, depth - 1)} {rng.choice(BINARY_OPS)} {random_expression(rng, depth - 1)}"
    if choice < 0.5:
        return f"({random_expression(rng, depth - 1)}) | {rng.choice(FILTERS)}"
    if choice < 0.6:
        negation = rng.choice(["", "not "])
        return f"({random_expression(rng, depth - 1)}) is {negation}{rng.choice(TESTS)}"
    if choice < 0.7:
        a, b, c = (random_expression(rng, depth - 1) for _ in range(3))
        return f"({a} if {b} else {c})"
    if choice < 0.8:
        return f"({random_expression(rng, depth - 1)})[{rng.choice(SUBSCRIPTS)}]"
    if choice < 0.9:
        return f"not ({random_expression(rng, depth - 1)})"
    return f"[{random_expression(rng, depth - 1)}, {random_expression(rng, depth - 1)}]"


STATEMENT_NAMES = ["a", "b", "x"]
WHITESPACE = ["", " ", "\n", "  \n", "\n  ", "\t", "\n\n", "\u00a0", "\u3000 ", "\x0b", "\x0c\n", " \r\n ", "\r", "\u2028", "\x85"]


def random_tag(rng, body):
    """`body` in {% %} with random whitespace control on either side."""
    return "{%" + rng.choice(["", "-", "+"]) + " " + body + " " + rng.choice(["", "-", "+"]) + "%}"


def random_statements(rng, depth):
    """Random statements: text with newlines and indentation, output, if, for (with loop variables,
    else, break/continue), set (also in loops and on a namespace) and comments, for differential
    tests of scoping and whitespace control against Jinja."""
    parts = []
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        ws = rng.choice(WHITESPACE)
        if choice < 0.2 or depth == 0:
            parts.append(ws + rng.choice(["t", "text", "-", "·"]) + rng.choice(WHITESPACE))
        elif choice < 0.35:
            value = rng.choice(STATEMENT_NAMES + ["ns.n", "loop.index", "loop.first", "loop.length", "v1"])
            parts.append(ws + "{{" + rng.choice(["", "-"]) + " " + value + " " + rng.choice(["", "-"]) + "}}")
        elif choice < 0.5:
            name = rng.choice(STATEMENT_NAMES)
            value = rng.choice([f"{name} ~ 'x'", "1", "v19", f"({name} or 0) ~ '!'", "loop.index0 if loop is defined else 9"])
            parts.append(ws + random_tag(rng, f"set {name} = {value}"))
        elif choice < 0.6:
            parts.append(ws + random_tag(rng, "set ns.n = ns.n + 1"))
        elif choice < 0.75:
            condition = rng.choice(["v1", "v0", "a is defined", "loop is defined and loop.last", "x == 'xx'"])
            else_part = random_tag(rng, "else") + random_statements(rng, depth - 1) if rng.random() < 0.5 else ""
            parts.append(ws + random_tag(rng, f"if {condition}") + random_statements(rng, depth - 1) + else_part
                         + random_tag(rng, "endif"))
        elif choice < 0.9:
            iterable = rng.choice(["v19", "v21", "[]", "v22", "'ab'", "range(3)", "v19 if v1"])
            control = rng.choice(["", "", random_tag(rng, "if loop.index == 2") + random_tag(rng, rng.choice(["break", "continue"])) + random_tag(rng, "endif")])
            else_part = random_tag(rng, "else") + "empty" if rng.random() < 0.3 else ""
            parts.append(ws + random_tag(rng, f"for {rng.choice(STATEMENT_NAMES)} in {iterable}") + control
                         + random_statements(rng, depth - 1) + else_part + random_tag(rng, "endfor"))
        else:
            parts.append(ws + "{#" + rng.choice(["", "-"]) + " note " + rng.choice(["", "-"]) + "#}" + rng.choice(WHITESPACE))
    return "".join(parts)


# Filters with their arguments (attribute paths, tests, sort keys, tojson options, ...), applied to
# data shaped like chat data.
FILTER_VARIABLES = {
    "users": [{"name": "Bo", "age": 30, "tags": ["a"], "active": True, "info": {"x": 1}},
              {"name": "al", "age": 25, "active": False, "info": {"x": 2}},
              {"name": "Cy", "age": 30, "tags": [], "active": True}],
    "words": ["b", "A", "c", "a", "B"], "nums": [3, 1.5, -2, 0, 7], "text": "  Hello\n  World \t",
    "d": {"b": 2, "A": 1, "c": 0}, "mixed": "éÉ straße ǅ", "empty": [], "s": "a-b_c d",
}
FILTER_CALLS = [
    "join(', ', attribute='name')", "map(attribute='name') | list", "map(attribute='info.x') | list",
    "map(attribute='tags', default='none') | list", "selectattr('active') | list", "rejectattr('active') | list",
    "selectattr('age', 'equalto', 30) | list", "selectattr('age', 'gt', 26) | map(attribute='name') | list",
    "selectattr('tags', 'defined') | list", "sort(attribute='age') | list", "sort(attribute='age,name') | list",
    "sort(attribute='name', case_sensitive=true) | list", "sort(reverse=true, attribute='name') | list",
    "unique(attribute='age') | list", "max(attribute='age')", "min(attribute='name')", "sum(attribute='age')",
    "dictsort(by='value')", "dictsort(true)", "dictsort(reverse=true)", "dictsort(false, 'value', true)",
    "tojson(indent=2)", "tojson(indent=0)", "tojson(sort_keys=true)", "tojson(separators=(',', ':'))",
    "trim('Hd \\n\\t')", "trim", "replace('l', 'L', 1)", "replace('', '-')", "default('x', true)",
    "round(1, 'floor')", "round(2, 'ceil')", "int(base=16)", "int(7)", "float(1.5)", "indent(2, true, true)",
    "indent('> ')", "indent(width=1, first=true)", "center(20)", "wordcount", "title", "capitalize", "upper",
    "lower", "length", "first", "last", "reverse | list", "list", "unique | list", "unique(true) | list",
    "sort | list", "sort(case_sensitive=true) | list", "select('odd') | list", "select('divisibleby', 3) | list",
    "reject('string') | list", "select('in', ['a', 'b']) | list", "map('upper') | list",
    "map('replace', 'a', 'z') | list", "map('int') | list", "map('round', 1) | list", "items | list", "string",
    "batch(2) | list", "batch(2, 'x') | list", "slice(2) | list", "slice(3, 0) | list", "sum(start=10)",
    "join('|')", "join", "count", "abs", "safe", "first | upper", "map(attribute='name') | join('/') | lower",
    "selectattr('name', 'lower') | list",
]


MACRO_PARAMETERS = ["", "p", "p, q=2", "p='d', q=none", "p, q='x', r=[1]"]
MACRO_BODY_PIECES = ["[{{ p }}]", "{{ q }}", "{{ r | length }}", "{% if p %}P{% endif %}",
                     "{{ caller() if caller is defined else 'nc' }}", "{{ varargs }}", "{{ kwargs }}",
                     "{% set p = 'changed' %}", "{{ p is defined }}", " \n  ", "{%- if true -%} T {%- endif -%}",
                     "{% for i in range(2) %}{{ i }}{{ p }}{% endfor %}", "{{ outer }}"]
MACRO_ARGUMENTS = ["", "1", "'a'", "p='k'", "1, 2", "q=3", "1, q=[]", "none", "1, 2, 3", "r=[1, 2]", "z=5"]


def random_macro_template(rng):
    """A macro with random parameters and body, called with random arguments, directly and from
    call blocks: binding, defaults, varargs/kwargs/caller (accepted only when the body reads them,
    as Jinja decides), scoping."""
    body = "".join(rng.choice(MACRO_BODY_PIECES) for _ in range(rng.randint(1, 4)))
    calls = []
    for _ in range(rng.randint(1, 3)):
        arguments = rng.choice(MACRO_ARGUMENTS)
        if rng.random() < 0.3:
            calls.append("{% call m(" + arguments + ") %}body{{ outer }}{% endcall %}")
        else:
            calls.append("{{ m(" + arguments + ") }}")
    return ("{% set outer = 'O' %}{% macro m(" + rng.choice(MACRO_PARAMETERS) + ") %}" + body + "{% endmacro %}"
            + "|".join(calls) + "{{ outer }}")


def render_feature(template, variables):
    # A copy: some filters change their operand in place (indent's `s += "\n"` extends a list).
    variables = copy.deepcopy(variables)
    try:
        return {"expected": chat_template_utils._compile_jinja_template(template).render(**variables)}
    except jinja2.exceptions.TemplateError as e:
        return {"error": str(e), "raised": type(e) is jinja2.exceptions.TemplateError}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}", "raised": False}


def main():
    # Jinja folds constant expressions while compiling, and Python warns about some of them
    # ("'int' object is not subscriptable"); the rendering records the error anyway.
    warnings.simplefilter("ignore", SyntaxWarning)
    templates = {}
    cases = []
    rng = random.Random(2026)
    for name, (family, template, special_tokens, kind) in TEMPLATES.items():
        templates[name] = {"family": family, "source": template, "special_tokens": special_tokens}
        tokenizer = make_tokenizer(template, special_tokens)
        randoms = random_conversations(rng, 5, parts=kind in ("parts", "qwen3", "inspect"))
        for conversation, messages, variables in conversations_for(kind) + randoms:
            for add_generation_prompt in (False, True):
                case = {
                    "template": name,
                    "conversation": conversation,
                    "messages": messages,
                    "add_generation_prompt": add_generation_prompt,
                    "variables": variables,
                }
                case.update(render_case(tokenizer, messages, add_generation_prompt, variables))
                cases.append(case)
    features = []
    for template, variables in FEATURES:
        feature = {"template": template, "variables": variables}
        feature.update(render_feature(template, variables))
        features.append(feature)
    expression_rng = random.Random(7)
    expressions = []
    for _ in range(500):
        template = "{{ " + random_expression(expression_rng, 4) + " }}"
        expressions.append({"template": template, **render_feature(template, EXPRESSION_VARIABLES)})
    filter_rng = random.Random(9)
    filter_calls = []
    for _ in range(400):
        template = "{{ " + filter_rng.choice(list(FILTER_VARIABLES)) + " | " + filter_rng.choice(FILTER_CALLS) + " }}"
        filter_calls.append({"template": template, **render_feature(template, FILTER_VARIABLES)})
    statement_rng = random.Random(8)
    statements = []
    for _ in range(300):
        template = "{% set ns = namespace(n=0) %}" + random_statements(statement_rng, 3) + "|{{ a }}|{{ b }}|{{ x }}|{{ ns.n }}"
        statements.append({"template": template, **render_feature(template, EXPRESSION_VARIABLES)})
    for _ in range(200):
        template = random_macro_template(statement_rng)
        statements.append({"template": template, **render_feature(template, EXPRESSION_VARIABLES)})
    fixture = {
        "generator": "tools/gen_chat_template_fixtures.py",
        "transformers_version": transformers.__version__,
        "jinja2_version": jinja2.__version__,
        "now": FIXED_NOW.isoformat(),
        "templates": templates,
        "cases": cases,
        "features": features,
        "expression_variables": EXPRESSION_VARIABLES,
        "expressions": expressions,
        "statements": statements,
        "filter_variables": FILTER_VARIABLES,
        "filter_calls": filter_calls,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    n_errors = sum("error" in c for c in cases)
    print(f"{OUT}: {len(templates)} templates, {len(cases)} cases ({n_errors} errors), {len(features)} features, "
          f"{len(expressions)} random expressions, {len(statements)} random statement templates, {len(filter_calls)} random filter calls, "
          f"{OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
