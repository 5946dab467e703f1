//! The drift page: `otscout diff OLD NEW --format html`. The same shell, policy and
//! escaping as the report page; the tables sort and filter the same way.

use std::fmt::Write;

use super::{SignatureStatus, escape, page};
use crate::report::diff::{AssetBrief, Diff};

/// The address cell of a diff row: the address, or for an asset known only by MAC its
/// `mac:` key (and the path behind it), with a sort key after every address.
fn address(ip: &std::net::IpAddr, path: Option<&str>) -> (String, String) {
    match path {
        Some(p) if ip.is_unspecified() && p.starts_with(crate::inventory::MAC_PATH_PREFIX) => {
            (escape(p), format!("m{}", escape(p)))
        }
        _ => (ip.to_string(), super::table::ip_sort_key(ip)),
    }
}

fn brief_row(s: &mut String, mark: &str, b: &AssetBrief) {
    let site = b.site.as_deref().unwrap_or("–");
    let (addr, sort) = address(&b.ip, b.path.as_deref());
    let _ = writeln!(
        s,
        "<tr class=\"asset {mark}\" data-ip=\"{}\"><td data-key=\"site\">{}</td><td data-key=\"ip\" data-sort=\"{}\">{}</td><td data-key=\"vendor\">{}</td><td data-key=\"model\">{}</td><td data-key=\"serial\">{}</td></tr>",
        addr,
        escape(site),
        sort,
        addr,
        escape(b.manufacturer.as_deref().unwrap_or("–")),
        escape(b.model.as_deref().unwrap_or("–")),
        escape(b.serial.as_deref().unwrap_or("–")),
    );
}

fn brief_table(s: &mut String, id: &str, title: &str, mark: &str, list: &[AssetBrief]) {
    let _ = writeln!(s, "<section id=\"{id}\"><h2>{title} ({})</h2>", list.len());
    if list.is_empty() {
        s.push_str("<p>None.</p></section>\n");
        return;
    }
    s.push_str("<div class=\"wide\"><table class=\"sortable\"><thead><tr><th data-key=\"site\" tabindex=\"0\">site</th><th data-key=\"ip\" tabindex=\"0\">address</th><th data-key=\"vendor\" tabindex=\"0\">vendor</th><th data-key=\"model\" tabindex=\"0\">model</th><th data-key=\"serial\" tabindex=\"0\">serial</th></tr></thead><tbody>\n");
    for b in list {
        brief_row(s, mark, b);
    }
    s.push_str("</tbody></table></div></section>\n");
}

/// The HTML view of the drift between two reports.
pub fn render(d: &Diff, signature: &SignatureStatus) -> String {
    let title = "otscout drift report";
    let mut s = String::new();
    let _ = writeln!(s, "<header><h1>{title}</h1>");
    let _ = writeln!(
        s,
        "<p class=\"meta\">Comparing the report of {} (old) with the report of {} (new).</p>",
        d.old_generated_at.format("%Y-%m-%d %H:%M:%S UTC"),
        d.new_generated_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    match signature {
        SignatureStatus::Verified { key_id, .. } => {
            let _ = writeln!(
                s,
                "<p class=\"sig ok\" id=\"signature\">Both reports' signatures verified when this page was made (key id <code>{}</code>).</p>",
                escape(key_id)
            );
        }
        SignatureStatus::NotChecked => s.push_str(
            "<p class=\"sig unchecked\" id=\"signature\">Signatures not checked when this page was made (no public key given).</p>\n",
        ),
    }
    let _ = writeln!(
        s,
        "<ul class=\"summary\" id=\"summary\"><li><b>{}</b> new</li><li><b>{}</b> missing</li><li><b>{}</b> changed fields</li><li><b>{}</b> moved</li></ul>",
        d.added.len(),
        d.removed.len(),
        d.changed.len(),
        d.moved.len()
    );
    if !d.is_drift() {
        s.push_str("<p id=\"no-drift\">No changes.</p>\n");
    }
    s.push_str("</header>\n<main>\n");
    s.push_str("<div class=\"controls\" id=\"controls\" hidden><label>Filter <input id=\"filter\" type=\"search\" placeholder=\"text, or column:text\" size=\"40\"></label> <span id=\"shown\"></span></div>\n");
    let _ = writeln!(
        s,
        "<section id=\"changed\"><h2>Changed fields ({})</h2>",
        d.changed.len()
    );
    if d.changed.is_empty() {
        s.push_str("<p>None.</p>");
    } else {
        s.push_str("<div class=\"wide\"><table class=\"sortable\"><thead><tr><th data-key=\"site\" tabindex=\"0\">site</th><th data-key=\"ip\" tabindex=\"0\">address</th><th data-key=\"field\" tabindex=\"0\">field</th><th data-key=\"old\" tabindex=\"0\">old</th><th data-key=\"new\" tabindex=\"0\">new</th></tr></thead><tbody>\n");
        for c in &d.changed {
            let (addr, sort) = address(&c.ip, c.path.as_deref());
            let _ = writeln!(
                s,
                "<tr class=\"asset changed\" data-ip=\"{}\"><td data-key=\"site\">{}</td><td data-key=\"ip\" data-sort=\"{}\">{}</td><td data-key=\"field\">{}</td><td data-key=\"old\" class=\"old\">{}</td><td data-key=\"new\" class=\"new\">{}</td></tr>",
                addr,
                escape(c.site.as_deref().unwrap_or("–")),
                sort,
                addr,
                escape(&c.field),
                escape(c.old.as_deref().unwrap_or("(unknown)")),
                escape(c.new.as_deref().unwrap_or("(unknown)"))
            );
        }
        s.push_str("</tbody></table></div>");
    }
    s.push_str("</section>\n");
    brief_table(&mut s, "added", "New assets", "added", &d.added);
    brief_table(&mut s, "removed", "Missing assets", "removed", &d.removed);
    if !d.moved.is_empty() {
        s.push_str("<section id=\"moved\"><h2>Moved</h2><ul>\n");
        for m in &d.moved {
            let (from, to) = m.places();
            let _ = writeln!(
                s,
                "<li>serial {} moved from {} to {}</li>",
                escape(&m.serial),
                escape(&from),
                escape(&to)
            );
        }
        s.push_str("</ul></section>\n");
    }
    s.push_str("</main>\n");
    page(title, &s)
}
