//! Small inline SVG charts for the Overview page: bars, a line and a split bar. Drawn on the
//! server (no charting library, no script); each chart has a text alternative (`<title>` and
//! `aria-label`) and the figures are also printed beside it.

use super::html::esc;

/// Chart width and height in SVG units; it scales to its container.
const W: f64 = 600.0;
const H: f64 = 160.0;
/// Room for the axis labels.
const PAD: f64 = 20.0;

/// A bar per value, labelled with every `label_every`-th label.
pub fn bars(title: &str, labels: &[String], values: &[f64], label_every: usize) -> String {
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1.0);
    let n = values.len().max(1) as f64;
    let slot = (W - PAD) / n;
    let mut out = svg_open(title);
    for (i, v) in values.iter().enumerate() {
        let h = (v / max) * (H - 2.0 * PAD);
        let x = PAD + i as f64 * slot;
        out.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#4338ca\"><title>{}: {v}</title></rect>",
            H - PAD - h,
            (slot * 0.8).max(1.0),
            esc(labels.get(i).map_or("", String::as_str)),
        ));
        // The last slot's label would run off the right edge; labels start at their bar.
        if label_every > 0 && i % label_every == 0 && i + label_every <= values.len() {
            out.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
                H - 4.0,
                esc(labels.get(i).map_or("", |l| l.get(5..).unwrap_or(l)))
            ));
        }
    }
    out.push_str(&format!(
        "<text x=\"0\" y=\"{:.1}\">{max:.0}</text></svg>",
        PAD - 6.0
    ));
    out
}

/// A line through the values that are present (days without a value are gaps).
pub fn line(title: &str, labels: &[String], values: &[Option<f64>], max: f64) -> String {
    let n = values.len().max(2) as f64 - 1.0;
    let mut out = svg_open(title);
    let mut path = String::new();
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        let x = PAD + (i as f64 / n) * (W - 2.0 * PAD);
        let y = H - PAD - (v / max) * (H - 2.0 * PAD);
        path.push_str(&format!(
            "{}{x:.1},{y:.1} ",
            if path.is_empty() { "M" } else { "L" }
        ));
        out.push_str(&format!(
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"#047857\"><title>{}: {v:.2}</title></circle>",
            esc(labels.get(i).map_or("", String::as_str))
        ));
    }
    if path.is_empty() {
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\">no ratings in this period</text>",
            W / 2.0 - 60.0,
            H / 2.0
        ));
    } else {
        out.push_str(&format!(
            "<path d=\"{path}\" fill=\"none\" stroke=\"#047857\" stroke-width=\"2\"/>"
        ));
    }
    out.push_str(&format!(
        "<text x=\"0\" y=\"{:.1}\">{max:.0}</text></svg>",
        PAD - 6.0
    ));
    out
}

/// One horizontal bar split into coloured parts: (label, value, colour).
pub fn split(title: &str, parts: &[(&str, f64, &str)]) -> String {
    let total: f64 = parts.iter().map(|p| p.1).sum::<f64>().max(1.0);
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} 40\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>",
        t = esc(title)
    );
    let mut x = 0.0;
    for (label, value, colour) in parts {
        let w = value / total * W;
        out.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"0\" width=\"{w:.1}\" height=\"40\" fill=\"{colour}\"><title>{}: {value}</title></rect>",
            esc(label)
        ));
        x += w;
    }
    out.push_str("</svg>");
    out
}

fn svg_open(title: &str) -> String {
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
<line x1=\"{PAD}\" y1=\"{y}\" x2=\"{W}\" y2=\"{y}\" stroke=\"#cbd5e1\"/>",
        t = esc(title),
        y = H - PAD
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_their_labels() {
        let svg = bars("Per <day>", &["<b>".to_owned()], &[3.0], 1);
        assert!(svg.contains("Per &lt;day&gt;"));
        assert!(!svg.contains("<b>"));
    }
}
