//! Figures, printed as a table (and JSON lines with `--json`), and the
//! targets they are checked against.

use serde_json::json;

/// One measured figure.
#[derive(Clone, Debug)]
pub(crate) struct Figure {
    /// Stable machine name, e.g. `memory_hit/cashews_decorated`.
    pub(crate) bench: String,
    pub(crate) value: f64,
    pub(crate) unit: &'static str,
    /// What is measured, for the table.
    pub(crate) label: String,
}

/// A target: `lhs / rhs` must be at most (or at least) `limit`.
pub(crate) struct Target {
    pub(crate) what: &'static str,
    pub(crate) lhs: &'static str,
    pub(crate) rhs: Rhs,
    pub(crate) at_most: Option<f64>,
    pub(crate) at_least: Option<f64>,
}

impl Target {
    /// `lhs / rhs <= limit`.
    pub(crate) const fn at_most(
        what: &'static str,
        lhs: &'static str,
        rhs: Rhs,
        limit: f64,
    ) -> Self {
        Self {
            what,
            lhs,
            rhs,
            at_most: Some(limit),
            at_least: None,
        }
    }

    /// `lhs / rhs >= limit`.
    pub(crate) const fn at_least(
        what: &'static str,
        lhs: &'static str,
        rhs: Rhs,
        limit: f64,
    ) -> Self {
        Self {
            what,
            lhs,
            rhs,
            at_most: None,
            at_least: Some(limit),
        }
    }
}

/// What a target's figure is divided by.
pub(crate) enum Rhs {
    /// Another figure of this run: most targets compare two peers.
    Figure(&'static str),
    /// A fixed amount, for targets stated in absolute terms (one execution,
    /// twice the function's 50 ms).
    Value(f64),
}

#[derive(Default)]
pub(crate) struct Report {
    pub(crate) figures: Vec<Figure>,
    pub(crate) notes: Vec<String>,
}

impl Report {
    pub(crate) fn add(
        &mut self,
        bench: &str,
        label: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) {
        self.figures.push(Figure {
            bench: bench.to_owned(),
            value,
            unit,
            label: label.into(),
        });
    }

    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub(crate) fn value(&self, bench: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.bench == bench)
            .map(|f| f.value)
    }

    pub(crate) fn print_json(&self, targets: &[Target]) {
        for f in &self.figures {
            println!(
                "{}",
                json!({"bench": f.bench, "value": round(f.value), "unit": f.unit, "label": f.label})
            );
        }
        for t in targets {
            if let Some((ratio, ok)) = self.check(t) {
                let rhs = match t.rhs {
                    Rhs::Figure(bench) => json!(bench),
                    Rhs::Value(v) => json!(v),
                };
                println!(
                    "{}",
                    json!({"bench": format!("ratio/{}", t.what), "value": round(ratio), "unit": "ratio",
                           "lhs": t.lhs, "rhs": rhs, "limit": t.at_most.or(t.at_least),
                           "holds": ok})
                );
            }
        }
    }

    pub(crate) fn print_table(&self, targets: &[Target]) {
        let mut group = "";
        for f in &self.figures {
            let g = f.bench.split('/').next().unwrap_or("");
            if g != group {
                println!("\n{g}");
                group = g;
            }
            println!("  {:<58} {:>14} {}", f.label, pretty(f.value), f.unit);
        }
        if !targets.is_empty() {
            println!("\ntargets (ratios measured in this run)");
        }
        for t in targets {
            match self.check(t) {
                Some((ratio, ok)) => {
                    let limit = match (t.at_most, t.at_least) {
                        (Some(m), _) => format!("<= {m}"),
                        (_, Some(l)) => format!(">= {l}"),
                        _ => String::new(),
                    };
                    println!(
                        "  [{}] {:<62} {:>7.2}x  (want {limit})",
                        if ok { "ok" } else { "MISSED" },
                        t.what,
                        ratio
                    );
                }
                None => println!("  [--] {:<62} not measured in this run", t.what),
            }
        }
        for n in &self.notes {
            println!("note: {n}");
        }
    }

    fn check(&self, t: &Target) -> Option<(f64, bool)> {
        let rhs = match t.rhs {
            Rhs::Figure(bench) => self.value(bench)?,
            Rhs::Value(v) => v,
        };
        let ratio = self.value(t.lhs)? / rhs;
        let ok = t.at_most.is_none_or(|m| ratio <= m) && t.at_least.is_none_or(|l| ratio >= l);
        Some((ratio, ok))
    }
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn pretty(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.0}", v)
    } else if v >= 100.0 {
        format!("{:.1}", v)
    } else {
        format!("{:.2}", v)
    }
}
