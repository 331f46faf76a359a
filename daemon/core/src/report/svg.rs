//! A small SVG writer for the report's charts: every attribute value and text escaped here, numbers kept short.

use std::fmt::Write as _;

/// Escapes `text` for XML character data and attribute values (both quote kinds, so it is
/// safe in either).
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newlines are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate or length with at most two decimals, trailing zeros dropped.
pub(super) fn num(value: f64) -> String {
    if !value.is_finite() {
        return "0".to_string();
    }
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" || text.is_empty() {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// An attribute: its name and its (unescaped) value.
pub(super) type Attr<'a> = (&'a str, String);

/// An SVG document being written.
#[derive(Debug, Default)]
pub(super) struct Svg {
    out: String,
}

impl Svg {
    fn start_tag(&mut self, name: &str, attrs: &[Attr<'_>]) {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            // Writing to a String cannot fail.
            let _ = write!(self.out, " {key}=\"{}\"", escape(value));
        }
    }

    /// `<name attrs>`: children follow until [`Svg::close`].
    pub(super) fn open(&mut self, name: &str, attrs: &[Attr<'_>]) {
        self.start_tag(name, attrs);
        self.out.push('>');
    }

    pub(super) fn close(&mut self, name: &str) {
        let _ = write!(self.out, "</{name}>");
    }

    /// `<name attrs/>`.
    pub(super) fn empty(&mut self, name: &str, attrs: &[Attr<'_>]) {
        self.start_tag(name, attrs);
        self.out.push_str("/>");
    }

    /// `<name attrs>text</name>`, the text escaped.
    pub(super) fn element(&mut self, name: &str, attrs: &[Attr<'_>], text: &str) {
        self.open(name, attrs);
        self.out.push_str(&escape(text));
        self.close(name);
    }

    /// A `<title>`: the tooltip and accessible name of the element it is in.
    pub(super) fn title(&mut self, text: &str) {
        self.element("title", &[], text);
    }

    pub(super) fn finish(self) -> String {
        self.out
    }
}

/// The segments of a seven-segment digit (a to g), as line ends in a box of 1 × 2.
const SEGMENTS: [((f64, f64), (f64, f64)); 7] = [
    ((0.0, 0.0), (1.0, 0.0)), // a: top
    ((1.0, 0.0), (1.0, 1.0)), // b: top right
    ((1.0, 1.0), (1.0, 2.0)), // c: bottom right
    ((0.0, 2.0), (1.0, 2.0)), // d: bottom
    ((0.0, 1.0), (0.0, 2.0)), // e: bottom left
    ((0.0, 0.0), (0.0, 1.0)), // f: top left
    ((0.0, 1.0), (1.0, 1.0)), // g: middle
];

/// Which segments each digit lights, as bits a (1) to g (64).
const DIGITS: [u8; 10] = [
    0b011_1111, // 0: abcdef
    0b000_0110, // 1: bc
    0b101_1011, // 2: abdeg
    0b100_1111, // 3: abcdg
    0b110_0110, // 4: bcfg
    0b110_1101, // 5: acdfg
    0b111_1101, // 6: acdefg
    0b000_0111, // 7: abc
    0b111_1111, // 8
    0b110_1111, // 9: abcdfg
];

/// Path data drawing `number` in seven-segment digits `width` wide each (twice as high),
/// with its top left corner at (`x`, `y`): numbers that survive rasterising without fonts.
pub(super) fn digits_path(number: usize, x: f64, y: f64, width: f64) -> String {
    let mut path = String::new();
    for (i, digit) in number.to_string().bytes().enumerate() {
        let lit = DIGITS
            .get(usize::from(digit.wrapping_sub(b'0')))
            .copied()
            .unwrap_or(0);
        let left = x + i as f64 * width * 1.7;
        for (bit, ((x1, y1), (x2, y2))) in SEGMENTS.iter().enumerate() {
            if lit & (1 << bit) != 0 {
                let _ = write!(
                    path,
                    "M{} {}L{} {}",
                    num(left + x1 * width),
                    num(y + y1 * width),
                    num(left + x2 * width),
                    num(y + y2 * width)
                );
            }
        }
    }
    path
}

/// How wide [`digits_path`] draws `number`.
pub(super) fn digits_width(number: usize, width: f64) -> f64 {
    let count = number.to_string().len() as f64;
    width * (1.7 * count - 0.7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let mut svg = Svg::default();
        svg.element("text", &[("data-phase", "a\"b".into())], "<script>");
        assert_eq!(
            svg.finish(),
            "<text data-phase=\"a&quot;b\">&lt;script&gt;</text>"
        );
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.345), "12.35");
        assert_eq!(num(0.1), "0.1");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
    }

    #[test]
    fn a_one_lights_two_segments_and_an_eight_all_seven() {
        assert_eq!(digits_path(1, 0.0, 0.0, 4.0).matches('M').count(), 2);
        assert_eq!(digits_path(8, 0.0, 0.0, 4.0).matches('M').count(), 7);
        assert_eq!(digits_path(10, 0.0, 0.0, 4.0).matches('M').count(), 8);
    }
}
