//! Logs and traces. Logs: `tracing` to stdout, JSON when `COPYDESK_LOG_FORMAT=json`, filtered by
//! `RUST_LOG` (default `info`). Traces: OpenTelemetry over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, one trace per job across the workers: the W3C
//! `traceparent`/`tracestate` of every message we consume is the parent of its span, and every
//! message we publish carries the context of its publish span.
//!
//! The exporter sends from its own thread with a blocking client, so the [`Guard`] can flush it at
//! shutdown, with a timeout, without a running async reactor.

use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable, LongString};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How long the shutdown flush may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Flushes and stops the trace exporter when dropped.
#[must_use = "traces are flushed when the guard is dropped"]
pub struct Guard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown_with_timeout(FLUSH_TIMEOUT);
        }
    }
}

/// Installs logging, and tracing when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; a second call
/// (tests) is a no-op.
pub fn init(service: &str, json: bool) -> Guard {
    let provider = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").and_then(|_| {
        let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
        match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
            Ok(exporter) => Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(Resource::builder().with_service_name(name).build())
                    .build(),
            ),
            Err(error) => {
                eprintln!("copydesk: traces are off, the OTLP exporter could not start: {error}");
                None
            }
        }
    });
    install(service, json, provider.clone());
    Guard { provider }
}

/// Installs the subscriber with `provider` for traces (tests pass one with an in-memory
/// exporter).
pub fn install(service: &str, json: bool, provider: Option<SdkTracerProvider>) {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = if json {
        tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(true).boxed()
    } else {
        tracing_subscriber::fmt::layer().with_target(false).boxed()
    };
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service.to_owned())));
    if tracing_subscriber::registry().with(filter).with(fmt).with(otel).try_init().is_ok()
        && let Some(p) = provider
    {
        global::set_tracer_provider(p);
    }
}

struct HeaderExtractor<'a>(Option<&'a FieldTable>);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        crate::amqp::header_str(self.0, key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.map(|t| t.inner().keys().map(|k| k.as_str()).collect()).unwrap_or_default()
    }
}

struct HeaderInjector<'a>(&'a mut FieldTable);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.into(), AMQPValue::LongString(LongString::from(value)));
    }
}

/// The trace context a message carries in its AMQP headers.
pub fn extract(headers: Option<&FieldTable>) -> Context {
    global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Writes `cx` into AMQP headers as `traceparent` (and `tracestate`).
pub fn inject(cx: &Context, headers: &mut FieldTable) {
    global::get_text_map_propagator(|p| p.inject_context(cx, &mut HeaderInjector(headers)));
}
