//! A small reader of the DOM Chromium serialises (`--dump-dom`): elements, attributes and text, enough to ask where an element is.
//!
//! Chromium writes every end tag of a non-void element and quotes every attribute, so a
//! stack of open elements rebuilds the tree; this is not a general HTML parser.

/// An element: its name (lowercase), attributes and children in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Element(Element),
    Text(String),
}

/// Elements that never have content or an end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements whose content is text up to their end tag.
const RAW: &[&str] = &["script", "style", "textarea", "title"];

/// Parses `html` into a tree under a `#document` element.
pub fn parse(html: &str) -> Element {
    let mut stack = vec![Element {
        name: "#document".into(),
        attrs: Vec::new(),
        children: Vec::new(),
    }];
    let mut rest = html;
    while !rest.is_empty() {
        let Some(open) = rest.find('<') else {
            push_text(&mut stack, rest);
            break;
        };
        push_text(&mut stack, &rest[..open]);
        rest = &rest[open..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
        } else if rest.starts_with("<!") {
            rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
        } else if let Some(closing) = rest.strip_prefix("</") {
            let end = closing.find('>').unwrap_or(closing.len());
            let name = closing[..end].trim().to_ascii_lowercase();
            rest = closing.get(end + 1..).unwrap_or("");
            close(&mut stack, &name);
        } else {
            let (element, self_closed, after) = open_tag(&rest[1..]);
            rest = after;
            let name = element.name.clone();
            if VOID.contains(&name.as_str()) || self_closed {
                append(&mut stack, Node::Element(element));
            } else if RAW.contains(&name.as_str()) {
                let end_tag = format!("</{name}");
                let end = rest
                    .to_ascii_lowercase()
                    .find(&end_tag)
                    .unwrap_or(rest.len());
                let mut element = element;
                if end > 0 {
                    element.children.push(Node::Text(decode(&rest[..end])));
                }
                append(&mut stack, Node::Element(element));
                rest = &rest[end..];
                rest = rest.find('>').map_or("", |close| &rest[close + 1..]);
            } else {
                stack.push(element);
            }
        }
    }
    while stack.len() > 1 {
        let name = stack.last().map(|e| e.name.clone()).unwrap_or_default();
        close(&mut stack, &name);
    }
    stack.pop().expect("the document element")
}

fn push_text(stack: &mut [Element], text: &str) {
    if !text.is_empty() {
        append(stack, Node::Text(decode(text)));
    }
}

fn append(stack: &mut [Element], node: Node) {
    if let Some(top) = stack.last_mut() {
        top.children.push(node);
    }
}

/// Closes the innermost open element named `name` (and any left open inside it).
fn close(stack: &mut Vec<Element>, name: &str) {
    let Some(depth) = stack.iter().rposition(|e| e.name == name) else {
        return;
    };
    if depth == 0 {
        return;
    }
    while stack.len() > depth {
        let element = stack.pop().expect("an open element");
        append(stack, Node::Element(element));
    }
}

/// An opening tag after its `<`: the element, whether it ended with `/>`, what follows.
fn open_tag(text: &str) -> (Element, bool, &str) {
    let name_end = text
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(text.len());
    let name = text[..name_end].to_ascii_lowercase();
    let mut rest = &text[name_end..];
    let mut attrs = Vec::new();
    let mut self_closed = false;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("/>") {
            self_closed = true;
            rest = after;
            break;
        }
        if let Some(after) = rest.strip_prefix('>') {
            rest = after;
            break;
        }
        if let Some(after) = rest.strip_prefix('/') {
            rest = after;
            continue;
        }
        if rest.is_empty() {
            break;
        }
        let key_end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '>' || c == '/')
            .unwrap_or(rest.len());
        let key = rest[..key_end].to_ascii_lowercase();
        rest = rest[key_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            if let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let body = &after[1..];
                let end = body.find(quote).unwrap_or(body.len());
                value = decode(&body[..end]);
                rest = body.get(end + 1..).unwrap_or("");
            } else {
                let end = after
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .unwrap_or(after.len());
                value = decode(&after[..end]);
                rest = &after[end..];
            }
        }
        if key.is_empty() {
            // Not an attribute: skip one character so the loop always advances.
            rest = rest.get(1..).unwrap_or("");
            continue;
        }
        attrs.push((key, value));
    }
    (
        Element {
            name,
            attrs,
            children: Vec::new(),
        },
        self_closed,
        rest,
    )
}

/// Decodes the character references Chromium writes (`&amp;`, `&lt;`, `&gt;`, `&quot;`,
/// `&nbsp;`, numeric).
fn decode(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|end| *end <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The text inside, whitespace collapsed.
    pub fn text(&self) -> String {
        fn gather(element: &Element, out: &mut String) {
            for child in &element.children {
                match child {
                    Node::Text(text) => out.push_str(text),
                    Node::Element(inner) => {
                        if inner.name == "br" {
                            out.push(' ');
                        }
                        gather(inner, out);
                    }
                }
            }
        }
        let mut out = String::new();
        gather(self, &mut out);
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Every element inside, in document order.
    pub fn descendants(&self) -> Vec<&Element> {
        fn walk<'a>(element: &'a Element, out: &mut Vec<&'a Element>) {
            for child in &element.children {
                if let Node::Element(inner) = child {
                    out.push(inner);
                    walk(inner, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }

    /// Every element named `name` inside, in document order.
    pub fn all(&self, name: &str) -> Vec<&Element> {
        self.descendants()
            .into_iter()
            .filter(|e| e.name == name)
            .collect()
    }

    /// The element children (no text).
    pub fn elements(&self) -> Vec<&Element> {
        self.children
            .iter()
            .filter_map(|child| match child {
                Node::Element(element) => Some(element),
                Node::Text(_) => None,
            })
            .collect()
    }

    /// The element with attribute `id` = `id`.
    pub fn by_id(&self, id: &str) -> Option<&Element> {
        self.descendants()
            .into_iter()
            .find(|e| e.attr("id") == Some(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chromium_s_serialisation_reads_back_as_a_tree() {
        let html = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>A &amp; B</title><style>p > a { x: 1 }</style></head><body><!-- c --><h1 id=\"t\">Runs</h1><table><tbody><tr><th scope=\"row\"><a href=\"/runs/a?x=1&amp;y=2\">a</a></th><td>✓ passed<br>now</td></tr></tbody></table><svg><rect width=\"1\"/></svg></body></html>";
        let doc = parse(html);
        assert_eq!(doc.all("html")[0].attr("lang"), Some("en"));
        assert_eq!(doc.all("title")[0].text(), "A & B");
        assert_eq!(doc.by_id("t").unwrap().text(), "Runs");
        let row = doc.all("tr")[0];
        assert_eq!(row.elements().len(), 2);
        assert_eq!(row.all("a")[0].attr("href"), Some("/runs/a?x=1&y=2"));
        assert_eq!(row.all("td")[0].text(), "✓ passed now");
        assert_eq!(doc.all("rect").len(), 1);
        assert_eq!(doc.all("body")[0].elements().len(), 3);
    }
}
