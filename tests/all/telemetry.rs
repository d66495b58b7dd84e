//! OpenTelemetry: a host configured with an OTLP endpoint exports each
//! mission's trace (submit -> attempt -> claim, instantiate, run, script
//! calls) to a receiver in the test, which decodes the spans and checks
//! their parentage; the `traceparent` reaches the mission's events' `meta`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};

use crate::harness::{Api, TestEnv, TestRedis, spawn_host, wait_until};

/// An OTLP/HTTP (protobuf) receiver on loopback: keeps every span posted to
/// `/v1/traces`.
struct Receiver {
    url: String,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Receiver {
    async fn start() -> Self {
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
        let kept = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| {
                let kept = kept.clone();
                async move {
                    let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf request");
                    let mut all = kept.lock().unwrap();
                    for rs in req.resource_spans {
                        for ss in rs.scope_spans {
                            all.extend(ss.spans);
                        }
                    }
                    (
                        [("content-type", "application/x-protobuf")],
                        ExportTraceServiceResponse::default().encode_to_vec(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, spans }
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn attr(s: &Span, key: &str) -> Option<String> {
    let v = s.attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()?;
    Some(match v {
        AnyValue::StringValue(s) => s.clone(),
        AnyValue::IntValue(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

/// The spans of one mission's first attempt: (submit, attempt, every span).
fn trace_of(spans: &[Span], mission: &str) -> Option<(Span, Span)> {
    let attempt =
        spans.iter().find(|s| s.name == "mission.attempt" && attr(s, "mission.id").as_deref() == Some(mission))?;
    let submit = spans.iter().find(|s| s.name == "mission.submit" && s.span_id == attempt.parent_span_id)?;
    let children: Vec<&str> =
        spans.iter().filter(|s| s.parent_span_id == attempt.span_id).map(|s| s.name.as_str()).collect();
    let complete = ["mission.claim", "plugin.instantiate", "plugin.run", "complete"];
    complete.iter().all(|n| children.contains(n)).then(|| (submit.clone(), attempt.clone()))
}

/// Submits `body` with a `traceparent` header if given; returns the id.
async fn submit(base: &str, body: Value, traceparent: Option<&str>) -> String {
    let mut req = reqwest::Client::new().post(format!("{base}/api/missions")).json(&body);
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// Every event of mission `id`.
async fn events(api: &Api, id: &str) -> Vec<Value> {
    let (_, body) = api.get(&format!("/api/events?mission_id={id}")).await;
    body["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_missions_trace_is_exported_from_submission_to_completion() {
    let redis = TestRedis::start().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("host.toml");
    let toml = format!("[telemetry]\notlp_endpoint = \"{}\"\nexport_interval_ms = 100\n", receiver.url);
    std::fs::write(&config, toml).unwrap();
    let (_host, api) = spawn_host(&redis.url(), &["--config", config.to_str().unwrap()]).await;

    // A client that traces sends its context; another does not.
    let client_trace = "0af7651916cd43dd8448eb211c80319c";
    let client_span = "b7ad6b7169203331";
    let traced = submit(
        &api.base(),
        json!({ "type": "echo", "payload": 1 }),
        Some(&format!("00-{client_trace}-{client_span}-01")),
    )
    .await;
    let plain = submit(&api.base(), json!({ "type": "echo", "payload": 2 }), None).await;
    api.wait_status(&traced, "completed", Duration::from_secs(10)).await;
    api.wait_status(&plain, "completed", Duration::from_secs(10)).await;

    let spans = wait_until(
        Duration::from_secs(15),
        || async { receiver.spans() },
        |s: &Vec<Span>| trace_of(s, &traced).is_some() && trace_of(s, &plain).is_some(),
    )
    .await;
    let spans = spans.unwrap_or_else(|| {
        let names: Vec<String> = receiver.spans().iter().map(|s| s.name.clone()).collect();
        panic!("no complete traces within 15 s; spans: {names:?}")
    });

    // The client's context is the submission's parent, and one trace id runs through.
    let (submit_span, attempt) = trace_of(&spans, &traced).unwrap();
    assert_eq!(hex(&submit_span.trace_id), client_trace);
    assert_eq!(hex(&submit_span.parent_span_id), client_span);
    assert_eq!(attempt.trace_id, submit_span.trace_id);
    for s in spans.iter().filter(|s| s.parent_span_id == attempt.span_id) {
        assert_eq!(s.trace_id, submit_span.trace_id, "{} left the trace", s.name);
    }
    let enqueue = spans.iter().find(|s| s.name == "enqueue" && s.parent_span_id == submit_span.span_id);
    assert!(enqueue.is_some(), "the enqueue script call is not under the submission");

    // Without a client context the submission starts the trace.
    let (root, attempt) = trace_of(&spans, &plain).unwrap();
    assert!(root.parent_span_id.is_empty(), "{:?}", hex(&root.parent_span_id));
    assert_eq!(attempt.trace_id, root.trace_id);
    assert_ne!(root.trace_id, submit_span.trace_id);

    // Every event of the traced mission names the submission span, to join on.
    let expected = format!("00-{client_trace}-{}-01", hex(&submit_span.span_id));
    let evs = events(&api, &traced).await;
    assert!(evs.len() >= 3, "{evs:?}");
    for e in &evs {
        assert_eq!(e["meta"]["traceparent"], expected.as_str(), "{e}");
    }
}

#[tokio::test]
async fn without_export_a_clients_traceparent_still_reaches_the_events() {
    let env = TestEnv::start().await;
    let base = env.api.base();
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let id = submit(&base, json!({ "type": "echo", "payload": 1 }), Some(tp)).await;
    // An invalid one is ignored (W3C Trace Context), not refused.
    let other = submit(&base, json!({ "type": "echo", "payload": 2 }), Some("00-not-a-trace-01")).await;
    env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    env.api.wait_status(&other, "completed", Duration::from_secs(10)).await;

    let evs = events(&env.api, &id).await;
    let types: Vec<&str> = evs.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"mission.created") && types.contains(&"mission.completed"), "{types:?}");
    for e in &evs {
        assert_eq!(e["meta"]["traceparent"], tp, "{e}");
    }
    for e in events(&env.api, &other).await {
        assert!(e["meta"].get("traceparent").is_none(), "{e}");
    }
}
