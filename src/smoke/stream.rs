//! Server-Sent Events assembly for the streamed checks (`stream_chat`, `stream_tool_call`):
//! an incremental parser fed chunk by chunk as the body arrives ([`Assembler::feed`]), which
//! joins the `data:` events of an OpenAI-style chat stream into one [`Answer`] and keeps what
//! the checks judge about the stream itself — `[DONE]`, the finish reason, every tool-call
//! delta's `index` and `id`, the time to the first token. Pure apart from the clock read when
//! the first token arrives.
//!
//! The shapes it reads are the two real servers' (provenance in `fixtures/README.md`):
//! Ollama sends a role chunk, content deltas, each tool call whole in one delta (with `id`,
//! `index`, `type`, the full name and arguments), a finish chunk with `delta: {}`, then
//! `data: [DONE]`; llama.cpp sends the first delta of a call with `index`, `id`, `type` and the
//! name, later deltas with only `index` and an `arguments` fragment, a final `delta: {}` with
//! the finish reason, then `data: [DONE]`.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::answer::{Answer, ToolCall};

/// The most bytes of a body kept verbatim, to tell a non-streamed JSON answer apart.
const RAW_KEEP: usize = 64 * 1024;
/// The longest SSE line held while waiting for its end (a longer one is dropped, not grown).
const LINE_CAP: usize = 1024 * 1024;

/// One streamed tool call, as its deltas assembled it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StreamedCall {
    /// The `index` the deltas carried (`None` when a delta of this call had none).
    pub(crate) index: Option<u64>,
    /// The `id`, from whichever delta carried one.
    pub(crate) id: Option<String>,
    /// The function name, joined over the deltas that carried one.
    pub(crate) name: String,
    /// The arguments, joined over every delta.
    pub(crate) arguments: String,
}

/// What a stream assembled to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Assembled {
    /// `data:` events parsed as JSON.
    pub(crate) events: usize,
    /// `data: [DONE]` came.
    pub(crate) done: bool,
    /// The last non-null `finish_reason`.
    pub(crate) finish_reason: Option<String>,
    /// The joined `delta.content`.
    pub(crate) content: String,
    /// The joined `delta.reasoning` / `delta.reasoning_content`.
    pub(crate) reasoning: String,
    /// The tool calls, in the order their first delta came.
    pub(crate) calls: Vec<StreamedCall>,
    /// A tool-call delta came without `index`.
    pub(crate) missing_index: bool,
    /// An event carried an `error` object (a server failing mid-stream).
    pub(crate) error: Option<String>,
    /// From the request's start to the first content, reasoning or tool-call delta.
    pub(crate) ttft: Option<Duration>,
    /// The first bytes of the body, verbatim (to recognize a non-streamed answer).
    pub(crate) raw: Vec<u8>,
}

impl Assembled {
    /// The assembled stream as the answer the non-streamed judges read.
    pub(crate) fn answer(&self) -> Answer {
        Answer {
            finish_reason: self.finish_reason.clone(),
            content: Some(self.content.clone()),
            reasoning: (!self.reasoning.is_empty()).then(|| self.reasoning.clone()),
            reasoning_field: None,
            reasoning_tokens: None,
            tool_calls: self
                .calls
                .iter()
                .map(|c| ToolCall {
                    name: (!c.name.is_empty()).then(|| c.name.clone()),
                    arguments: Some(Value::String(c.arguments.clone())),
                })
                .collect(),
        }
    }

    /// No SSE event at all, and the body is one JSON document: the server ignored
    /// `stream: true`.
    pub(crate) fn not_streamed(&self) -> bool {
        self.events == 0
            && !self.done
            && serde_json::from_slice::<Value>(&self.raw).is_ok_and(|v| v.is_object())
    }
}

/// The incremental SSE parser.
#[derive(Debug)]
pub(crate) struct Assembler {
    started: Instant,
    line: Vec<u8>,
    overlong: bool,
    out: Assembled,
}

impl Assembler {
    /// A parser for a request sent at `started`.
    pub(crate) fn new(started: Instant) -> Self {
        Assembler {
            started,
            line: Vec::new(),
            overlong: false,
            out: Assembled::default(),
        }
    }

    /// Feeds the next bytes of the body, as they arrived.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        let keep = RAW_KEEP.saturating_sub(self.out.raw.len()).min(bytes.len());
        self.out.raw.extend_from_slice(&bytes[..keep]);
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                if !std::mem::take(&mut self.overlong) {
                    self.line_done(&line);
                }
            } else if self.line.len() < LINE_CAP {
                self.line.push(b);
            } else {
                self.overlong = true;
            }
        }
    }

    /// The end of the body: a last line without its newline still counts.
    pub(crate) fn finish(mut self) -> Assembled {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() && !self.overlong {
            self.line_done(&line);
        }
        self.out
    }

    fn line_done(&mut self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        let Some(data) = line.strip_prefix("data:") else {
            return; // comments, `event:`, `id:`, blank separators
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.out.done = true;
            return;
        }
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return;
        };
        self.out.events += 1;
        self.event(&event);
    }

    fn event(&mut self, event: &Value) {
        if let Some(err) = event.get("error") {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| err.to_string(), str::to_owned);
            self.out.error.get_or_insert(message);
            return;
        }
        let Some(choice) = event.pointer("/choices/0") else {
            return; // a usage-only chunk (`choices: []`)
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.out.finish_reason = Some(reason.to_owned());
        }
        let Some(delta) = choice.get("delta") else {
            return;
        };
        let mut token = false;
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            token |= !text.is_empty();
            self.out.content.push_str(text);
        }
        for key in ["reasoning", "reasoning_content"] {
            if let Some(text) = delta.get(key).and_then(Value::as_str) {
                token |= !text.is_empty();
                self.out.reasoning.push_str(text);
            }
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for call in calls {
                token = true;
                self.tool_delta(call);
            }
        }
        if token && self.out.ttft.is_none() {
            self.out.ttft = Some(self.started.elapsed());
        }
    }

    fn tool_delta(&mut self, call: &Value) {
        let index = call.get("index").and_then(Value::as_u64);
        if index.is_none() {
            self.out.missing_index = true;
        }
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let function = call.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let arguments = function
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str)
            .unwrap_or("");
        // A delta continues the call of the same index; without an index, a delta with an id
        // starts a new call and one without continues the last.
        let at = match index {
            Some(i) => self.out.calls.iter().position(|c| c.index == Some(i)),
            None if id.is_some() => None,
            None => self.out.calls.len().checked_sub(1),
        };
        let at = at.unwrap_or_else(|| {
            self.out.calls.push(StreamedCall {
                index,
                ..StreamedCall::default()
            });
            self.out.calls.len() - 1
        });
        let entry = &mut self.out.calls[at];
        if index.is_none() {
            entry.index = None;
        }
        if let (None, Some(id)) = (&entry.id, id) {
            entry.id = Some(id.to_owned());
        }
        entry.name.push_str(name);
        entry.arguments.push_str(arguments);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(body: &str, split: usize) -> Assembled {
        let mut a = Assembler::new(Instant::now());
        for chunk in body.as_bytes().chunks(split.max(1)) {
            a.feed(chunk);
        }
        a.finish()
    }

    /// llama.cpp's split tool call assembles whatever the chunking of the bytes.
    #[test]
    fn split_tool_call_assembles_at_any_chunking() {
        let body = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"abc\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"ci\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\":\\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n"
        );
        for split in [1, 2, 7, 64, 10_000] {
            let a = assemble(body, split);
            assert!(a.done, "{split}");
            assert_eq!(a.finish_reason.as_deref(), Some("tool_calls"));
            assert_eq!(a.calls.len(), 1, "{split}");
            assert_eq!(a.calls[0].id.as_deref(), Some("abc"));
            assert_eq!(a.calls[0].name, "get_weather");
            assert_eq!(a.calls[0].arguments, "{\"city\":\"Paris\"}");
            assert!(!a.missing_index);
            assert!(a.ttft.is_some());
        }
    }

    /// One JSON body instead of a stream is recognized; CRLF lines are read.
    #[test]
    fn not_streamed_and_crlf() {
        let a = assemble("{\"choices\":[{\"message\":{\"content\":\"pong\"}}]}", 5);
        assert!(a.not_streamed());
        let a = assemble(
            "data: {\"choices\":[{\"delta\":{\"content\":\"po\"}}]}\r\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"ng\"},\"finish_reason\":\"stop\"}]}\r\n\r\ndata: [DONE]",
            3,
        );
        assert_eq!(a.content, "pong");
        assert!(a.done && !a.not_streamed());
    }
}
