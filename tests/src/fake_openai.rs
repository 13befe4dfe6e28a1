//! A local stand-in for the OpenAI API speaking its wire format: `POST /v1/chat/completions`
//! with a bearer key, answering `chat.completion` objects or OpenAI's error envelopes.
//!
//! By default it answers like a well-behaved model: it reads the excerpt and the number of
//! questions asked from the prompt and writes that many valid questions quoting the excerpt.
//! A test queues other behaviours ([`Behaviour`]) for the next requests, in order.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

pub const KEY: &str = "sk-fake-openai-key";
pub const MODEL: &str = "gpt-4o";

/// What the fake does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Valid questions quoting the excerpt, as many as asked.
    Good,
    /// Content that is not JSON.
    Malformed,
    /// A `refusal` instead of content.
    Refusal,
    /// `finish_reason: "length"` with the JSON cut in the middle.
    Truncated,
    /// 429 `rate_limit_exceeded` with `Retry-After` in seconds.
    RateLimited(u64),
    /// 429 `insufficient_quota`.
    NoQuota,
    /// 500 `server_error`.
    ServerError,
    /// Valid-looking questions whose quotes are not in the excerpt.
    InventedQuotes,
    /// As many questions as asked, of which only this many are valid.
    OnlyValid(usize),
    /// Waits this long before answering well.
    Slow(Duration),
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Behaviour>,
    /// When the queue is empty.
    fallback: Option<Behaviour>,
    requests: Vec<Value>,
}

/// A running fake.
#[derive(Clone)]
pub struct FakeOpenAi {
    inner: Arc<Mutex<Inner>>,
    /// The base URL to configure (`OPENAI_BASE_URL`), ending in `/v1`.
    pub url: String,
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { inner, url }
    }

    /// Queues behaviours for the next requests, in order.
    pub fn then(&self, behaviours: impl IntoIterator<Item = Behaviour>) -> &Self {
        self.inner.lock().unwrap().queue.extend(behaviours);
        self
    }

    /// What to do once the queue is empty (`Good` unless set).
    pub fn always(&self, behaviour: Behaviour) -> &Self {
        self.inner.lock().unwrap().fallback = Some(behaviour);
        self
    }

    /// The bodies of the requests received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.inner.lock().unwrap().requests.clone()
    }
}

async fn complete(
    State(fake): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {KEY}"))
    {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        );
    }
    let behaviour = {
        let mut inner = fake.lock().unwrap();
        inner.requests.push(body.clone());
        let fallback = inner.fallback.clone().unwrap_or(Behaviour::Good);
        inner.queue.pop_front().unwrap_or(fallback)
    };
    let prompt = body["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let excerpt = between(&prompt, ">\n", "\n</").unwrap_or_default();
    // Like a model told what exists already, it writes about other sentences.
    let skip = prompt.lines().filter(|l| l.starts_with("- ")).count();
    let asked: usize = prompt
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or(1);
    match behaviour {
        Behaviour::Good => completion(&questions(&excerpt, skip, asked, asked, false), "stop"),
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            completion(&questions(&excerpt, skip, asked, asked, false), "stop")
        }
        Behaviour::Malformed => completion("Voici vos questions : {questions: [", "stop"),
        Behaviour::Truncated => {
            let full = questions(&excerpt, skip, asked, asked, false);
            completion(&full[..full.len() / 2], "length")
        }
        Behaviour::Refusal => {
            let mut answer = chat(None, "stop");
            answer["choices"][0]["message"]["refusal"] =
                json!("I'm sorry, I can't help with that request.");
            Json(answer).into_response()
        }
        Behaviour::RateLimited(seconds) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "rate_limit_exceeded",
                "Rate limit reached for gpt-4o on requests per min (RPM): Limit 3, Used 3.",
            );
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
            response
        }
        Behaviour::NoQuota => error(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        Behaviour::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "server_error",
            "The server had an error while processing your request. Sorry about that!",
        ),
        Behaviour::InventedQuotes => {
            completion(&questions(&excerpt, skip, asked, asked, true), "stop")
        }
        Behaviour::OnlyValid(valid) => completion(
            &questions(&excerpt, skip, asked, valid.min(asked), false),
            "stop",
        ),
    }
}

/// `asked` questions of which the first `valid` pass the platform's rules; the others have
/// two correct answers. Each quotes a different sentence of the excerpt (or invents one),
/// starting after the `skip` the prompt said exist already.
fn questions(excerpt: &str, skip: usize, asked: usize, valid: usize, invent: bool) -> String {
    let sentences: Vec<&str> = excerpt
        .split(['.', '\n'])
        .map(str::trim)
        .filter(|s| s.chars().count() > 40)
        .collect();
    let list: Vec<Value> = (0..asked)
        .map(|k| {
            let i = k + skip;
            let sentence = sentences.get(i % sentences.len().max(1)).copied().unwrap_or("");
            let quote = if invent {
                format!("Cette phrase n'apparaît nulle part dans le support, numéro {i}.")
            } else {
                sentence.chars().take(80).collect()
            };
            let topic: String = sentence.split_whitespace().skip(1).take(4).collect::<Vec<_>>().join(" ");
            json!({
                "question": format!("Question {} — que dit le support au sujet de « {topic} » ?", ordinal(i)),
                "choices": [
                    { "text": format!("Ce qu'en dit le support ({})", ordinal(i)), "correct": true },
                    { "text": "Une idée contraire au support", "correct": k >= valid },
                    { "text": "Une affirmation sans rapport", "correct": false },
                    { "text": "Un détail inventé", "correct": false },
                ],
                "source_quote": quote,
            })
        })
        .collect();
    json!({ "questions": list }).to_string()
}

/// Distinct words per question, so stems are never near-duplicates.
fn ordinal(i: usize) -> &'static str {
    const WORDS: [&str; 24] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliett", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
        "sierra", "tango", "uniform", "victor", "whiskey", "xray",
    ];
    WORDS[i % WORDS.len()]
}

fn completion(content: &str, finish_reason: &str) -> Response {
    Json(chat(Some(content), finish_reason)).into_response()
}

fn chat(content: Option<&str>, finish_reason: &str) -> Value {
    json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "created": 1_763_700_000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content, "refusal": null, "annotations": [] },
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": content.map_or(10, |c| c.len() as u64 / 4),
            "total_tokens": 1200 + content.map_or(10, |c| c.len() as u64 / 4),
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    })
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })),
    )
        .into_response()
}

fn between(text: &str, open: &str, close: &str) -> Option<String> {
    let start = text.find(open)? + open.len();
    let end = text[start..].rfind(close)? + start;
    Some(text[start..end].to_owned())
}
