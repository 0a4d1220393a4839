"""A local fake LLM provider speaking OpenAI chat completions and Anthropic Messages, streamed.

Behaviour is chosen by the requested model name:
  echo            replies "you said: <last user text>" in word tokens
  slow-N          N tokens, one every 0.3 s
  tool            first call: a tool call get_weather({"city": "Paris"}); after a tool result: "done: <result>"
  error-500       HTTP 500 every time
  flaky           HTTP 429 (Retry-After: 0) on the first request of a conversation, then like echo
Every request is recorded in `requests` for assertions (headers included, to check keys are sent).
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLLM:
    def __init__(self):
        self.requests = []
        self.flaky_seen = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                anthropic = self.path.endswith("/v1/messages")
                model = body.get("model", "")
                msgs = body.get("messages", [])
                if model == "error-500":
                    return self.plain(500, {"error": {"message": "fake upstream exploded"}})
                if model == "flaky":
                    key = json.dumps(msgs, sort_keys=True)
                    if key not in outer.flaky_seen:
                        outer.flaky_seen.add(key)
                        return self.plain(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
                tokens, call, delay = outer.plan(model, msgs, anthropic)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if anthropic:
                        self.anthropic_stream(tokens, call, delay)
                    else:
                        self.openai_stream(tokens, call, delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def plain(self, status, obj, headers=None):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def sse(self, data, event=None):
                out = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
                self.wfile.write(out.encode())
                self.wfile.flush()

            def openai_stream(self, tokens, call, delay):
                for t in tokens:
                    self.sse(json.dumps({"choices": [{"index": 0, "delta": {"content": t}}]}))
                    time.sleep(delay)
                if call:
                    args = json.dumps(call["args"])
                    self.sse(json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": 0, "id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": args[:5]}}]}}]}))
                    self.sse(json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": 0, "function": {"arguments": args[5:]}}]}}]}))
                self.sse(json.dumps({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": len(tokens)}}))
                self.sse("[DONE]")

            def anthropic_stream(self, tokens, call, delay):
                self.sse(json.dumps({"type": "message_start", "message": {"usage": {"input_tokens": 7}}}), "message_start")
                self.sse(json.dumps({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}), "content_block_start")
                for t in tokens:
                    self.sse(json.dumps({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}), "content_block_delta")
                    time.sleep(delay)
                self.sse(json.dumps({"type": "content_block_stop", "index": 0}), "content_block_stop")
                if call:
                    self.sse(json.dumps({"type": "content_block_start", "index": 1, "content_block": {
                        "type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}}), "content_block_start")
                    self.sse(json.dumps({"type": "content_block_delta", "index": 1, "delta": {
                        "type": "input_json_delta", "partial_json": json.dumps(call["args"])}}), "content_block_delta")
                    self.sse(json.dumps({"type": "content_block_stop", "index": 1}), "content_block_stop")
                self.sse(json.dumps({"type": "message_delta", "delta": {}, "usage": {"output_tokens": len(tokens)}}), "message_delta")
                self.sse(json.dumps({"type": "message_stop"}), "message_stop")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def last_text(msgs, anthropic):
        for m in reversed(msgs):
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                for b in c:
                    if b.get("type") == "tool_result":
                        return "tool:" + str(b.get("content"))
                    if b.get("type") == "text":
                        return b["text"]
        return ""

    def plan(self, model, msgs, anthropic):
        if model.startswith("slow-"):
            return [f"t{i} " for i in range(int(model[5:]))], None, 0.3
        if model == "tool":
            last = msgs[-1] if msgs else {}
            if last.get("role") == "tool":
                return ["done: ", str(last.get("content"))], None, 0
            if anthropic and isinstance(last.get("content"), list) and last["content"][0].get("type") == "tool_result":
                return ["done: ", str(last["content"][0].get("content"))], None, 0
            return ["Let me check. "], {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}, 0
        words = ("you said: " + self.last_text(msgs, anthropic)).split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)], None, 0

    @property
    def openai_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self):
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()
