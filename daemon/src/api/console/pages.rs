//! The console's tera templates (`reports/console/`), embedded in the binary like the report's, and rendering a page model with them.

use serde::Serialize;
use tera::{Context, Tera};

use super::ConsoleError;

/// The templates: name inside tera (ending in `.html`, so tera escapes every value) and
/// the embedded text. Pages extend `base.html`.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../../reports/console/base.html.tera"),
    ),
    (
        "drills.html",
        include_str!("../../../../reports/console/drills.html.tera"),
    ),
    (
        "runs.html",
        include_str!("../../../../reports/console/runs.html.tera"),
    ),
    (
        "run.html",
        include_str!("../../../../reports/console/run.html.tera"),
    ),
    (
        "audit.html",
        include_str!("../../../../reports/console/audit.html.tera"),
    ),
    (
        "plan.html",
        include_str!("../../../../reports/console/plan.html.tera"),
    ),
    (
        "login.html",
        include_str!("../../../../reports/console/login.html.tera"),
    ),
    (
        "message.html",
        include_str!("../../../../reports/console/message.html.tera"),
    ),
];

/// The compiled console templates.
#[derive(Debug)]
pub struct Pages {
    tera: Tera,
}

impl Pages {
    pub fn new() -> Result<Pages, ConsoleError> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES.iter().copied())
            .map_err(ConsoleError::Templates)?;
        Ok(Pages { tera })
    }

    /// Renders template `name` with the fields of `page` as its context.
    pub fn render(&self, name: &str, page: &impl Serialize) -> Result<String, ConsoleError> {
        let context = Context::from_serialize(page).map_err(|source| ConsoleError::Render {
            name: name.to_string(),
            source,
        })?;
        self.tera
            .render(name, &context)
            .map_err(|source| ConsoleError::Render {
                name: name.to_string(),
                source,
            })
    }
}
