//! Where the pushes' time goes, from the server's own tracing spans: a layer that the push bench
//! installs sums the wall-clock time of the spans push is handled in (`push_handling`, and within
//! it `push_prepare` and each attempt's `push_store`). The server compiles no timers of its own:
//! these debug-level spans cost nothing where no subscriber asks for them.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tracing::{Metadata, Subscriber, span, subscriber::Interest};
use tracing_subscriber::{Layer, layer::Context, prelude::*, registry::LookupSpan};

/// The spans summed, in the order [`SpanTimes::totals`] gives them.
const SPANS: [&str; 3] = ["push_handling", "push_prepare", "push_store"];

/// Per span name: how many closed and their summed wall-clock time.
#[derive(Clone, Default)]
pub struct SpanTimes(Arc<Mutex<[(u64, Duration); 3]>>);

/// When a timed span was created.
struct Started(Instant);

impl SpanTimes {
    /// Installs a global subscriber that times [`SPANS`] and nothing else; returns the totals'
    /// handle.
    pub fn install() -> SpanTimes {
        let times = SpanTimes::default();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(times.clone()))
            .expect("no other subscriber");
        times
    }

    /// Spans closed so far and their summed time, per name of [`SPANS`].
    pub fn totals(&self) -> [(u64, Duration); 3] {
        *self.0.lock().unwrap()
    }
}

fn timed(m: &Metadata<'_>) -> Option<usize> {
    if m.is_span() {
        SPANS.iter().position(|s| *s == m.name())
    } else {
        None
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanTimes {
    fn register_callsite(&self, m: &'static Metadata<'static>) -> Interest {
        if timed(m).is_some() {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, m: &Metadata<'_>, _: Context<'_, S>) -> bool {
        timed(m).is_some()
    }

    fn on_new_span(&self, _: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let extensions = span.extensions();
        let (Some(i), Some(Started(at))) = (timed(span.metadata()), extensions.get()) else {
            return;
        };
        let mut totals = self.0.lock().unwrap();
        totals[i].0 += 1;
        totals[i].1 += at.elapsed();
    }
}
