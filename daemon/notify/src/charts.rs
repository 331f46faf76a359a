//! The report's charts as PNG images for the email (mail clients drop SVG): rasterised with resvg, without fonts.
//!
//! resvg is built without its `text` feature (no font database, no shaping, no system
//! font scan: a shorter build, and a scratch container has no fonts anyway), so the
//! `<text>` of a chart is left out of its PNG. Everything else stays: bands and their
//! patterns, marks, bars, lines, axes and ticks, and each phase's number, which the charts
//! draw with lines. The email puts each chart's title above its image and its notes (the
//! key and the figures, in words) below it, and its description is the image's alt text.
//!
//! Nothing outside the SVG text is read: `<image>` references resolve to nothing.

use firedrill_core::report::Chart;
use resvg::tiny_skia::{Color, Pixmap, Transform};
use resvg::usvg::{ImageHrefResolver, Options, Tree};
use serde::{Deserialize, Serialize};

/// Pixels per CSS pixel of the chart: sharp on high-density screens, still small
/// (flat colours compress well).
pub const SCALE: u32 = 2;

/// Why a chart could not become a PNG.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("chart `{chart}` is not SVG that resvg reads")]
    Parse {
        chart: String,
        #[source]
        source: resvg::usvg::Error,
    },
    #[error("chart `{chart}` has no drawable size ({width} x {height})")]
    Size {
        chart: String,
        width: u32,
        height: u32,
    },
    #[error("chart `{chart}` could not be encoded as PNG")]
    Encode {
        chart: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// An image shown in the HTML body (`<img src="cid:...">`), carried in the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineImage {
    /// Its Content-ID, without angle brackets: what the body's `cid:` URLs name.
    pub content_id: String,
    pub filename: String,
    pub content_type: String,
    /// The image's bytes (base64 in the queued form).
    #[serde(with = "base64_bytes")]
    pub content: Vec<u8>,
}

/// `chart` rasterised at [`SCALE`] on white, as the email's inline image.
pub fn png(chart: &Chart) -> Result<InlineImage, ChartError> {
    let options = Options {
        image_href_resolver: ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..Options::default()
    };
    let tree = Tree::from_str(&chart.svg, &options).map_err(|source| ChartError::Parse {
        chart: chart.id.clone(),
        source,
    })?;
    let size = tree.size();
    let scale = SCALE as f32;
    let width = (size.width() * scale).ceil() as u32;
    let height = (size.height() * scale).ceil() as u32;
    let mut pixmap = Pixmap::new(width, height).ok_or_else(|| ChartError::Size {
        chart: chart.id.clone(),
        width,
        height,
    })?;
    // Opaque: a transparent chart would be unreadable in a client's dark mode.
    pixmap.fill(Color::WHITE);
    resvg::render(
        &tree,
        Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let content = pixmap.encode_png().map_err(|source| ChartError::Encode {
        chart: chart.id.clone(),
        source: Box::new(source),
    })?;
    Ok(InlineImage {
        content_id: chart.cid.clone(),
        filename: format!("{}.png", chart.id),
        content_type: "image/png".to_string(),
        content,
    })
}

/// Bytes as standard base64 text in serde forms.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firedrill_core::report::Charts;
    use firedrill_core::report::fixtures::charted_run;

    /// Width and height from a PNG's IHDR chunk, after checking the signature.
    fn dimensions(png: &[u8]) -> (u32, u32) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&png[12..16], b"IHDR");
        let word = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
        (word(16), word(20))
    }

    #[test]
    fn every_chart_of_a_run_becomes_a_png_twice_its_css_size() {
        let charts = Charts::from_run(&charted_run());
        for chart in charts.all() {
            let image = png(chart).unwrap_or_else(|e| panic!("{}: {e}", chart.id));
            assert_eq!(
                dimensions(&image.content),
                (chart.width * SCALE, chart.height * SCALE),
                "{}",
                chart.id
            );
            assert_eq!(image.content_id, chart.cid);
            assert_eq!(image.filename, format!("{}.png", chart.id));
            assert_eq!(image.content_type, "image/png");
            // Flat colours: small enough to mail a handful.
            assert!(
                image.content.len() < 120_000,
                "{}: {} bytes",
                chart.id,
                image.content.len()
            );
        }
    }

    #[test]
    fn a_chart_that_is_not_svg_gets_no_png_but_an_error_naming_it() {
        let mut chart = Charts::from_run(&charted_run()).timeline.unwrap();
        chart.svg = "<svg".to_string();
        let err = png(&chart).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chart `timeline` is not SVG that resvg reads"
        );
    }

    #[test]
    fn inline_png_images_queue_as_base64_and_read_back_alike() {
        let chart = Charts::from_run(&charted_run()).timeline.unwrap();
        let image = png(&chart).unwrap();
        let json = serde_json::to_value(&image).unwrap();
        assert!(json["content"].as_str().unwrap().starts_with("iVBORw0KGgo"));
        let back: InlineImage = serde_json::from_value(json).unwrap();
        assert_eq!(back, image);
    }
}
