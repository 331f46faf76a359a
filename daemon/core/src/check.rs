//! PromQL checks, pure: a check's expectation (`< 0.01`, `present`), its query's syntax,
//! `$__range`, and the verdict on what Prometheus answered.
//!
//! A check passes only when the query returned data and every series met the expectation;
//! no series at all is "no data", never a pass (a dashboard that shows nothing is not a
//! healthy service).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::run::{CheckResult, CheckStage, CheckVerdict};

/// The variable a query may use for "since the phase (or drill) began", as in Grafana:
/// replaced with that many whole seconds (`93s`) before the query is sent.
pub const RANGE_VARIABLE: &str = "$__range";

/// A comparison of each series' value with a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
    NotEqual,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Equal => "==",
            Comparison::NotEqual => "!=",
        }
    }

    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Less => value < threshold,
            Comparison::LessOrEqual => value <= threshold,
            Comparison::Greater => value > threshold,
            Comparison::GreaterOrEqual => value >= threshold,
            Comparison::Equal => value == threshold,
            Comparison::NotEqual => value != threshold,
        }
    }

    /// How far `value` is on the wrong side: the worst series is the one furthest off.
    fn shortfall(self, value: f64, threshold: f64) -> f64 {
        match self {
            Comparison::Less | Comparison::LessOrEqual => value - threshold,
            Comparison::Greater | Comparison::GreaterOrEqual => threshold - value,
            Comparison::Equal | Comparison::NotEqual => (value - threshold).abs(),
        }
    }
}

/// What a check expects of its query's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expectation {
    /// Every series' value compares true with `threshold`.
    Compare {
        comparison: Comparison,
        threshold: f64,
    },
    /// At least one series exists ("metrics flowing"), whatever its value.
    Present,
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expectation::Compare {
                comparison,
                threshold,
            } => write!(f, "{} {threshold}", comparison.symbol()),
            Expectation::Present => f.write_str("present"),
        }
    }
}

impl std::str::FromStr for Expectation {
    type Err = String;

    /// `< 0.01`, `<= 0`, `>= 2`, `== 1`, `!= 0`, `> 0.99`, or `present`.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "present" {
            return Ok(Expectation::Present);
        }
        let comparisons = [
            ("<=", Comparison::LessOrEqual),
            (">=", Comparison::GreaterOrEqual),
            ("==", Comparison::Equal),
            ("!=", Comparison::NotEqual),
            ("<", Comparison::Less),
            (">", Comparison::Greater),
        ];
        let Some((comparison, rest)) = comparisons
            .iter()
            .find_map(|(symbol, comparison)| Some((*comparison, text.strip_prefix(symbol)?)))
        else {
            return Err(format!(
                "`{text}` is not an expectation: write a comparison and a number (`< 0.01`, `<= 0`, `>= 2`, `== 1`, `!= 0`) or `present`"
            ));
        };
        let number = rest.trim();
        let threshold: f64 = number
            .parse()
            .map_err(|_| format!("`{number}` in `{text}` is not a number (write e.g. `< 0.01`)"))?;
        if threshold.is_nan() {
            return Err(format!("`{text}` compares with NaN, which nothing equals"));
        }
        Ok(Expectation::Compare {
            comparison,
            threshold,
        })
    }
}

/// One series of an instant query's answer (a scalar answer is one series without labels).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// `{job="web",status="500"}` (`{}` for a scalar).
    pub fn series(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect();
        format!("{{{}}}", labels.join(","))
    }
}

/// The verdict on one answer: the verdict, the value and series that decided it, and a
/// sentence saying so.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: CheckVerdict,
    pub value: Option<f64>,
    pub series: Option<String>,
    pub message: String,
}

/// Judges an instant query's answer against `expect`. For a comparison, the series
/// furthest on the wrong side decides (or, when all hold, the one closest to the edge).
pub fn judge(expect: &Expectation, samples: &[Sample]) -> Judgement {
    if samples.is_empty() {
        return Judgement {
            verdict: CheckVerdict::NoData,
            value: None,
            series: None,
            message: "no data: the query returned no series".into(),
        };
    }
    let (comparison, threshold) = match *expect {
        Expectation::Present => {
            let first = &samples[0];
            return Judgement {
                verdict: CheckVerdict::Pass,
                value: finite(first.value),
                series: Some(first.series()),
                message: format!("{} series present", samples.len()),
            };
        }
        Expectation::Compare {
            comparison,
            threshold,
        } => (comparison, threshold),
    };
    // NaN compares false with everything: it breaks any comparison (a ratio over no
    // traffic is NaN, and that is not a healthy service either).
    let worst = samples
        .iter()
        .max_by(|a, b| {
            let key = |s: &Sample| {
                if s.value.is_nan() {
                    f64::INFINITY
                } else {
                    comparison.shortfall(s.value, threshold)
                }
            };
            key(a).total_cmp(&key(b))
        })
        .unwrap_or(&samples[0]);
    let failing = samples
        .iter()
        .filter(|s| !comparison.holds(s.value, threshold))
        .count();
    let shown = if worst.value.is_nan() {
        "NaN".to_string()
    } else {
        format_value(worst.value)
    };
    let series = worst.series();
    // A series without labels (a scalar, or an aggregate over everything) is not named.
    let named = if worst.labels.is_empty() {
        String::new()
    } else {
        format!(" {series}")
    };
    let (verdict, message) = if failing == 0 {
        (
            CheckVerdict::Pass,
            format!(
                "{shown} {} {threshold}{named}{}",
                comparison.symbol(),
                others(samples.len())
            ),
        )
    } else {
        (
            CheckVerdict::Fail,
            format!(
                "{shown} is not {} {threshold}{named}{}",
                comparison.symbol(),
                if failing > 1 {
                    format!(" (and {} more series)", failing - 1)
                } else {
                    String::new()
                }
            ),
        )
    };
    Judgement {
        verdict,
        value: finite(worst.value),
        series: Some(series),
        message,
    }
}

fn others(count: usize) -> String {
    if count > 1 {
        format!(" (worst of {count} series)")
    } else {
        String::new()
    }
}

fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// A value as a person reads it: up to 6 significant decimals, no float noise.
pub fn format_value(value: f64) -> String {
    if value == value.trunc() && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `query` with [`RANGE_VARIABLE`] replaced by `elapsed` in whole seconds (at least 1s).
pub fn expand_range(query: &str, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs().max(1);
    query.replace(RANGE_VARIABLE, &format!("{seconds}s"))
}

/// A check's evaluations at one stage (and phase) of a run, summed up: whether it held,
/// and the evaluation that decided.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSummary<'a> {
    pub check: &'a str,
    pub stage: CheckStage,
    pub phase: Option<&'a str>,
    pub evaluations: usize,
    /// Evaluations that were not a pass.
    pub misses: usize,
    pub held: bool,
    /// The latest evaluation that broke it, or the latest one when it held.
    pub deciding: &'a CheckResult,
}

/// Sums up `results` per check, stage and phase, in the order they first appear.
///
/// What counts against a check: before and after the drill (or a phase), its last
/// evaluation (after `within` retries) must pass. While a phase runs, any failed or
/// no-data evaluation breaks it; an unanswered query (`error`) counts only when Prometheus
/// answered none of that check's queries in the phase.
pub fn summaries(results: &[CheckResult]) -> Vec<CheckSummary<'_>> {
    let mut keys: Vec<(&str, CheckStage, Option<&str>)> = Vec::new();
    for result in results {
        let key = (result.check.as_str(), result.stage, result.phase.as_deref());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .filter_map(|(check, stage, phase)| {
            let of: Vec<&CheckResult> = results
                .iter()
                .filter(|r| r.check == check && r.stage == stage && r.phase.as_deref() == phase)
                .collect();
            let last = *of.last()?;
            let answered = of.iter().any(|r| r.verdict != CheckVerdict::Error);
            let against = match stage {
                CheckStage::During => of
                    .iter()
                    .rev()
                    .find(|r| {
                        matches!(r.verdict, CheckVerdict::Fail | CheckVerdict::NoData)
                            || (!answered && r.verdict == CheckVerdict::Error)
                    })
                    .copied(),
                CheckStage::Before | CheckStage::After => {
                    Some(last).filter(|r| r.verdict != CheckVerdict::Pass)
                }
            };
            Some(CheckSummary {
                check,
                stage,
                phase,
                evaluations: of.len(),
                misses: of
                    .iter()
                    .filter(|r| r.verdict != CheckVerdict::Pass)
                    .count(),
                held: against.is_none(),
                deciding: against.unwrap_or(last),
            })
        })
        .collect()
}

impl CheckSummary<'_> {
    /// `check no-5xx (during) fail: 0.031 is not < 0.01 {job="web"}`.
    pub fn describe(&self) -> String {
        format!(
            "check {} ({}) {}: {}",
            self.check,
            self.stage.label(),
            self.deciding.verdict.label(),
            self.deciding.message
        )
    }
}

/// Where and why a query is not valid PromQL for a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Character offset in the query (0-based).
    pub offset: usize,
    pub message: String,
}

/// Checks that `query` is PromQL an instant query can evaluate to a vector or a scalar.
pub fn validate_query(query: &str) -> Result<(), SyntaxError> {
    let expanded = expand_range(query, Duration::from_secs(60));
    if expanded.trim().is_empty() {
        return Err(SyntaxError {
            offset: 0,
            message: "the query is empty".into(),
        });
    }
    // Offsets are reported in the query as written; `$__range` (8 chars) became `60s` (3).
    let to_written = |offset: usize| {
        let mut written = offset;
        let mut seen = 0;
        for (at, _) in query.match_indices(RANGE_VARIABLE) {
            let expanded_at = at - seen * (RANGE_VARIABLE.len() - 3);
            if expanded_at < offset {
                written += RANGE_VARIABLE.len() - 3;
                seen += 1;
            }
        }
        query[..written.min(query.len())].chars().count()
    };
    let parsed = rusty_promql_parser::expr(&expanded);
    let (rest, expr) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            let remaining = match &err {
                nom::Err::Error(e) | nom::Err::Failure(e) => e.input.len(),
                nom::Err::Incomplete(_) => 0,
            };
            let offset = expanded.len().saturating_sub(remaining);
            return Err(SyntaxError {
                offset: to_written(offset),
                message: format!("not valid PromQL at {}", near(&expanded, offset)),
            });
        }
    };
    if !rest.trim().is_empty() {
        let offset = expanded.len() - rest.len();
        return Err(SyntaxError {
            offset: to_written(offset),
            message: format!("not valid PromQL at {}", near(&expanded, offset)),
        });
    }
    if let Some(name) = unknown_function(&expr) {
        return Err(SyntaxError {
            offset: to_written(expanded.find(&name).unwrap_or(0)),
            message: format!("`{name}` is not a PromQL function"),
        });
    }
    match expr {
        rusty_promql_parser::Expr::MatrixSelector(_) | rusty_promql_parser::Expr::Subquery(_) => {
            Err(SyntaxError {
                offset: 0,
                message: "the query returns a range vector, which a check cannot compare: wrap it in a function such as `max_over_time(...)` or `deriv(...)`".into(),
            })
        }
        rusty_promql_parser::Expr::String(_) => Err(SyntaxError {
            offset: 0,
            message: "the query is a string literal: a check needs a vector or a number".into(),
        }),
        _ => Ok(()),
    }
}

/// `end of query`, or the next few characters quoted.
fn near(query: &str, offset: usize) -> String {
    let rest = query.get(offset..).unwrap_or("").trim_end();
    if rest.is_empty() {
        return "the end of the query (something is missing)".into();
    }
    let shown: String = rest.chars().take(20).collect();
    format!("`{shown}`")
}

fn unknown_function(expr: &rusty_promql_parser::Expr) -> Option<String> {
    use rusty_promql_parser::Expr;
    match expr {
        Expr::Call(call) => {
            if !rusty_promql_parser::parser::function::is_function(&call.name) {
                return Some(call.name.clone());
            }
            call.args.iter().find_map(unknown_function)
        }
        Expr::Aggregation(agg) => {
            unknown_function(&agg.expr).or_else(|| agg.param.as_ref().and_then(unknown_function))
        }
        Expr::Binary(binary) => {
            unknown_function(&binary.lhs).or_else(|| unknown_function(&binary.rhs))
        }
        Expr::Unary(unary) => unknown_function(&unary.expr),
        Expr::Paren(inner) => unknown_function(inner),
        Expr::Subquery(sub) => unknown_function(&sub.expr),
        Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) | Expr::MatrixSelector(_) => {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        }
    }

    #[test]
    fn expectations_parse_and_print_back() {
        for text in [
            "< 0.01", "<= 0", ">= 2", "== 1", "!= 0", "> 0.99", "present",
        ] {
            let expect: Expectation = text.parse().unwrap();
            assert_eq!(expect.to_string(), text);
        }
        assert!("<0.5".parse::<Expectation>().is_ok());
        let err = "below 0.5".parse::<Expectation>().unwrap_err();
        assert!(err.contains("`below 0.5` is not an expectation"), "{err}");
        let err = "< lots".parse::<Expectation>().unwrap_err();
        assert!(err.contains("`lots`"), "{err}");
    }

    #[test]
    fn the_worst_series_decides_and_is_named() {
        let expect: Expectation = "< 0.01".parse().unwrap();
        let judged = judge(
            &expect,
            &[
                sample(&[("job", "web")], 0.001),
                sample(&[("job", "api")], 0.031),
                sample(&[("job", "batch")], 0.02),
            ],
        );
        assert_eq!(judged.verdict, CheckVerdict::Fail);
        assert_eq!(judged.value, Some(0.031));
        assert_eq!(
            judged.message,
            "0.031 is not < 0.01 {job=\"api\"} (and 1 more series)"
        );
        let judged = judge(&expect, &[sample(&[("job", "web")], 0.001)]);
        assert_eq!(judged.verdict, CheckVerdict::Pass);
        assert_eq!(judged.message, "0.001 < 0.01 {job=\"web\"}");
    }

    #[test]
    fn no_series_is_no_data_never_a_pass() {
        for expect in ["< 1", "present"] {
            let judged = judge(&expect.parse().unwrap(), &[]);
            assert_eq!(judged.verdict, CheckVerdict::NoData, "{expect}");
        }
        let judged = judge(&Expectation::Present, &[sample(&[], 0.0)]);
        assert_eq!(judged.verdict, CheckVerdict::Pass);
    }

    #[test]
    fn nan_breaks_any_comparison() {
        let judged = judge(&"<= 0".parse().unwrap(), &[sample(&[], f64::NAN)]);
        assert_eq!(judged.verdict, CheckVerdict::Fail);
        assert_eq!(judged.value, None);
        assert_eq!(judged.message, "NaN is not <= 0");
    }

    #[test]
    fn range_is_replaced_by_whole_seconds() {
        assert_eq!(
            expand_range("deriv(lag[$__range])", Duration::from_millis(93_400)),
            "deriv(lag[93s])"
        );
        assert_eq!(expand_range("x[$__range]", Duration::ZERO), "x[1s]");
    }

    #[test]
    fn queries_are_checked_for_promql_syntax() {
        for ok in [
            "sum(rate(http_server_requests_seconds_count{status=~\"5..\"}[1m])) / sum(rate(http_server_requests_seconds_count[1m]))",
            "max(deriv(kafka_consumergroup_lag{consumergroup=\"orders\"}[$__range]))",
            "up{job=\"web\"}",
            "1",
            "sum by (job) (up) == 0",
        ] {
            assert_eq!(validate_query(ok), Ok(()), "{ok}");
        }
        let err = validate_query("sum(rate(x[1m])").unwrap_err();
        assert!(err.message.contains("not valid PromQL"), "{err:?}");
        let err = validate_query("rtae(x[1m])").unwrap_err();
        assert_eq!(err.message, "`rtae` is not a PromQL function");
        assert_eq!(err.offset, 0);
        let err = validate_query("up[5m]").unwrap_err();
        assert!(err.message.contains("range vector"), "{err:?}");
        // Offsets point into the query as written, `$__range` and all.
        let err = validate_query("x[$__range] + )").unwrap_err();
        assert_eq!(err.offset, "x[$__range] + ".len(), "{err:?}");
    }
}
