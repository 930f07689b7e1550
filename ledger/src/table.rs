//! Plain-text tables, CSV and A4 HTML for the ledgers and the CLIs of the node and the centre. Widths count East
//! Asian wide characters as two columns, so the ledgers' Japanese columns line up in a terminal.

/// Display width of a string in a terminal (CJK and full-width forms take two columns).
pub fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let u = c as u32;
            let wide = (0x1100..=0x115F).contains(&u)
                || (0x2E80..=0xA4CF).contains(&u)
                || (0xAC00..=0xD7A3).contains(&u)
                || (0xF900..=0xFAFF).contains(&u)
                || (0xFE30..=0xFE4F).contains(&u)
                || (0xFF00..=0xFF60).contains(&u)
                || (0xFFE0..=0xFFE6).contains(&u);
            if wide { 2 } else { 1 }
        })
        .sum()
}

/// A JSON value as a table cell: null is empty, a string is itself, anything else its JSON text.
pub fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(width(c));
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(w[i] - width(c) + 2));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    out.push_str(&line(w.iter().map(|n| "-".repeat(*n)).collect::<Vec<_>>().iter().map(String::as_str).collect()));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// CSV in UTF-8 with a byte-order mark, so Excel in Japan opens the Japanese headers correctly; records end
/// in CRLF (RFC 4180) and a field is quoted only when it must be, through the `csv` crate.
pub fn csv_with_bom(headers: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .flexible(true)
        .from_writer("\u{feff}".as_bytes().to_vec());
    // Into memory and with records of any length, a write cannot fail; were it to, the record would be
    // missing from the export rather than the program stopping.
    let _ = w.write_record(headers);
    for r in rows {
        let _ = w.write_record(r);
    }
    w.into_inner().unwrap_or_else(|e| e.into_inner().get_ref().clone())
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A ledger as a self-contained HTML page that prints on A4 landscape: headers repeat on every printed page,
/// rows never split, and the sign-off boxes (確認印) the paper forms carry sit at the end.
pub fn html_a4(title: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    html_a4_for(title, None, headers, rows)
}

/// As [`html_a4`], with a heading line under the title naming the site and the period (issue 22 §7).
///
/// Printing: `@page { margin: 0 }` leaves the browser no room for its own header and footer (date, file
/// URL), so the form prints clean; the page's margins are the body's padding instead. The sign-off boxes
/// (確認者, 承認者) are seal-sized squares (24 mm, room for a 認印 of 10.5–21 mm), not the table's width.
pub fn html_a4_for(title: &str, heading: Option<&str>, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut h = String::with_capacity(4096 + rows.len() * 200);
    h.push_str("<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>");
    h.push_str(&html_escape(title));
    h.push_str(
        "</title><style>\n@page { size: A4 landscape; margin: 0; }\nhtml, body { margin: 0; }\nbody { padding: \
         12mm 14mm; font-family: \"Noto Sans CJK JP\", \"IPAexGothic\", \"Yu Gothic\", sans-serif; font-size: 9pt; }\n\
         h1 { font-size: 13pt; margin: 0 0 1mm; }\n.period { margin: 0 0 4mm; font-size: 10pt; }\n.main { \
         border-collapse: collapse; width: 100%; }\nthead { display: table-header-group; }\ntr { \
         page-break-inside: avoid; }\n.main th, .main td { border: 0.3mm solid #000; padding: 1mm 1.5mm; \
         vertical-align: top; }\n.main th { background: #eee; white-space: nowrap; }\n.seal { margin-top: 6mm; \
         margin-left: auto; border-collapse: collapse; width: auto; page-break-inside: avoid; }\n.seal th, .seal td \
         { border: 0.3mm solid #000; width: 24mm; min-width: 24mm; max-width: 24mm; text-align: center; padding: 0; \
         }\n.seal th { height: 6mm; font-weight: normal; }\n.seal td { height: 24mm; }\n.sth { \
         border-collapse: collapse; }\n.sth th, .sth td { border: 0.3mm solid #000; padding: 0.5mm 1mm; text-align: \
         left; }\n</style></head><body>\n<h1>",
    );
    h.push_str(&html_escape(title));
    h.push_str("</h1>\n");
    if let Some(line) = heading {
        h.push_str("<p class=\"period\">");
        h.push_str(&html_escape(line));
        h.push_str("</p>\n");
    }
    h.push_str("<table class=\"main\"><thead><tr>");
    for c in headers {
        h.push_str("<th>");
        h.push_str(&html_escape(c));
        h.push_str("</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            h.push_str("<td>");
            h.push_str(&html_escape(c));
            h.push_str("</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n<table class=\"seal\"><tr><th>確認者</th><th>承認者</th></tr><tr><td></td><td></td></tr></table>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_columns_align() {
        let t = render(&["氏名", "id"], &[vec!["田中".into(), "tanaka".into()], vec!["Bob".into(), "b".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(width(lines[0].split("id").next().unwrap()), width(lines[2].split("tanaka").next().unwrap()));
    }

    #[test]
    fn html_is_escaped_and_sized_for_a4() {
        let h = html_a4("入退室管理簿", &["氏名"], &[vec!["<script>".into()]]);
        assert!(h.contains("size: A4 landscape"));
        assert!(h.contains("&lt;script&gt;") && !h.contains("<script>"));
        assert!(h.contains("<th>氏名</th>"));
    }

    #[test]
    fn the_printed_form_has_seal_boxes_no_browser_margins_and_a_heading() {
        let h = html_a4_for("入退室管理簿", Some("本庁舎 (honcho) 期間 2026-11-01 〜 2026-11-30"), &["氏名"], &[]);
        assert!(h.contains("@page { size: A4 landscape; margin: 0; }"), "no room for the browser's header/footer");
        assert!(h.contains(".seal th, .seal td { border: 0.3mm solid #000; width: 24mm;"), "seal-sized boxes");
        assert!(h.contains(".seal td { height: 24mm; }"));
        assert!(h.contains("width: auto"), "the seal table does not stretch across the page");
        assert!(h.contains("<p class=\"period\">本庁舎 (honcho) 期間 2026-11-01 〜 2026-11-30</p>"));
    }

    #[test]
    fn csv_has_bom_and_quotes() {
        let c =
            String::from_utf8(csv_with_bom(&["日付", "用務"], &[vec!["2026-11-24".into(), "保守, \"点検\"".into()]]))
                .unwrap();
        assert_eq!(c, "\u{feff}日付,用務\r\n2026-11-24,\"保守, \"\"点検\"\"\"\r\n");
    }

    /// The ledgers' exports keep the exact bytes of the hand-quoted writer the `csv` crate replaced (issue 20):
    /// quoted only for a comma, a quote or a line break, quotes doubled, CRLF after every record.
    #[test]
    fn csv_bytes_are_those_of_the_hand_quoted_writer() {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
        }
        let cells = ["", " 前後の空白 ", "a\rb", "a\nb", "x,y", "q\"", "#", "'=1+1", "入退室管理簿"];
        let rows: Vec<Vec<String>> = cells.iter().map(|c| vec![c.to_string(), "".into(), format!("{c}{c}")]).collect();
        let mut want = String::from("\u{feff}h1,h2,h3\r\n");
        for r in &rows {
            want.push_str(&r.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
            want.push_str("\r\n");
        }
        assert_eq!(String::from_utf8(csv_with_bom(&["h1", "h2", "h3"], &rows)).unwrap(), want);
    }
}
