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

/// A target: `lhs / rhs` within `bound`.
pub(crate) struct Target {
    pub(crate) what: &'static str,
    pub(crate) lhs: &'static str,
    pub(crate) rhs: Rhs,
    pub(crate) bound: Bound,
}

/// Which side of its limit a ratio must be on.
#[derive(Clone, Copy)]
pub(crate) enum Bound {
    AtMost(f64),
    AtLeast(f64),
}

impl Bound {
    fn limit(self) -> f64 {
        match self {
            Bound::AtMost(l) | Bound::AtLeast(l) => l,
        }
    }

    fn holds(self, ratio: f64) -> bool {
        match self {
            Bound::AtMost(l) => ratio <= l,
            Bound::AtLeast(l) => ratio >= l,
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::AtMost(l) => write!(f, "<= {l}"),
            Bound::AtLeast(l) => write!(f, ">= {l}"),
        }
    }
}

impl Target {
    /// `lhs / rhs` within `bound`.
    pub(crate) const fn new(what: &'static str, lhs: &'static str, rhs: Rhs, bound: Bound) -> Self {
        Self {
            what,
            lhs,
            rhs,
            bound,
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
                           "lhs": t.lhs, "rhs": rhs, "limit": t.bound.limit(),
                           "bound": t.bound.to_string(), "holds": ok})
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
                    let limit = t.bound;
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
        Some((ratio, t.bound.holds(ratio)))
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
