"""Chatting with an agent: the loop, its services, and streamed answers.

``services.chat_respond`` answers one question in the caller's transaction;
``services.chat_prepare`` plus ``streaming.sse_stream`` stream one as
server-sent events. See docs/agents.md.
"""
