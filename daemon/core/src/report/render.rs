//! Rendering the models with tera: embedded default templates, optionally overridden by the user's.

use std::collections::HashMap;

use serde::Serialize;
use tera::{Context, Tera, Value};

use super::ReportError;
use super::agenda::Agenda;
use super::audit::Audit;
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

/// The JSON export of the report model (pretty, stable field order).
pub fn report_json(report: &Report) -> Result<String, ReportError> {
    serde_json::to_string_pretty(report).map_err(ReportError::Json)
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
