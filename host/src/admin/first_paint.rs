//! The stats page's first paint, rendered by the server: every pool and
//! server (state, weight, active, health), the summary tiles and the plugins,
//! so `curl /stats` or a browser without JavaScript shows the whole picture
//! (as HAProxy's stats page does). The page's script then updates the same
//! markup in place.
//!
//! The rows are built from the very JSON the script reads (`/api/pools`,
//! `/api/plugins`, `/health/detailed`) and mirror the script's
//! `buildPools` / `renderPools` / `renderPlugins` cell for cell in
//! stats.html: a change to one belongs in the other. Every string from the
//! config or a plugin is HTML-escaped.

use serde_json::Value;
use std::fmt::Write;

/// What the page shows, as the admin API reports it.
pub struct Snapshot<'a> {
    /// `GET /api/pools`'s `pools`.
    pub pools: &'a [Value],
    /// `GET /api/plugins`'s `plugins`.
    pub plugins: &'a [Value],
    /// `GET /health/detailed`'s body.
    pub health: &'a Value,
}

/// `template` with every `{{name}}` replaced by its rendered part. One pass,
/// so text from the config that happens to contain `{{` is never expanded.
pub fn render(template: &str, s: &Snapshot<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 512 * s.pools.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            rest = &rest[start..];
            break;
        };
        match part(&after[..end], s) {
            Some(html) => out.push_str(&html),
            // Not ours (none exist today): left as written.
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The rendered part called `name`.
fn part(name: &str, s: &Snapshot<'_>) -> Option<String> {
    let servers = || s.pools.iter().flat_map(|p| list(&p["servers"]));
    Some(match name {
        "health" => escape(str_of(&s.health["status"])),
        "health_class" => health_class(str_of(&s.health["status"])).to_string(),
        "uptime" => num(&s.health["uptime_s"]).to_string(),
        "pools" => s.pools.iter().fold(String::new(), |mut out, p| {
            pool(&mut out, p);
            out
        }),
        "layout" => escape(&layout(s.pools)),
        "plugins" if s.plugins.is_empty() => {
            "<tr><td colspan=\"8\" class=\"muted\">none</td></tr>".into()
        }
        "plugins" => s.plugins.iter().fold(String::new(), |mut out, p| {
            plugin(&mut out, p);
            out
        }),
        "tile_err" => {
            let (errs, resp) = servers().fold((0, 0), |(e, r), v| {
                (e + num(&v["errors"]), r + num(&v["responses"]))
            });
            if resp == 0 {
                DASH.into()
            } else {
                pct(errs as f64 / resp as f64)
            }
        }
        "tile_active" => servers()
            .map(|v| num(&v["active"]))
            .sum::<u64>()
            .to_string(),
        "tile_up" => {
            let up = servers().filter(|v| v["state"] == "up").count();
            format!("{up} / {}", servers().count())
        }
        "tile_plugins" if s.plugins.is_empty() => "none".into(),
        "tile_plugins" => {
            let ok = s.plugins.iter().filter(|p| p["tripped"] != true).count();
            format!("{ok} / {} ok", s.plugins.len())
        }
        _ => return None,
    })
}

/// A number the script would show as "–" (no value yet).
const DASH: &str = "<span class=\"muted\">–</span>";

/// One pool's card: the script's `buildPools` markup with `renderPools`'s
/// cell contents.
fn pool(out: &mut String, p: &Value) {
    let name = escape(str_of(&p["name"]));
    let servers = list(&p["servers"]);
    let up = servers.iter().filter(|v| v["state"] == "up").count();
    let plugin = match p["plugin"].as_str() {
        Some(pl) => format!(" · plugin {}", escape(pl)),
        None => String::new(),
    };
    let _ = write!(
        out,
        "<section class=\"card pool\" data-pool=\"{name}\"><h2>{name} <small>{}{plugin} · {up}/{} up</small></h2>\
         <table><thead><tr><th>Server</th><th>State</th><th>Weight</th><th>Active</th><th>Req/s</th><th>Errors</th><th>p50</th><th>p99</th><th>Responses</th><th></th></tr></thead><tbody>",
        escape(str_of(&p["balance"])),
        servers.len(),
    );
    for s in servers {
        server(out, &name, s);
    }
    out.push_str("</tbody></table></section>");
}

/// One server's row.
fn server(out: &mut String, pool: &str, s: &Value) {
    let addr = escape(str_of(&s["address"]));
    let state = str_of(&s["state"]);
    let backup = if s["backup"] == true {
        "<span class=\"tag\">backup</span>"
    } else {
        ""
    };
    let can_drain = matches!(state, "up" | "down" | "ejected");
    let off = |d: bool| if d { " disabled" } else { "" };
    let _ = write!(
        out,
        "<tr data-pool=\"{pool}\" data-server=\"{addr}\"><td class=\"addr\">{addr}{backup}</td>\
         <td><span class=\"pill state {state}\" title=\"active check: {}, passive: {}\">{state}</span></td>\
         <td>{}</td><td>{}</td><td>{DASH}</td><td title=\"{} of {} since start\">{DASH}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td class=\"actions\"><button data-action=\"drain\"{}>Drain</button> <button data-action=\"enable\"{}>Enable</button> <button data-action=\"disable\"{}>Disable</button></td></tr>",
        escape(str_of(&s["health"]["active"])),
        escape(str_of(&s["health"]["passive"])),
        num(&s["weight"]),
        num(&s["active"]),
        num(&s["errors"]),
        num(&s["responses"]),
        ms(&s["p50_ms"]),
        ms(&s["p99_ms"]),
        num(&s["responses"]),
        off(!can_drain),
        off(can_drain),
        off(state == "disabled"),
        state = escape(state),
    );
}

/// One plugin's row: the script's `renderPlugins`.
fn plugin(out: &mut String, p: &Value) {
    let tripped = p["tripped"] == true;
    let hooks: Vec<&str> = list(&p["hooks"]).iter().map(str_of).collect();
    let errors = num(&p["errors"]);
    let errors = if errors > 0 {
        format!("<span class=\"bad\">{errors}</span>")
    } else {
        "0".into()
    };
    let hash: String = str_of(&p["hash"]).chars().take(8).collect();
    let name = escape(str_of(&p["name"]));
    let _ = write!(
        out,
        "<tr data-plugin=\"{name}\"><td>{name}</td><td><span class=\"pill {}\">{}</span></td><td>{}</td>\
         <td>{}</td><td>{errors}</td><td>{} µs</td><td>{}</td><td class=\"addr\">{}</td></tr>",
        if tripped { "down" } else { "up" },
        if tripped { "tripped" } else { "ok" },
        escape(&hooks.join(", ")),
        num(&p["calls"]),
        num(&p["avg_call_us"]),
        num(&p["swaps"]),
        escape(&hash),
    );
}

/// The pools' shape as the script computes it (`JSON.stringify` of
/// `[[name, [[address, backup], ...]], ...]`): when it matches, the script
/// updates these rows in place instead of building them again.
fn layout(pools: &[Value]) -> String {
    let shape: Vec<Value> = pools
        .iter()
        .map(|p| {
            let servers: Vec<Value> = list(&p["servers"])
                .iter()
                .map(|s| serde_json::json!([s["address"], s["backup"] == true]))
                .collect();
            serde_json::json!([p["name"], servers])
        })
        .collect();
    Value::from(shape).to_string()
}

/// The pill class for a health status: the script's mapping.
fn health_class(status: &str) -> &'static str {
    match status {
        "healthy" => "up",
        "degraded" => "draining",
        "unhealthy" => "down",
        _ => "disabled",
    }
}

/// Milliseconds as the script's `fmtMs` prints them.
fn ms(v: &Value) -> String {
    match v.as_f64() {
        None => DASH.into(),
        Some(v) if v < 10.0 => format!("{v:.2} ms"),
        Some(v) if v < 1000.0 => format!("{v:.1} ms"),
        Some(v) => format!("{:.2} s", v / 1000.0),
    }
}

/// A share as the script's `fmtPct` prints it.
fn pct(v: f64) -> String {
    let s = if v < 0.1 {
        format!("{:.2} %", v * 100.0)
    } else {
        format!("{:.1} %", v * 100.0)
    };
    if v > 0.0 {
        format!("<span class=\"bad\">{s}</span>")
    } else {
        s
    }
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Text made safe for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot_html(pools: &[Value], plugins: &[Value]) -> String {
        let health = json!({ "status": "degraded", "uptime_s": 7 });
        let s = Snapshot {
            pools,
            plugins,
            health: &health,
        };
        render(
            "{{health}}|{{health_class}}|{{uptime}}|{{pools}}|{{plugins}}|{{tile_up}}|{{unknown}}|{{layout}}",
            &s,
        )
    }

    #[test]
    fn pools_servers_and_states_are_rendered_and_escaped() {
        let pools = [json!({
            "name": "a<b>&\"c'", "balance": "round_robin", "plugin": null,
            "servers": [
                { "address": "127.0.0.1:1", "state": "up", "weight": 5, "active": 2, "backup": false,
                  "responses": 10, "errors": 1, "p50_ms": 1.5, "p99_ms": null,
                  "health": { "active": "up", "passive": "up" } },
                { "address": "127.0.0.1:2", "state": "draining", "weight": 1, "active": 0, "backup": true,
                  "responses": 0, "errors": 0, "p50_ms": null, "p99_ms": 2500.0,
                  "health": { "active": "down", "passive": "held_down" } },
            ],
        })];
        let html = snapshot_html(&pools, &[]);
        assert!(html.starts_with("degraded|draining|7|"), "{html}");
        assert!(
            html.contains("data-pool=\"a&lt;b&gt;&amp;&quot;c&#39;\""),
            "{html}"
        );
        assert!(!html.contains("a<b>"), "{html}");
        assert!(html.contains(
            "<span class=\"pill state up\" title=\"active check: up, passive: up\">up</span>"
        ));
        assert!(html.contains(">draining</span>"));
        assert!(
            html.contains("<td>5</td><td>2</td>"),
            "weight and active: {html}"
        );
        assert!(
            html.contains("1.50 ms") && html.contains("2.50 s"),
            "{html}"
        );
        assert!(html.contains("<span class=\"tag\">backup</span>"));
        assert!(html.contains("round_robin · 1/2 up"), "{html}");
        // An up server can be drained, not enabled; a draining one the reverse.
        assert!(html.contains(
            "<button data-action=\"drain\">Drain</button> <button data-action=\"enable\" disabled>"
        ));
        assert!(html.contains(
            "<button data-action=\"drain\" disabled>Drain</button> <button data-action=\"enable\">"
        ));
        assert!(
            html.contains(
                "|<tr><td colspan=\"8\" class=\"muted\">none</td></tr>|1 / 2|{{unknown}}|"
            )
        );
        assert!(html.ends_with("[[&quot;a&lt;b&gt;&amp;\\&quot;c&#39;&quot;,[[&quot;127.0.0.1:1&quot;,false],[&quot;127.0.0.1:2&quot;,true]]]]"), "{html}");
    }

    #[test]
    fn plugins_are_rendered() {
        let plugins = [json!({
            "name": "<guard>", "hooks": ["on-request"], "calls": 3, "errors": 1,
            "avg_call_us": 12, "swaps": 0, "hash": "0123456789abcdef", "tripped": true,
        })];
        let html = snapshot_html(&[], &plugins);
        assert!(html.contains("<tr data-plugin=\"&lt;guard&gt;\"><td>&lt;guard&gt;</td><td><span class=\"pill down\">tripped</span></td><td>on-request</td><td>3</td><td><span class=\"bad\">1</span></td><td>12 µs</td><td>0</td><td class=\"addr\">01234567</td></tr>"), "{html}");
    }

    #[test]
    fn config_text_is_not_expanded_twice() {
        let pools = [json!({ "name": "{{health}}", "balance": "first", "servers": [] })];
        let html = snapshot_html(&pools, &[]);
        assert!(html.contains("data-pool=\"{{health}}\""), "{html}");
    }

    #[test]
    fn rates_and_durations_print_as_the_script_does() {
        assert_eq!(ms(&json!(0.123)), "0.12 ms");
        assert_eq!(ms(&json!(12.34)), "12.3 ms");
        assert_eq!(pct(0.0), "0.00 %");
        assert_eq!(pct(0.5), "<span class=\"bad\">50.0 %</span>");
    }
}
