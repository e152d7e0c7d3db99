//! The page's small drawings and its text: the "who" bars, axis labels,
//! colours by name, kB as people read them, and escaping.

use crate::sink::charts::{self, TopCounts};
use crate::sink::html::TOP;
use std::fmt::Write as _;

pub(super) fn who_svg(title: &str, counts: &TopCounts) -> String {
    let (top, rest) = counts.top(TOP);
    let mut rows: Vec<(String, u64)> = top.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect();
    if rest > 0 {
        rows.push(("(all others)".into(), rest));
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let row = 20.0;
    let (label_w, bar_w) = (200.0, 200.0);
    let mut o = format!(
        "<figure class=\"chart who\"><figcaption>{}</figcaption><svg viewBox=\"0 0 {} {}\" \
         data-total=\"{}\">",
        esc(title),
        label_w + bar_w + 50.0,
        (row * rows.len() as f64).max(row),
        counts.total()
    );
    for (i, (name, n)) in rows.iter().enumerate() {
        let y = row * i as f64;
        let w = *n as f64 / max * bar_w;
        let shown: String = if name.chars().count() > 30 {
            format!(
                "…{}",
                name.chars()
                    .rev()
                    .take(29)
                    .collect::<String>()
                    .chars()
                    .rev()
                    .collect::<String>()
            )
        } else {
            name.clone()
        };
        let _ = write!(
            o,
            "<g class=\"who-row\" data-name=\"{}\" data-count=\"{n}\"><text x=\"{}\" y=\"{:.1}\" \
             text-anchor=\"end\">{}<title>{}</title></text><rect x=\"{}\" y=\"{:.1}\" \
             width=\"{w:.1}\" height=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{n}</text></g>",
            esc(name),
            label_w - 6.0,
            y + 14.0,
            esc(&shown),
            esc(name),
            label_w,
            y + 3.0,
            row - 6.0,
            label_w + w + 4.0,
            y + 14.0
        );
    }
    o.push_str("</svg></figure>");
    o
}

pub(super) fn axis_label(axis: Option<charts::Axis>, t: f64, fine: bool) -> String {
    match axis {
        Some(charts::Axis::Wall) if t.is_finite() && t >= 0.0 => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t);
            let s = humantime::format_rfc3339_millis(at).to_string();
            // 2026-11-29T10:00:00.123Z → date and time, millis when fine.
            let s = s.trim_end_matches('Z').replacen('T', " ", 1);
            if fine { s } else { s[..s.len() - 4].to_owned() }
        }
        _ => format!("{t:.3} s"),
    }
}

pub(super) fn opt(v: Option<u64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

pub(super) fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(super) fn hue(name: &str) -> u32 {
    // Warm colours, stable per function name.
    let h = name
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    h % 55
}

/// kB as people read it.
pub fn kb(k: u64) -> String {
    if k >= 10 * 1024 * 1024 {
        format!("{:.1} GiB", k as f64 / 1024.0 / 1024.0)
    } else if k >= 10 * 1024 {
        format!("{:.1} MiB", k as f64 / 1024.0)
    } else {
        format!("{k} kB")
    }
}

pub(super) fn short_kb(k: u64) -> String {
    if k >= 1024 * 1024 {
        format!("{}G", k / 1024 / 1024)
    } else if k >= 1024 {
        format!("{}M", k / 1024)
    } else {
        format!("{k}k")
    }
}

/// Text for HTML: element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}
