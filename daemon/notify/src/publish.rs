//! What happens after a run ends: render its report, append it to the chain, queue its
//! email and its pushes (webhooks, Grafana annotations).

use chrono::{DateTime, Utc};
use firedrill_core::config::Config;
use firedrill_core::report::{Rendered, Renderer, Report, ReportError};
use firedrill_core::run::RunRecord;
use firedrill_store::{MailQueue, RunStore, StoredRun, report_hashes};

use crate::NotifyError;
use crate::message::OutgoingEmail;
use crate::outbox::enqueue;
use crate::push::enqueue_finished;

/// Why a finished run could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot render the report of run {run_id}")]
    Render {
        run_id: String,
        // Boxed: tera's error is large and this path is rare.
        #[source]
        source: Box<ReportError>,
    },
    #[error("cannot record run {run_id}")]
    Store {
        run_id: String,
        #[source]
        source: firedrill_store::StoreError,
    },
    #[error("cannot queue the email of run {run_id}")]
    Queue {
        run_id: String,
        #[source]
        source: NotifyError,
    },
    #[error("cannot queue the webhooks and annotations of run {run_id}")]
    QueuePushes {
        run_id: String,
        #[source]
        source: NotifyError,
    },
}

/// What [`queue_notifications`] newly queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queued {
    /// Whether an email was queued (false when the configuration has no email section or
    /// the run's email was already queued).
    pub email: bool,
    /// Webhooks and Grafana annotations queued (those queued already not counted).
    pub pushes: usize,
}

/// The outcome of [`publish_run`].
#[derive(Debug, Clone)]
pub struct Published {
    pub stored: StoredRun,
    pub rendered: Rendered,
    /// Whether an email was queued (false when the configuration has no email section or
    /// the run's message was already queued).
    pub email_queued: bool,
    /// Webhooks and Grafana annotations queued.
    pub pushes_queued: usize,
}

/// The report files of `run`, from its record (see [`Report::from_run`]).
pub fn render_run(
    renderer: &Renderer,
    config: &Config,
    run: &RunRecord,
) -> Result<Rendered, PublishError> {
    let report = Report::from_run(run, config.drill(&run.drill), &config.report.participants);
    renderer
        .render_all(&report)
        .map_err(|source| PublishError::Render {
            run_id: run.id.clone(),
            source: Box::new(source),
        })
}

/// Renders `run`'s report with `renderer`, appends the run with the report files' hashes
/// to the chain, and queues what people are owed ([`queue_notifications`]). The run is
/// recorded before anything is queued: evidence first, then notification. Delivery is the
/// outbox's job ([`crate::deliver_due`], [`crate::deliver_pushes`]).
pub fn publish_run<S: RunStore + MailQueue + ?Sized>(
    store: &mut S,
    renderer: &Renderer,
    config: &Config,
    run: &RunRecord,
    now: DateTime<Utc>,
) -> Result<Published, PublishError> {
    let rendered = render_run(renderer, config, run)?;
    let stored = store
        .append(run, report_hashes(rendered.files()), now)
        .map_err(|source| PublishError::Store {
            run_id: run.id.clone(),
            source,
        })?;
    let queued = queue_notifications(store, config, run, &rendered, now)?;
    Ok(Published {
        stored,
        rendered,
        email_queued: queued.email,
        pushes_queued: queued.pushes,
    })
}

/// Queues what a recorded run owes people: one email when the configuration has an email
/// section, its `finished` webhooks and its Grafana annotations. Idempotent (one message
/// per run and channel), so a publish interrupted after the append can simply run again.
pub fn queue_notifications<Q: MailQueue + ?Sized>(
    queue: &Q,
    config: &Config,
    run: &RunRecord,
    rendered: &Rendered,
    now: DateTime<Utc>,
) -> Result<Queued, PublishError> {
    let email = match &config.email {
        Some(email) => {
            let drill = config.drill(&run.drill);
            let recipients = drill.map(|d| d.recipients.as_slice()).unwrap_or(&[]);
            let message = OutgoingEmail::compose(&run.id, rendered, email, recipients);
            enqueue(queue, &message, now).map_err(|source| PublishError::Queue {
                run_id: run.id.clone(),
                source,
            })?
        }
        None => false,
    };
    let pushes =
        enqueue_finished(queue, config, run, now).map_err(|source| PublishError::QueuePushes {
            run_id: run.id.clone(),
            source,
        })?;
    Ok(Queued { email, pushes })
}
