//! Rendering the models with tera: embedded default templates, optionally overridden by the user's.

use std::collections::HashMap;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde::Serialize;
use tera::{Context, Tera, Value};

use super::ReportError;
use super::agenda::Agenda;
use super::audit::Audit;
use super::charts::Charts;
use super::model::Report;

/// The template files of `reports/`: file name (as in a user's override directory) and the
/// embedded default. Names ending in `.html.tera` are HTML-escaped.
pub const TEMPLATE_FILES: &[(&str, &str)] = &[
    (
        "report.md.tera",
        include_str!("../../../../reports/report.md.tera"),
    ),
    (
        "report.html.tera",
        include_str!("../../../../reports/report.html.tera"),
    ),
    (
        "agenda.md.tera",
        include_str!("../../../../reports/agenda.md.tera"),
    ),
    (
        "email.txt.tera",
        include_str!("../../../../reports/email.txt.tera"),
    ),
    (
        "email.html.tera",
        include_str!("../../../../reports/email.html.tera"),
    ),
    (
        "audit.md.tera",
        include_str!("../../../../reports/audit.md.tera"),
    ),
    (
        "audit.html.tera",
        include_str!("../../../../reports/audit.html.tera"),
    ),
];

/// Everything sent and stored after a run, rendered from one report model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub report_markdown: String,
    pub report_html: String,
    pub report_json: String,
    pub agenda_markdown: String,
    pub email_text: String,
    pub email_html: String,
    /// The report's charts (their SVG is in `report_html`): the email carries them as
    /// images, which `email_html` refers to by their `cid`.
    pub charts: Charts,
}

impl Rendered {
    /// The report files as (file name, content), in the order they are attached and hashed.
    pub fn files(&self) -> [(&'static str, &str); 4] {
        [
            ("report.md", self.report_markdown.as_str()),
            ("report.html", self.report_html.as_str()),
            ("report.json", self.report_json.as_str()),
            ("agenda.md", self.agenda_markdown.as_str()),
        ]
    }
}

/// The compiled templates.
#[derive(Debug)]
pub struct Renderer {
    tera: Tera,
}

/// Template names inside tera: the file name without `.tera`, so tera's own rule (escape
/// names ending in `.html`) escapes exactly the HTML templates.
fn tera_name(file: &str) -> &str {
    file.strip_suffix(".tera").unwrap_or(file)
}

impl Renderer {
    /// The embedded templates only.
    pub fn new() -> Result<Renderer, ReportError> {
        Renderer::with_overrides(&[])
    }

    /// The embedded templates, each replaced by the override of the same file name
    /// (`report.md.tera`, ...) when the caller has one.
    pub fn with_overrides(overrides: &[(String, String)]) -> Result<Renderer, ReportError> {
        for (file, _) in overrides {
            if !TEMPLATE_FILES.iter().any(|(known, _)| known == file) {
                return Err(ReportError::UnknownTemplate(file.clone()));
            }
        }
        let mut tera = Tera::default();
        tera.register_filter("md", markdown_cell);
        tera.register_filter("markdown", MarkdownHtml);
        for (file, default) in TEMPLATE_FILES {
            let text = overrides
                .iter()
                .find(|(name, _)| name == file)
                .map_or(*default, |(_, text)| text.as_str());
            tera.add_raw_template(tera_name(file), text)
                .map_err(|source| ReportError::Template {
                    name: (*file).to_string(),
                    source,
                })?;
        }
        Ok(Renderer { tera })
    }

    fn render(&self, file: &str, context: &Context) -> Result<String, ReportError> {
        self.tera
            .render(tera_name(file), context)
            .map_err(|source| ReportError::Render {
                name: file.to_string(),
                source,
            })
    }

    fn report_context(report: &Report, agenda: &Agenda) -> Context {
        let mut context = Context::new();
        context.insert("report", report);
        context.insert("agenda", agenda);
        context
    }

    pub fn report_markdown(&self, report: &Report) -> Result<String, ReportError> {
        let agenda = Agenda::from_report(report);
        self.render("report.md.tera", &Self::report_context(report, &agenda))
    }

    pub fn agenda_markdown(&self, report: &Report) -> Result<String, ReportError> {
        let agenda = Agenda::from_report(report);
        self.render("agenda.md.tera", &Self::report_context(report, &agenda))
    }

    /// The report, the agenda, the JSON export and both email bodies.
    pub fn render_all(&self, report: &Report) -> Result<Rendered, ReportError> {
        let agenda = Agenda::from_report(report);
        let context = Self::report_context(report, &agenda);
        Ok(Rendered {
            subject: report.subject(),
            report_markdown: self.render("report.md.tera", &context)?,
            report_html: self.render("report.html.tera", &context)?,
            report_json: report_json(report)?,
            agenda_markdown: self.render("agenda.md.tera", &context)?,
            email_text: self.render("email.txt.tera", &context)?,
            email_html: self.render("email.html.tera", &context)?,
            charts: report.charts.clone(),
        })
    }

    pub fn audit_markdown(&self, audit: &Audit) -> Result<String, ReportError> {
        let mut context = Context::new();
        context.insert("audit", audit);
        self.render("audit.md.tera", &context)
    }

    pub fn audit_html(&self, audit: &Audit) -> Result<String, ReportError> {
        let mut context = Context::new();
        context.insert("audit", audit);
        self.render("audit.html.tera", &context)
    }
}

/// The JSON export of the report model (pretty, stable field order), without its charts:
/// their SVG is drawing, not data (the figures are in the run record and the tables).
pub fn report_json(report: &Report) -> Result<String, ReportError> {
    let mut value = serde_json::to_value(report).map_err(ReportError::Json)?;
    if let Some(fields) = value.as_object_mut() {
        fields.shift_remove("charts");
    }
    serde_json::to_string_pretty(&value).map_err(ReportError::Json)
}

/// `md` filter: makes a value safe inside a Markdown table cell (no pipes, no newlines).
fn markdown_cell(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    Ok(Value::String(
        text.replace('|', "\\|").replace(['\n', '\r'], " "),
    ))
}

/// `markdown` filter (HTML templates): the text's Markdown (CommonMark, no extensions) as
/// HTML, so `` `zone-failure` `` shows as code and `_..._` as emphasis. Its output is not
/// escaped again, so the filter escapes the text itself: raw HTML in the text is shown as
/// text, never passed through (the texts carry names and messages from runs and plugins),
/// links keep only `http`, `https` and `mailto` targets, and images show their alt text
/// (the report works offline and fetches nothing). `inline=true` leaves out the paragraph
/// around a one-paragraph text, for use inside `<li>` or `<p>`.
struct MarkdownHtml;

impl tera::Filter for MarkdownHtml {
    fn filter(&self, value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
        let inline = match args.get("inline") {
            None => false,
            Some(Value::Bool(inline)) => *inline,
            Some(other) => {
                return Err(tera::Error::msg(format!(
                    "filter `markdown`: `inline` must be true or false, not {other}"
                )));
            }
        };
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        Ok(Value::String(markdown_html(&text, inline)))
    }

    fn is_safe(&self) -> bool {
        true
    }
}

/// `text` (Markdown) as HTML, as the `markdown` filter renders it.
pub fn markdown_html(text: &str, inline: bool) -> String {
    // Whether each open link is kept: a link's end follows its start, and links do not nest.
    let mut links: Vec<bool> = Vec::new();
    let events: Vec<Event<'_>> = Parser::new_ext(text, Options::empty())
        .filter_map(|event| match event {
            Event::Html(html) | Event::InlineHtml(html) => Some(Event::Text(html)),
            Event::Start(Tag::Link { ref dest_url, .. }) => {
                let keep = safe_link(dest_url);
                links.push(keep);
                keep.then_some(event)
            }
            Event::End(TagEnd::Link) => links.pop().unwrap_or(false).then_some(event),
            Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
            other => Some(other),
        })
        .collect();
    let paragraphs = events
        .iter()
        .filter(|event| matches!(event, Event::Start(Tag::Paragraph)))
        .count();
    let body = match events.as_slice() {
        [
            Event::Start(Tag::Paragraph),
            inner @ ..,
            Event::End(TagEnd::Paragraph),
        ] if inline && paragraphs == 1 => inner,
        all => all,
    };
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, body.iter().cloned());
    if inline {
        html.truncate(html.trim_end().len());
    }
    html
}

/// Link targets a report may carry: web pages and mail addresses, nothing that runs.
fn safe_link(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}
