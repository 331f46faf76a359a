//! Post-drill report, review-meeting agenda and auditor's view: typed models built from run records, rendered with tera.
//!
//! The models are plain serde data computed by pure functions ([`Report::from_run`],
//! [`Agenda::from_report`], [`Audit::build`]); the same model feeds the templates and the
//! JSON export, so what an auditor reads in JSON is what the Markdown shows. Templates ship
//! in `reports/` and are embedded; a user directory may override any of them, but the
//! caller reads that directory and passes the texts in: this crate does no I/O.
//! The report's texts are Markdown: the Markdown templates print them as they are, the
//! HTML templates through the `markdown` filter ([`markdown_html`]: pulldown-cmark, raw
//! HTML in a text escaped).
//! [`junit_xml`] renders runs ([`JunitSuite::from_run`]) as JUnit XML for CI jobs.
//! [`Charts::from_run`] draws the run's timeline, its services' availability and latency,
//! and its canary writes as inline SVG ([`Report::charts`]): the HTML report shows them,
//! the email carries them as PNG, the JSON export leaves them out.

mod agenda;
mod audit;
mod charts;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
mod format;
mod junit;
mod model;
mod render;
mod svg;

pub use agenda::{Agenda, AgendaItem};
pub use audit::{
    Audit, AuditRun, AuditSlot, ChainStatus, DrillAudit, MissedReason, SlotStatus, SlotTotals,
};
pub use charts::{CHART_WIDTH, Chart, Charts};
pub use format::{format_latency, format_percent, format_seconds};
pub use junit::{JunitCase, JunitResult, JunitSuite, junit_xml};
pub use model::{
    ANNOUNCEMENT_EVIDENCE, ActionItem, Announcement, AvailabilityRow, DataLossRow, EvidenceRow,
    Issue, RecoveryRow, Report, announced, announcements,
};
pub use render::{Rendered, Renderer, TEMPLATE_FILES, markdown_html};

/// Why a report, agenda or audit could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("template `{name}` does not parse")]
    Template {
        name: String,
        #[source]
        source: tera::Error,
    },
    #[error(
        "unknown template file `{0}` (known: report.md.tera, report.html.tera, agenda.md.tera, email.txt.tera, email.html.tera, audit.md.tera, audit.html.tera)"
    )]
    UnknownTemplate(String),
    #[error("rendering `{name}` failed")]
    Render {
        name: String,
        #[source]
        source: tera::Error,
    },
    #[error("serialising the model to JSON failed")]
    Json(#[source] serde_json::Error),
}
