//! The report's charts, drawn as inline SVG from the run's own record: the drill timeline, each service's availability and p95 latency, each phase's canary writes.
//!
//! Pure: the SVG is built as text (no JavaScript, no external assets, no fonts needed to
//! read the figures), every name in it escaped by [`super::svg`]. Colour is never the only
//! signal: verdicts are also fill patterns, instants are also shapes, and every element
//! says what it is in a `<title>`. Charts of one report share one time axis (the run's
//! start to its end, the same x for the same instant), and element ids are prefixed with
//! the chart's id, so several charts can sit in one HTML page.
//!
//! Each [`Chart`] also carries its key and figures in words ([`Chart::notes`]): the email
//! shows them beside the chart's PNG, which is rasterised without fonts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::format::{format_latency, format_percent, format_seconds};
use super::svg::{Attr, Svg, digits_path, digits_width, num};
use crate::run::{PhaseRecord, PhaseVerdict, RunRecord};
use crate::series::{CanarySeries, ProbeSeries};

/// Every chart is this wide (CSS pixels); heights vary.
pub const CHART_WIDTH: u32 = 720;
/// Left of the plot: phase numbers and y-axis labels.
const MARGIN_LEFT: f64 = 48.0;
const MARGIN_RIGHT: f64 = 24.0;
const PLOT_WIDTH: f64 = CHART_WIDTH as f64 - MARGIN_LEFT - MARGIN_RIGHT;
/// One phase's row in the timeline: its label line, then its band.
const LANE_HEIGHT: f64 = 46.0;
const BAND_OFFSET: f64 = 22.0;
const BAND_HEIGHT: f64 = 14.0;
const FONT: &str = "Arial, Helvetica, sans-serif";

const INK: &str = "#24292f";
const MUTED: &str = "#57606a";
const GRID: &str = "#d0d7de";
const GREEN: &str = "#1a7f37";
const GREEN_FILL: &str = "#2da44e";
const RED: &str = "#cf222e";
const ORANGE: &str = "#bc4c00";
const PURPLE: &str = "#8250df";
const BLUE: &str = "#0969da";

/// One chart: its SVG, and the same in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chart {
    /// `timeline`, `service-capsule`, `canaries-db-failover`: unique in a report; every
    /// element id in the SVG starts with it.
    pub id: String,
    /// The Content-ID of its PNG in the email, which `cid:` URLs in the email's HTML use.
    pub cid: String,
    pub title: String,
    /// What it shows, in a sentence: the SVG's description and the image's alt text.
    pub description: String,
    /// The key and the figures, a line each (the email's PNG has no text: these go beside it).
    pub notes: Vec<String>,
    pub width: u32,
    pub height: u32,
    /// The SVG element, generated here with every text in it escaped: safe to put in HTML
    /// unescaped.
    pub svg: String,
}

/// The charts of one report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charts {
    /// The drill timeline; none when no phase was recorded.
    pub timeline: Option<Chart>,
    /// Availability and p95 latency, one chart per probed service.
    pub services: Vec<Chart>,
    /// Canary writes, one chart per phase that wrote canaries.
    pub canaries: Vec<Chart>,
}

impl Charts {
    /// The charts of `run`, from what its record keeps (records from before probe and
    /// canary series were kept get the timeline only).
    pub fn from_run(run: &RunRecord) -> Charts {
        let axis = Axis::of_run(run);
        Charts {
            timeline: (!run.phases.is_empty()).then(|| timeline(run, &axis)),
            services: run
                .probe_series
                .iter()
                .filter(|series| !series.buckets.is_empty())
                .map(|series| service_chart(run, series, &axis))
                .collect(),
            canaries: run
                .phases
                .iter()
                .filter_map(|phase| {
                    let series = phase.canary_series.as_ref()?;
                    (!series.buckets.is_empty()).then(|| canary_chart(run, phase, series))
                })
                .collect(),
        }
    }

    /// Every chart, timeline first.
    pub fn all(&self) -> impl Iterator<Item = &Chart> {
        self.timeline
            .iter()
            .chain(&self.services)
            .chain(&self.canaries)
    }

    pub fn is_empty(&self) -> bool {
        self.all().next().is_none()
    }
}

/// Time on the x axis: `from` at the plot's left edge, `span_ms` later at its right.
#[derive(Debug, Clone, Copy)]
struct Axis {
    from: DateTime<Utc>,
    span_ms: f64,
}

impl Axis {
    /// From the run's start to the last instant its record mentions.
    fn of_run(run: &RunRecord) -> Axis {
        let mut end = run.finished_at.unwrap_or(run.started_at);
        let mut later = |at: Option<DateTime<Utc>>| {
            if let Some(at) = at
                && at > end
            {
                end = at;
            }
        };
        for phase in &run.phases {
            later(Some(phase.started_at));
            later(phase.recovered_at);
            later(phase.finished_at);
        }
        for event in &run.timeline {
            later(Some(event.at));
        }
        for series in &run.probe_series {
            later(Some(series_end(
                series.from,
                series.bucket_ms,
                series.buckets.len(),
            )));
        }
        Axis::between(run.started_at, end)
    }

    fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> Axis {
        let span_ms = (to - from).num_milliseconds().max(1000) as f64;
        Axis { from, span_ms }
    }

    fn offset_seconds(&self, at: DateTime<Utc>) -> f64 {
        (at - self.from).num_milliseconds() as f64 / 1000.0
    }

    /// The x of `at`, kept inside the plot.
    fn x(&self, at: DateTime<Utc>) -> f64 {
        let ms = (at - self.from).num_milliseconds() as f64;
        MARGIN_LEFT + (ms / self.span_ms).clamp(0.0, 1.0) * PLOT_WIDTH
    }

    fn x_ms(&self, from: DateTime<Utc>, ms: f64) -> f64 {
        let offset = (from - self.from).num_milliseconds() as f64 + ms;
        MARGIN_LEFT + (offset / self.span_ms).clamp(0.0, 1.0) * PLOT_WIDTH
    }

    /// `+1m 15s` from the start of the axis.
    fn describe(&self, at: DateTime<Utc>) -> String {
        let seconds = self.offset_seconds(at);
        if seconds < 0.0 {
            format!("-{}", format_seconds(-seconds))
        } else {
            format!("+{}", format_seconds(seconds))
        }
    }

    /// Tick marks and their labels at a readable step (at most eight).
    fn draw(&self, svg: &mut Svg, y: f64) {
        const STEPS: [f64; 18] = [
            1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
            7200.0, 10800.0, 21600.0, 43200.0, 86400.0,
        ];
        let span = self.span_ms / 1000.0;
        let step = STEPS
            .iter()
            .copied()
            .find(|step| span / step <= 8.0)
            .unwrap_or_else(|| (span / 8.0 / 86400.0).ceil() * 86400.0);
        svg.empty(
            "line",
            &[
                ("x1", num(MARGIN_LEFT)),
                ("x2", num(MARGIN_LEFT + PLOT_WIDTH)),
                ("y1", num(y)),
                ("y2", num(y)),
                ("stroke", MUTED.into()),
            ],
        );
        let mut tick = 0.0;
        while tick <= span + 1e-9 {
            let x = MARGIN_LEFT + tick / span * PLOT_WIDTH;
            svg.empty(
                "line",
                &[
                    ("x1", num(x)),
                    ("x2", num(x)),
                    ("y1", num(y)),
                    ("y2", num(y + 4.0)),
                    ("stroke", MUTED.into()),
                ],
            );
            let label = if tick == 0.0 {
                "0".to_string()
            } else {
                format!("+{}", format_seconds(tick))
            };
            svg.element(
                "text",
                &[
                    ("x", num(x)),
                    ("y", num(y + 15.0)),
                    ("font-size", "10".into()),
                    ("fill", MUTED.into()),
                    ("text-anchor", "middle".into()),
                ],
                &label,
            );
            tick += step;
        }
    }
}

fn series_end(from: DateTime<Utc>, bucket_ms: u64, buckets: usize) -> DateTime<Utc> {
    let ms = i64::try_from(bucket_ms.saturating_mul(buckets as u64)).unwrap_or(i64::MAX);
    from + chrono::Duration::milliseconds(ms)
}

/// `09:00:20 UTC`.
fn clock_time(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S UTC").to_string()
}

/// A lower-case id part: the name's letters, digits and dashes.
fn id_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The chart's root element, title and description, white background and patterns.
fn begin(id: &str, height: f64, title: &str, description: &str) -> Svg {
    let mut svg = Svg::default();
    svg.open(
        "svg",
        &[
            ("xmlns", "http://www.w3.org/2000/svg".into()),
            ("id", id.into()),
            ("class", "firedrill-chart".into()),
            ("width", CHART_WIDTH.to_string()),
            ("height", num(height)),
            ("viewBox", format!("0 0 {CHART_WIDTH} {}", num(height))),
            ("style", "max-width: 100%; height: auto;".into()),
            ("role", "img".into()),
            ("aria-labelledby", format!("{id}-title {id}-desc")),
            ("font-family", FONT.into()),
        ],
    );
    svg.element("title", &[("id", format!("{id}-title"))], title);
    svg.element("desc", &[("id", format!("{id}-desc"))], description);
    svg.open("defs", &[]);
    pattern(&mut svg, &format!("{id}-hatch"), "#ffebe9", RED, false);
    pattern(&mut svg, &format!("{id}-cross"), "#fff1e5", ORANGE, true);
    svg.open(
        "pattern",
        &[
            ("id", format!("{id}-dots")),
            ("width", "5".into()),
            ("height", "5".into()),
            ("patternUnits", "userSpaceOnUse".into()),
        ],
    );
    svg.empty(
        "rect",
        &[
            ("width", "5".into()),
            ("height", "5".into()),
            ("fill", "#eaeef2".into()),
        ],
    );
    svg.empty(
        "circle",
        &[
            ("cx", "2.5".into()),
            ("cy", "2.5".into()),
            ("r", "1.2".into()),
            ("fill", MUTED.into()),
        ],
    );
    svg.close("pattern");
    svg.close("defs");
    svg.empty(
        "rect",
        &[
            ("width", CHART_WIDTH.to_string()),
            ("height", num(height)),
            ("fill", "#ffffff".into()),
        ],
    );
    svg
}

/// Diagonal hatching (or cross-hatching) of `ink` on `paper`.
fn pattern(svg: &mut Svg, id: &str, paper: &str, ink: &str, cross: bool) {
    svg.open(
        "pattern",
        &[
            ("id", id.into()),
            ("width", "6".into()),
            ("height", "6".into()),
            ("patternUnits", "userSpaceOnUse".into()),
            ("patternTransform", "rotate(45)".into()),
        ],
    );
    svg.empty(
        "rect",
        &[
            ("width", "6".into()),
            ("height", "6".into()),
            ("fill", paper.into()),
        ],
    );
    let line = |svg: &mut Svg, x2: &str, y2: &str| {
        svg.empty(
            "line",
            &[
                ("x1", "0".into()),
                ("y1", "0".into()),
                ("x2", x2.into()),
                ("y2", y2.into()),
                ("stroke", ink.into()),
                ("stroke-width", "2".into()),
            ],
        );
    };
    line(svg, "0", "6");
    if cross {
        line(svg, "6", "0");
    }
    svg.close("pattern");
}

fn text(svg: &mut Svg, x: f64, y: f64, size: u32, fill: &str, content: &str) {
    svg.element(
        "text",
        &[
            ("x", num(x)),
            ("y", num(y)),
            ("font-size", size.to_string()),
            ("fill", fill.into()),
        ],
        content,
    );
}

/// A phase's number in a box, drawn with lines (it stays in the email's PNG).
fn phase_number(svg: &mut Svg, number: usize, x: f64, y: f64) {
    let digit = 4.0;
    let width = digits_width(number, digit) + 6.0;
    svg.open("g", &[("aria-hidden", "true".into())]);
    svg.empty(
        "rect",
        &[
            ("x", num(x)),
            ("y", num(y)),
            ("width", num(width)),
            ("height", "14".into()),
            ("rx", "2".into()),
            ("fill", "#ffffff".into()),
            ("stroke", MUTED.into()),
        ],
    );
    svg.empty(
        "path",
        &[
            ("d", digits_path(number, x + 3.0, y + 3.0, digit)),
            ("fill", "none".into()),
            ("stroke", INK.into()),
            ("stroke-width", "1.4".into()),
            ("stroke-linecap", "round".into()),
        ],
    );
    svg.close("g");
}

/// How a band of a phase with this verdict is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BandStyle {
    Passed,
    Failed,
    Stopped,
    Skipped,
}

impl BandStyle {
    fn of(verdict: &PhaseVerdict) -> BandStyle {
        match verdict {
            PhaseVerdict::Passed => BandStyle::Passed,
            PhaseVerdict::Failed { .. } | PhaseVerdict::TimedOut => BandStyle::Failed,
            PhaseVerdict::Aborted { .. }
            | PhaseVerdict::Error { .. }
            | PhaseVerdict::Interrupted => BandStyle::Stopped,
            PhaseVerdict::Skipped => BandStyle::Skipped,
        }
    }

    fn class(self) -> &'static str {
        match self {
            BandStyle::Passed => "band passed",
            BandStyle::Failed => "band failed",
            BandStyle::Stopped => "band stopped",
            BandStyle::Skipped => "band skipped",
        }
    }

    fn paint(self, id: &str) -> Vec<Attr<'static>> {
        match self {
            BandStyle::Passed => vec![("fill", "#dafbe1".into()), ("stroke", GREEN.into())],
            BandStyle::Failed => vec![
                ("fill", format!("url(#{id}-hatch)")),
                ("stroke", RED.into()),
            ],
            BandStyle::Stopped => vec![
                ("fill", format!("url(#{id}-cross)")),
                ("stroke", ORANGE.into()),
            ],
            BandStyle::Skipped => vec![
                ("fill", "none".into()),
                ("stroke", MUTED.into()),
                ("stroke-dasharray", "3 2".into()),
            ],
        }
    }
}

/// A phase's status in words, as the report's tables say it.
fn status(verdict: &PhaseVerdict) -> &'static str {
    match verdict {
        PhaseVerdict::Passed => "passed",
        PhaseVerdict::Failed { .. } => "failed",
        PhaseVerdict::TimedOut => "timed out",
        PhaseVerdict::Aborted { .. } => "aborted",
        PhaseVerdict::Error { .. } => "error",
        PhaseVerdict::Skipped => "skipped",
        PhaseVerdict::Interrupted => "interrupted",
    }
}

/// The instants the timeline marks on a phase.
struct PhaseMarks {
    /// The fault's first effect (where the recovery clock started).
    fault: Option<DateTime<Utc>>,
    recovered: Option<DateTime<Utc>>,
    /// The fault plus the RTO target.
    deadline: Option<DateTime<Utc>>,
    aborted: Option<DateTime<Utc>>,
    rolled_back: Option<DateTime<Utc>>,
}

impl PhaseMarks {
    fn of(run: &RunRecord, phase: &PhaseRecord, end: DateTime<Utc>) -> PhaseMarks {
        if phase.verdict == PhaseVerdict::Skipped {
            return PhaseMarks {
                fault: None,
                recovered: None,
                deadline: None,
                aborted: None,
                rolled_back: None,
            };
        }
        let fault = phase
            .clock
            .as_ref()
            .map(|clock| clock.started_at)
            .or(phase.injected_at);
        let deadline = match (fault, phase.rto_target_seconds) {
            (Some(fault), Some(rto)) if rto.is_finite() && rto >= 0.0 => {
                Some(fault + chrono::Duration::milliseconds((rto * 1000.0).round() as i64))
            }
            _ => None,
        };
        let aborted = matches!(phase.verdict, PhaseVerdict::Aborted { .. })
            .then(|| phase.finished_at.unwrap_or(end));
        // The drill's final rollbacks are on the timeline; a failed phase is rolled back
        // at once, before it ends.
        let final_rollback = run
            .timeline
            .iter()
            .find(|e| {
                e.phase.as_deref() == Some(phase.name.as_str())
                    && e.message.starts_with("Final rollback of")
            })
            .map(|e| e.at);
        let rolled_back = final_rollback.or_else(|| {
            phase
                .rollback
                .as_ref()
                .map(|_| phase.finished_at.unwrap_or(end))
        });
        PhaseMarks {
            fault,
            recovered: phase.recovered_at,
            deadline,
            aborted,
            rolled_back,
        }
    }
}

/// Marker shapes, shared by the timeline, its legend and the canary charts.
fn fault_mark(svg: &mut Svg, x: f64, tip: f64, attrs: &[Attr<'_>]) {
    let mut all = vec![
        (
            "points",
            format!(
                "{},{} {},{} {},{}",
                num(x - 5.0),
                num(tip - 8.0),
                num(x + 5.0),
                num(tip - 8.0),
                num(x),
                num(tip)
            ),
        ),
        ("fill", INK.to_string()),
    ];
    all.extend(attrs.iter().cloned());
    svg.empty("polygon", &all);
}

fn recovered_mark(svg: &mut Svg, x: f64, y: f64, attrs: &[Attr<'_>]) {
    let mut all = vec![
        ("cx", num(x)),
        ("cy", num(y)),
        ("r", "4.5".to_string()),
        ("fill", "#ffffff".to_string()),
        ("stroke", GREEN.to_string()),
        ("stroke-width", "2.5".to_string()),
    ];
    all.extend(attrs.iter().cloned());
    svg.empty("circle", &all);
}

fn deadline_mark(svg: &mut Svg, x: f64, top: f64, bottom: f64, attrs: &[Attr<'_>]) {
    let mut all = vec![
        ("x1", num(x)),
        ("x2", num(x)),
        ("y1", num(top)),
        ("y2", num(bottom)),
        ("stroke", PURPLE.to_string()),
        ("stroke-width", "2".to_string()),
        ("stroke-dasharray", "4 2".to_string()),
    ];
    all.extend(attrs.iter().cloned());
    svg.empty("line", &all);
    svg.empty(
        "line",
        &[
            ("x1", num(x - 4.0)),
            ("x2", num(x + 4.0)),
            ("y1", num(top)),
            ("y2", num(top)),
            ("stroke", PURPLE.to_string()),
            ("stroke-width", "2".to_string()),
        ],
    );
}

fn abort_mark(svg: &mut Svg, x: f64, y: f64, attrs: &[Attr<'_>]) {
    let d = 4.5;
    let mut all = vec![
        (
            "d",
            format!(
                "M{} {}L{} {}M{} {}L{} {}",
                num(x - d),
                num(y - d),
                num(x + d),
                num(y + d),
                num(x - d),
                num(y + d),
                num(x + d),
                num(y - d)
            ),
        ),
        ("stroke", ORANGE.to_string()),
        ("stroke-width", "3".to_string()),
        ("stroke-linecap", "round".to_string()),
    ];
    all.extend(attrs.iter().cloned());
    svg.empty("path", &all);
}

fn rollback_mark(svg: &mut Svg, x: f64, y: f64, attrs: &[Attr<'_>]) {
    let d = 4.5;
    let mut all = vec![
        (
            "points",
            format!(
                "{},{} {},{} {},{} {},{}",
                num(x),
                num(y - d),
                num(x + d),
                num(y),
                num(x),
                num(y + d),
                num(x - d),
                num(y)
            ),
        ),
        ("fill", BLUE.to_string()),
        ("stroke", "#ffffff".to_string()),
    ];
    all.extend(attrs.iter().cloned());
    svg.empty("polygon", &all);
}

/// The drill timeline: a row per phase with its band (start to end, patterned by
/// verdict), the fault's first effect, the recovery, the RTO deadline, aborts and
/// rollbacks; the time axis and a legend below.
fn timeline(run: &RunRecord, axis: &Axis) -> Chart {
    let id = "timeline";
    let end = run
        .finished_at
        .unwrap_or_else(|| axis.from + chrono::Duration::milliseconds(axis.span_ms.round() as i64));
    let lanes_top = 8.0;
    let axis_y = lanes_top + LANE_HEIGHT * run.phases.len() as f64 + 4.0;
    let legend_top = axis_y + 30.0;
    let height = legend_top + 2.0 * 20.0 + 4.0;
    let passed = run.phases.iter().filter(|p| p.verdict.passed()).count();
    let title = format!("Drill timeline: {}", run.drill);
    let description = format!(
        "Drill {} on {}: {} phase{} over {}, {} passed; outcome {}.",
        run.drill,
        run.target,
        run.phases.len(),
        if run.phases.len() == 1 { "" } else { "s" },
        format_seconds(axis.span_ms / 1000.0),
        passed,
        run.outcome.label()
    );
    let mut svg = begin(id, height, &title, &description);
    let mut notes = vec![format!(
        "Time runs left to right from the start of the run ({}) to {}; one row per phase, numbered.",
        clock_time(axis.from),
        axis.describe(end)
    )];
    for (i, phase) in run.phases.iter().enumerate() {
        let number = i + 1;
        let top = lanes_top + LANE_HEIGHT * i as f64;
        let band_top = top + BAND_OFFSET;
        let middle = band_top + BAND_HEIGHT / 2.0;
        let style = BandStyle::of(&phase.verdict);
        let marks = PhaseMarks::of(run, phase, end);
        let figures = phase_figures(phase, &marks, axis);
        let summary = format!("{number}. {}: {}", phase.name, figures.join(", "));
        svg.open(
            "g",
            &[
                ("class", "phase".into()),
                ("data-phase", phase.name.clone()),
                ("aria-label", summary.clone()),
            ],
        );
        svg.title(&summary);
        phase_number(&mut svg, number, 8.0, band_top + 1.0);
        let label = format!(
            "{} ({}): {}",
            phase.name,
            phase.scenario,
            status(&phase.verdict)
        );
        text(&mut svg, MARGIN_LEFT, top + 13.0, 12, INK, &label);
        let start_x = axis.x(phase.started_at);
        let end_x = axis.x(phase.finished_at.unwrap_or(end));
        let width = (end_x - start_x).max(if style == BandStyle::Skipped {
            8.0
        } else {
            2.0
        });
        let mut band = vec![
            ("class", style.class().to_string()),
            ("data-phase", phase.name.clone()),
            ("x", num(start_x)),
            ("y", num(band_top)),
            ("width", num(width)),
            ("height", num(BAND_HEIGHT)),
        ];
        band.extend(style.paint(id));
        svg.open("rect", &band);
        svg.title(&format!(
            "{}: {} from {} to {}",
            phase.name,
            status(&phase.verdict),
            clock_time(phase.started_at),
            phase
                .finished_at
                .map_or_else(|| "the end of the run".to_string(), clock_time)
        ));
        svg.close("rect");
        let data = |class: &str| -> Vec<Attr<'static>> {
            vec![
                ("class", class.to_string()),
                ("data-phase", phase.name.clone()),
            ]
        };
        if let Some(deadline) = marks.deadline {
            let x = axis.x(deadline);
            // A deadline after the end of the run is drawn at the edge, pointing on.
            let beyond = axis.offset_seconds(deadline) * 1000.0 > axis.span_ms;
            svg.open("g", &[]);
            svg.title(&format!(
                "RTO deadline of {}: {} after the fault, at {}{}",
                phase.name,
                phase
                    .rto_target_seconds
                    .map_or_else(String::new, format_seconds),
                axis.describe(deadline),
                if beyond {
                    " (after the end of the run)"
                } else {
                    ""
                }
            ));
            let class = if beyond {
                "rto-deadline beyond"
            } else {
                "rto-deadline"
            };
            deadline_mark(
                &mut svg,
                x,
                band_top - 4.0,
                band_top + BAND_HEIGHT + 6.0,
                &data(class),
            );
            if beyond {
                svg.empty(
                    "polygon",
                    &[
                        (
                            "points",
                            format!(
                                "{},{} {},{} {},{}",
                                num(x + 2.0),
                                num(middle - 5.0),
                                num(x + 8.0),
                                num(middle),
                                num(x + 2.0),
                                num(middle + 5.0)
                            ),
                        ),
                        ("fill", PURPLE.to_string()),
                    ],
                );
            }
            svg.close("g");
        }
        if let Some(fault) = marks.fault {
            svg.open("g", &[]);
            svg.title(&format!(
                "Fault's first effect in {}: {}",
                phase.name,
                clock_time(fault)
            ));
            fault_mark(&mut svg, axis.x(fault), band_top, &data("fault"));
            svg.close("g");
        }
        if let Some(recovered) = marks.recovered {
            svg.open("g", &[]);
            svg.title(&format!(
                "{} recovered: {}",
                phase.name,
                clock_time(recovered)
            ));
            recovered_mark(&mut svg, axis.x(recovered), middle, &data("recovered"));
            svg.close("g");
        }
        if let Some(aborted) = marks.aborted {
            svg.open("g", &[]);
            svg.title(&format!("{} aborted: {}", phase.name, clock_time(aborted)));
            abort_mark(&mut svg, axis.x(aborted), middle, &data("abort"));
            svg.close("g");
        }
        if let Some(rolled_back) = marks.rolled_back {
            svg.open("g", &[]);
            svg.title(&format!(
                "{} rolled back: {}",
                phase.name,
                clock_time(rolled_back)
            ));
            rollback_mark(
                &mut svg,
                axis.x(rolled_back),
                band_top + BAND_HEIGHT + 3.0,
                &data("rollback"),
            );
            svg.close("g");
        }
        svg.close("g");
        notes.push(summary);
    }
    axis.draw(&mut svg, axis_y);
    timeline_legend(&mut svg, id, legend_top);
    notes.push(
        "Bands: plain green = passed; diagonal red hatching = failed or timed out; orange \
         cross-hatching = aborted, error or interrupted; dashed outline = skipped."
            .to_string(),
    );
    notes.push(
        "Marks: black triangle = the fault's first effect; ring = recovered; dashed purple \
         line = RTO deadline (fault + target), with an arrow at the right edge when it \
         falls after the end of the run; orange cross = aborted; blue diamond = rolled back."
            .to_string(),
    );
    if let crate::run::Outcome::Aborted { reason } = &run.outcome {
        notes.push(format!("The drill was aborted: {reason}."));
    }
    svg.close("svg");
    Chart {
        id: id.to_string(),
        cid: content_id(id),
        title,
        description,
        notes,
        width: CHART_WIDTH,
        height: height.round() as u32,
        svg: svg.finish(),
    }
}

/// A phase's figures in words, for its `<title>` and the chart's notes.
fn phase_figures(phase: &PhaseRecord, marks: &PhaseMarks, axis: &Axis) -> Vec<String> {
    let mut figures = vec![status(&phase.verdict).to_string()];
    if phase.verdict == PhaseVerdict::Skipped {
        return figures;
    }
    figures.push(format!("ran from {}", axis.describe(phase.started_at)));
    if let Some(fault) = marks.fault {
        figures.push(format!("fault at {}", axis.describe(fault)));
    }
    match (phase.recovery_seconds, marks.recovered) {
        (Some(seconds), _) => figures.push(format!("recovered after {}", format_seconds(seconds))),
        (None, Some(at)) => figures.push(format!("recovered at {}", axis.describe(at))),
        (None, None) => figures.push("not recovered".to_string()),
    }
    if let (Some(rto), Some(deadline)) = (phase.rto_target_seconds, marks.deadline) {
        figures.push(format!(
            "RTO target {} (deadline at {})",
            format_seconds(rto),
            axis.describe(deadline)
        ));
    }
    if let Some(aborted) = marks.aborted {
        figures.push(format!("aborted at {}", axis.describe(aborted)));
    }
    if let Some(rolled_back) = marks.rolled_back {
        figures.push(format!("rolled back at {}", axis.describe(rolled_back)));
    }
    figures
}

/// Draws a legend's symbol with its top left corner at (x, y).
type DrawAt<'a> = dyn Fn(&mut Svg, f64, f64) + 'a;

fn timeline_legend(svg: &mut Svg, id: &str, top: f64) {
    svg.open("g", &[("class", "legend".into())]);
    let item_width = 134.0;
    let per_row = 5;
    let items: [(&str, &DrawAt<'_>); 9] = [
        ("passed", &|svg, x, y| {
            swatch(svg, x, y, BandStyle::Passed, id)
        }),
        ("failed / timed out", &|svg, x, y| {
            swatch(svg, x, y, BandStyle::Failed, id)
        }),
        ("aborted / error", &|svg, x, y| {
            swatch(svg, x, y, BandStyle::Stopped, id)
        }),
        ("skipped", &|svg, x, y| {
            swatch(svg, x, y, BandStyle::Skipped, id)
        }),
        ("fault's first effect", &|svg, x, y| {
            fault_mark(svg, x + 8.0, y + 10.0, &[])
        }),
        ("recovered", &|svg, x, y| {
            recovered_mark(svg, x + 8.0, y + 6.0, &[])
        }),
        ("RTO deadline", &|svg, x, y| {
            deadline_mark(svg, x + 8.0, y, y + 12.0, &[])
        }),
        ("aborted", &|svg, x, y| {
            abort_mark(svg, x + 8.0, y + 6.0, &[])
        }),
        ("rolled back", &|svg, x, y| {
            rollback_mark(svg, x + 8.0, y + 6.0, &[])
        }),
    ];
    for (i, (label, draw)) in items.iter().enumerate() {
        let x = 8.0 + item_width * (i % per_row) as f64;
        let y = top + 20.0 * (i / per_row) as f64;
        draw(svg, x, y);
        text(svg, x + 22.0, y + 10.0, 11, INK, label);
    }
    svg.close("g");
}

fn swatch(svg: &mut Svg, x: f64, y: f64, style: BandStyle, id: &str) {
    let mut attrs = vec![
        ("x", num(x)),
        ("y", num(y)),
        ("width", "16".to_string()),
        ("height", "12".to_string()),
    ];
    attrs.extend(style.paint(id));
    svg.empty("rect", &attrs);
}

/// The Content-ID of a chart's PNG in the email.
fn content_id(id: &str) -> String {
    format!("{id}@charts.firedrill.invalid")
}

/// The phases that ran as shaded columns across a plot, each numbered above it.
fn phase_columns(svg: &mut Svg, run: &RunRecord, axis: &Axis, top: f64, bottom: f64) {
    for (i, phase) in run.phases.iter().enumerate() {
        if phase.verdict == PhaseVerdict::Skipped {
            continue;
        }
        let start = axis.x(phase.started_at);
        let end = axis.x(phase
            .finished_at
            .unwrap_or(axis.from + chrono::Duration::milliseconds(axis.span_ms.round() as i64)));
        svg.open(
            "g",
            &[
                ("class", "phase-column".into()),
                ("data-phase", phase.name.clone()),
            ],
        );
        svg.title(&format!("Phase {}: {}", i + 1, phase.name));
        svg.empty(
            "rect",
            &[
                ("x", num(start)),
                ("y", num(top)),
                ("width", num((end - start).max(1.0))),
                ("height", num(bottom - top)),
                ("fill", "#eaeef2".into()),
                ("stroke", GRID.into()),
                ("stroke-dasharray", "2 2".into()),
            ],
        );
        phase_number(svg, i + 1, start, 2.0);
        svg.close("g");
    }
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `value`.
fn nice_ceiling(value: f64) -> f64 {
    if !value.is_finite() || value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|nice| *nice >= value * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// A latency for an axis: `250 ms`, `1.5 s`.
fn latency_label(seconds: f64) -> String {
    if seconds < 1.0 {
        format_latency(Some(seconds))
    } else {
        format!("{} s", num(seconds))
    }
}

fn y_label(svg: &mut Svg, y: f64, label: &str) {
    svg.element(
        "text",
        &[
            ("x", num(MARGIN_LEFT - 4.0)),
            ("y", num(y + 3.5)),
            ("font-size", "10".into()),
            ("fill", MUTED.into()),
            ("text-anchor", "end".into()),
        ],
        label,
    );
}

fn gridline(svg: &mut Svg, y: f64) {
    svg.empty(
        "line",
        &[
            ("x1", num(MARGIN_LEFT)),
            ("x2", num(MARGIN_LEFT + PLOT_WIDTH)),
            ("y1", num(y)),
            ("y2", num(y)),
            ("stroke", GRID.into()),
        ],
    );
}

/// A service's availability (a 100% bar per bucket: answered solid green from the
/// bottom, failed hatched red above) and its p95 latency (a line), the phases shaded.
fn service_chart(run: &RunRecord, series: &ProbeSeries, axis: &Axis) -> Chart {
    let id = format!("service-{}", id_part(&series.service));
    let bucket = series.bucket_ms as f64;
    let width_text = format_seconds(bucket / 1000.0);
    let probed: Vec<(usize, f64)> = series
        .buckets
        .iter()
        .enumerate()
        .filter_map(|(i, b)| b.ratio().map(|r| (i, r)))
        .collect();
    let lowest = probed.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
    let slowest = series
        .buckets
        .iter()
        .enumerate()
        .filter_map(|(i, b)| b.p95_seconds().map(|p| (i, p)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let probes: u64 = series.buckets.iter().map(|b| u64::from(b.probes())).sum();
    let failed: u64 = series.buckets.iter().map(|b| u64::from(b.failures)).sum();
    let bucket_start =
        |i: usize| series.from + chrono::Duration::milliseconds((bucket * i as f64).round() as i64);
    let title = format!("{}: availability and p95 latency", series.service);
    let description = format!(
        "Availability and p95 latency of {} over the run, per {}: lowest {}, highest p95 {}; {} of {} probes failed.",
        series.service,
        width_text,
        lowest.map_or_else(|| "n/a".to_string(), |(_, r)| format_percent(r)),
        format_latency(slowest.map(|(_, p)| p)),
        failed,
        probes
    );
    let available_top = 34.0;
    let panel = 70.0;
    let latency_top = available_top + panel + 24.0;
    let axis_y = latency_top + panel;
    let legend_y = axis_y + 30.0;
    let height = legend_y + 18.0;
    let mut svg = begin(&id, height, &title, &description);
    phase_columns(&mut svg, run, axis, available_top, axis_y);

    // Availability.
    text(
        &mut svg,
        MARGIN_LEFT,
        available_top - 6.0,
        11,
        INK,
        &format!("Availability: share of probes answered per {width_text}"),
    );
    for (y, label) in [
        (available_top, "100%"),
        (available_top + panel / 2.0, "50%"),
        (available_top + panel, "0%"),
    ] {
        gridline(&mut svg, y);
        y_label(&mut svg, y, label);
    }
    svg.open("g", &[("class", "availability".into())]);
    for (i, b) in series.buckets.iter().enumerate() {
        let Some(ratio) = b.ratio() else { continue };
        let x = axis.x_ms(series.from, bucket * i as f64);
        let next = axis.x_ms(series.from, bucket * (i + 1) as f64);
        let gap = if next - x > 3.0 { 0.5 } else { 0.0 };
        let width = (next - x - gap).max(0.5);
        let answered = ratio * panel;
        let at = bucket_start(i);
        let summary = format!(
            "{} at {}: {} of {} probes answered{}",
            series.service,
            clock_time(at),
            b.successes,
            b.probes(),
            b.p95_seconds()
                .map(|p| format!(", p95 {}", format_latency(Some(p))))
                .unwrap_or_default()
        );
        if b.successes > 0 {
            svg.open(
                "rect",
                &[
                    ("class", "answered".into()),
                    ("x", num(x)),
                    ("y", num(available_top + panel - answered)),
                    ("width", num(width)),
                    ("height", num(answered)),
                    ("fill", GREEN_FILL.into()),
                ],
            );
            // A bucket that failed says so on its red part; the healthy ones stay quiet
            // (hundreds of tooltips would weigh more than the chart).
            svg.close("rect");
        }
        if b.failures > 0 {
            svg.open(
                "rect",
                &[
                    ("class", "failed".into()),
                    ("x", num(x)),
                    ("y", num(available_top)),
                    ("width", num(width)),
                    ("height", num(panel - answered)),
                    ("fill", format!("url(#{id}-hatch)")),
                    ("stroke", RED.into()),
                    ("stroke-width", "0.5".into()),
                ],
            );
            svg.title(&summary);
            svg.close("rect");
        }
    }
    svg.close("g");

    // p95 latency.
    let ceiling = nice_ceiling(slowest.map_or(0.0, |(_, p)| p));
    text(
        &mut svg,
        MARGIN_LEFT,
        latency_top - 6.0,
        11,
        INK,
        &format!(
            "p95 latency per {width_text} (scale 0 to {})",
            latency_label(ceiling)
        ),
    );
    for (y, value) in [
        (latency_top, ceiling),
        (latency_top + panel / 2.0, ceiling / 2.0),
        (latency_top + panel, 0.0),
    ] {
        gridline(&mut svg, y);
        y_label(
            &mut svg,
            y,
            &if value == 0.0 {
                "0".to_string()
            } else {
                latency_label(value)
            },
        );
    }
    svg.open("g", &[("class", "latency".into())]);
    let mut segment: Vec<String> = Vec::new();
    let mut points: Vec<(f64, f64, String)> = Vec::new();
    let flush = |segment: &mut Vec<String>, svg: &mut Svg| {
        if segment.len() > 1 {
            svg.empty(
                "polyline",
                &[
                    ("class", "p95".into()),
                    ("points", segment.join(" ")),
                    ("fill", "none".into()),
                    ("stroke", BLUE.into()),
                    ("stroke-width", "2".into()),
                    ("stroke-linejoin", "round".into()),
                ],
            );
        }
        segment.clear();
    };
    for (i, b) in series.buckets.iter().enumerate() {
        match b.p95_seconds() {
            Some(p95) => {
                let x = axis.x_ms(series.from, bucket * (i as f64 + 0.5));
                let y = latency_top + panel - (p95 / ceiling).clamp(0.0, 1.0) * panel;
                segment.push(format!("{},{}", num(x), num(y)));
                points.push((
                    x,
                    y,
                    format!(
                        "{} p95 at {}: {}",
                        series.service,
                        clock_time(bucket_start(i)),
                        format_latency(Some(p95))
                    ),
                ));
            }
            None => flush(&mut segment, &mut svg),
        }
    }
    flush(&mut segment, &mut svg);
    // Points too when few enough to tell apart (and a lone bucket is a point, not a line).
    if points.len() <= 60 {
        for (x, y, summary) in &points {
            svg.open(
                "circle",
                &[
                    ("class", "p95-point".into()),
                    ("cx", num(*x)),
                    ("cy", num(*y)),
                    ("r", "2.5".into()),
                    ("fill", BLUE.into()),
                ],
            );
            svg.title(summary);
            svg.close("circle");
        }
    }
    svg.close("g");
    axis.draw(&mut svg, axis_y);

    // Legend.
    svg.open("g", &[("class", "legend".into())]);
    let mut x = 8.0;
    for (label, kind) in [
        ("answered", 0),
        ("failed", 1),
        ("p95 latency", 2),
        ("phase (numbered as on the timeline)", 3),
    ] {
        match kind {
            0 => svg.empty(
                "rect",
                &[
                    ("x", num(x)),
                    ("y", num(legend_y)),
                    ("width", "16".into()),
                    ("height", "10".into()),
                    ("fill", GREEN_FILL.into()),
                ],
            ),
            1 => svg.empty(
                "rect",
                &[
                    ("x", num(x)),
                    ("y", num(legend_y)),
                    ("width", "16".into()),
                    ("height", "10".into()),
                    ("fill", format!("url(#{id}-hatch)")),
                    ("stroke", RED.into()),
                ],
            ),
            2 => svg.empty(
                "line",
                &[
                    ("x1", num(x)),
                    ("x2", num(x + 16.0)),
                    ("y1", num(legend_y + 5.0)),
                    ("y2", num(legend_y + 5.0)),
                    ("stroke", BLUE.into()),
                    ("stroke-width", "2".into()),
                ],
            ),
            _ => svg.empty(
                "rect",
                &[
                    ("x", num(x)),
                    ("y", num(legend_y)),
                    ("width", "16".into()),
                    ("height", "10".into()),
                    ("fill", "#eaeef2".into()),
                    ("stroke", GRID.into()),
                    ("stroke-dasharray", "2 2".into()),
                ],
            ),
        }
        text(&mut svg, x + 22.0, legend_y + 9.0, 11, INK, label);
        x += 22.0 + 6.5 * label.len() as f64 + 18.0;
    }
    svg.close("g");
    svg.close("svg");

    let mut notes = vec![format!(
        "Bars: the share of {}'s probes answered in each {} interval (solid green: answered; hatched red above: failed; no bar: no probe). Line: the interval's p95 latency, scale 0 to {}. Shaded columns: the phases, numbered as on the timeline.",
        series.service,
        width_text,
        latency_label(ceiling)
    )];
    notes.push(match lowest {
        Some((i, ratio)) if ratio < 1.0 => format!(
            "Lowest availability {} at {} ({}); {} of {} probes failed over the run.",
            format_percent(ratio),
            axis.describe(bucket_start(i)),
            clock_time(bucket_start(i)),
            failed,
            probes
        ),
        _ => format!("Every one of {probes} probes was answered."),
    });
    if let Some((i, p95)) = slowest {
        notes.push(format!(
            "Highest p95 latency {} at {} ({}).",
            format_latency(Some(p95)),
            axis.describe(bucket_start(i)),
            clock_time(bucket_start(i))
        ));
    }
    Chart {
        cid: content_id(&id),
        id,
        title,
        description,
        notes,
        width: CHART_WIDTH,
        height: height.round() as u32,
        svg: svg.finish(),
    }
}

/// A phase's canary writes per bucket, stacked: kept (solid green), lost (hatched red),
/// not acknowledged (dotted grey); the fault and the recovery marked. The axis is the
/// phase's own (the canaries' start to the phase's end), for detail.
fn canary_chart(run: &RunRecord, phase: &PhaseRecord, series: &CanarySeries) -> Chart {
    let id = format!("canaries-{}", id_part(&phase.name));
    let end = [
        Some(series_end(
            series.from,
            series.bucket_ms,
            series.buckets.len(),
        )),
        phase.recovered_at,
        phase.finished_at,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(series.from);
    let axis = Axis::between(series.from, end);
    let bucket = series.bucket_ms as f64;
    let width_text = format_seconds(bucket / 1000.0);
    let total = |b: &crate::series::CanaryBucket| {
        u64::from(b.kept) + u64::from(b.lost) + u64::from(b.unacknowledged)
    };
    let peak = series.buckets.iter().map(total).max().unwrap_or(0);
    let ceiling = nice_ceiling(peak as f64);
    let (kept, lost, refused) = series
        .buckets
        .iter()
        .fold((0u64, 0u64, 0u64), |(k, l, u), b| {
            (
                k + u64::from(b.kept),
                l + u64::from(b.lost),
                u + u64::from(b.unacknowledged),
            )
        });
    let marks = PhaseMarks::of(run, phase, end);
    let title = format!("{}: canary writes", phase.name);
    let description = format!(
        "Canary writes of phase {} per {}: {} acknowledged and read back, {} acknowledged and lost, {} not acknowledged.",
        phase.name, width_text, kept, lost, refused
    );
    let top = 34.0;
    let panel = 90.0;
    let axis_y = top + panel;
    let legend_y = axis_y + 30.0;
    let height = legend_y + 18.0;
    let mut svg = begin(&id, height, &title, &description);
    text(
        &mut svg,
        MARGIN_LEFT,
        top - 18.0,
        11,
        INK,
        &format!("Canary writes per {width_text}, by when they were sent"),
    );
    for (y, value) in [
        (top, ceiling),
        (top + panel / 2.0, ceiling / 2.0),
        (top + panel, 0.0),
    ] {
        gridline(&mut svg, y);
        y_label(&mut svg, y, &num(value));
    }
    svg.open("g", &[("class", "canaries".into())]);
    for (i, b) in series.buckets.iter().enumerate() {
        let x = axis.x_ms(series.from, bucket * i as f64);
        let next = axis.x_ms(series.from, bucket * (i + 1) as f64);
        let gap = if next - x > 3.0 { 0.5 } else { 0.0 };
        let width = (next - x - gap).max(0.5);
        let at = series.from + chrono::Duration::milliseconds((bucket * i as f64).round() as i64);
        let mut base = top + panel;
        for (class, count, fill, stroke) in [
            ("kept", b.kept, GREEN_FILL.to_string(), None),
            ("lost", b.lost, format!("url(#{id}-hatch)"), Some(RED)),
            (
                "unacknowledged",
                b.unacknowledged,
                format!("url(#{id}-dots)"),
                Some(MUTED),
            ),
        ] {
            if count == 0 {
                continue;
            }
            let h = f64::from(count) / ceiling * panel;
            base -= h;
            let mut attrs = vec![
                ("class", class.to_string()),
                ("x", num(x)),
                ("y", num(base)),
                ("width", num(width)),
                ("height", num(h)),
                ("fill", fill),
            ];
            if let Some(stroke) = stroke {
                attrs.push(("stroke", stroke.to_string()));
                attrs.push(("stroke-width", "0.5".to_string()));
            }
            svg.open("rect", &attrs);
            svg.title(&format!(
                "{} writes sent at {}: {} {}",
                phase.name,
                clock_time(at),
                count,
                match class {
                    "kept" => "acknowledged and read back",
                    "lost" => "acknowledged and lost",
                    _ => "not acknowledged",
                }
            ));
            svg.close("rect");
        }
    }
    svg.close("g");
    let data = |class: &str| -> Vec<Attr<'static>> {
        vec![
            ("class", class.to_string()),
            ("data-phase", phase.name.clone()),
        ]
    };
    if let Some(fault) = marks.fault {
        let x = axis.x(fault);
        svg.open("g", &[]);
        svg.title(&format!("Fault's first effect: {}", clock_time(fault)));
        svg.empty(
            "line",
            &[
                ("x1", num(x)),
                ("x2", num(x)),
                ("y1", num(top)),
                ("y2", num(axis_y)),
                ("stroke", INK.into()),
                ("stroke-dasharray", "3 2".into()),
            ],
        );
        fault_mark(&mut svg, x, top, &data("fault"));
        svg.close("g");
    }
    if let Some(recovered) = marks.recovered {
        let x = axis.x(recovered);
        svg.open("g", &[]);
        svg.title(&format!("Recovered: {}", clock_time(recovered)));
        svg.empty(
            "line",
            &[
                ("x1", num(x)),
                ("x2", num(x)),
                ("y1", num(top)),
                ("y2", num(axis_y)),
                ("stroke", GREEN.into()),
                ("stroke-dasharray", "3 2".into()),
            ],
        );
        recovered_mark(&mut svg, x, top - 4.0, &data("recovered"));
        svg.close("g");
    }
    axis.draw(&mut svg, axis_y);
    svg.open("g", &[("class", "legend".into())]);
    let mut x = 8.0;
    for (label, fill, stroke) in [
        ("acknowledged, read back", GREEN_FILL.to_string(), None),
        ("acknowledged, lost", format!("url(#{id}-hatch)"), Some(RED)),
        ("not acknowledged", format!("url(#{id}-dots)"), Some(MUTED)),
    ] {
        let mut attrs = vec![
            ("x", num(x)),
            ("y", num(legend_y)),
            ("width", "16".to_string()),
            ("height", "10".to_string()),
            ("fill", fill),
        ];
        if let Some(stroke) = stroke {
            attrs.push(("stroke", stroke.to_string()));
        }
        svg.empty("rect", &attrs);
        text(&mut svg, x + 22.0, legend_y + 9.0, 11, INK, label);
        x += 22.0 + 6.5 * label.len() as f64 + 18.0;
    }
    fault_mark(&mut svg, x + 8.0, legend_y + 10.0, &[]);
    text(&mut svg, x + 22.0, legend_y + 9.0, 11, INK, "fault");
    x += 22.0 + 6.5 * 5.0 + 18.0;
    recovered_mark(&mut svg, x + 8.0, legend_y + 5.0, &[]);
    text(&mut svg, x + 22.0, legend_y + 9.0, 11, INK, "recovered");
    svg.close("g");
    svg.close("svg");

    let mut notes = vec![format!(
        "Stacked bars: {}'s canary writes sent in each {} interval from {} (solid green: acknowledged and read back after recovery; hatched red: acknowledged and lost; dotted grey: not acknowledged); scale 0 to {} writes.",
        phase.name,
        width_text,
        clock_time(series.from),
        num(ceiling)
    )];
    notes.push(format!(
        "{} written: {kept} acknowledged and read back, {lost} acknowledged and lost, {refused} not acknowledged.",
        kept + lost + refused
    ));
    let mut instants = Vec::new();
    if let Some(fault) = marks.fault {
        instants.push(format!(
            "triangle and dashed line = the fault's first effect at {}",
            axis.describe(fault)
        ));
    }
    if let Some(recovered) = marks.recovered {
        instants.push(format!(
            "ring and dashed green line = recovered at {}",
            axis.describe(recovered)
        ));
    }
    if !instants.is_empty() {
        notes.push(format!("Marks: {}.", instants.join("; ")));
    }
    Chart {
        cid: content_id(&id),
        id,
        title,
        description,
        notes,
        width: CHART_WIDTH,
        height: height.round() as u32,
        svg: svg.finish(),
    }
}

#[cfg(test)]
mod tests;
