//! `docs/performance.md`: the measured tables and the targets, written between two markers so
//! the hand-written analysis around them stays.

use std::fmt::Write as _;
use std::path::Path;

use crate::Settings;
use crate::cluster::{ClusterQuery, ClusterScale, TRIVIAL_SQL};
use crate::fits::FitsResult;
use crate::processes::BenchResult;
use crate::suite::{QueryResult, ScaleResult, WireFigures, WireResult};

const BEGIN: &str = "<!-- results:begin (written by scripts/bench.sh) -->";
const END: &str = "<!-- results:end -->";
const CLUSTER_BEGIN: &str = "<!-- cluster:begin (written by scripts/bench.sh --cluster) -->";
const CLUSTER_END: &str = "<!-- cluster:end -->";
/// What a new cluster section starts with (when `docs/performance.md` has none yet).
const CLUSTER_INTRO: &str = "## On a Ballista cluster

`scripts/bench.sh --cluster` runs the CRM suite through pgwire on a single-node `segmint serve`
and on the same server with `--cluster` in front of a local Ballista cluster (one
`segmint scheduler`, and 1 or 2 `segmint executor` processes), all on this machine,
interleaved query by query. Every figure is a ratio to the single-node time of the same run.
";

/// Everything one run measured.
pub struct Report {
    /// Per scale.
    pub scales: Vec<ScaleResult>,
    /// Transfers and pgbench.
    pub wire: Option<crate::suite::WireResult>,
    /// DuckDB's version.
    pub duckdb_version: String,
    /// Scales that failed (the memory-limited one), with the error.
    pub failures: Vec<(String, String)>,
    /// The model fits against lifetimes, per customer count.
    pub fits: Vec<FitsResult>,
    /// Customer counts whose fit comparison failed, with the error.
    pub fit_failures: Vec<(u64, String)>,
    runs: usize,
}

impl Report {
    /// An empty report for this run.
    pub fn new(settings: &Settings) -> Report {
        Report {
            scales: Vec::new(),
            wire: None,
            duckdb_version: String::new(),
            failures: Vec::new(),
            fits: Vec::new(),
            fit_failures: Vec::new(),
            runs: settings.runs,
        }
    }

    /// Replaces the results section of `path` (or writes a new file).
    pub fn write(&self, path: &Path) -> BenchResult<()> {
        let results = self.render();
        let existing = std::fs::read_to_string(path).unwrap_or_default();
        let text = match (existing.find(BEGIN), existing.find(END)) {
            (Some(begin), Some(end)) if begin < end => format!(
                "{}{results}{}",
                &existing[..begin],
                &existing[end + END.len()..]
            ),
            // No results section yet: add one, keeping what the file holds (the cluster section).
            _ if existing.trim().is_empty() => format!("# Performance\n\n{results}\n"),
            _ => format!("{}\n\n## Results\n\n{results}\n", existing.trim_end()),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
        Ok(())
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{BEGIN}");
        let _ = writeln!(
            out,
            "\nMeasured on {} ({} cores, {} GiB memory), DuckDB {}, Segmint at commit `{}`; \
             {} measured runs per query after one warm-up, medians shown.\n",
            cpu_model(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib(),
            self.duckdb_version,
            commit(),
            self.runs
        );
        self.render_targets(&mut out);
        for scale in &self.scales {
            render_scale(&mut out, scale);
        }
        if !self.fits.is_empty() {
            render_fits(&mut out, &self.fits);
        }
        if let Some(wire) = &self.wire {
            render_wire(&mut out, wire);
        }
        let _ = writeln!(out, "{END}");
        out
    }

    fn render_targets(&self, out: &mut String) {
        let _ = writeln!(out, "### Targets\n");
        let _ = writeln!(out, "| target | measured | met |\n|---|---|---|");
        let mut row = |target: String, measured: String, met: Option<bool>| {
            let verdict = match met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            };
            let _ = writeln!(out, "| {target} | {measured} | {verdict} |");
        };
        let main = self
            .scales
            .iter()
            .filter(|s| s.memory_limit.is_none())
            .map(|s| s.orders)
            .max();
        for scale in self
            .scales
            .iter()
            .filter(|s| s.memory_limit.is_none() && Some(s.orders) == main)
        {
            let at = format!("{} {} layout:", scale.label, scale.layout.name());
            for query in &scale.queries {
                let Some(duck) = &query.duckdb else { continue };
                if query.baseline.is_some() {
                    continue;
                }
                let ratio = query.pgwire.ms / duck.ms;
                row(
                    format!("{at} `{}` at or below 1.0× DuckDB", query.name),
                    format!(
                        "{ratio:.2}× over pgwire, {:.2}× in-process",
                        query.in_process.ms / duck.ms
                    ),
                    Some(ratio <= 1.0),
                );
            }
            if let Some(rfm) = scale.queries.iter().find(|q| q.name == "rfm()")
                && let Some(duck) = &rfm.duckdb
            {
                let ratio = rfm.pgwire.ms / duck.ms;
                row(
                    format!("{at} `rfm()` at or below 0.6× DuckDB's hand-written RFM"),
                    format!(
                        "{ratio:.2}× over pgwire, {:.2}× in-process",
                        rfm.in_process.ms / duck.ms
                    ),
                    Some(ratio <= 0.6),
                );
            }
            if let Some(lookup) = scale
                .queries
                .iter()
                .find(|q| q.name == "customer_orders_indexed")
            {
                row(
                    format!("{at} one customer's orders under 10 ms over pgwire, with an index"),
                    format!(
                        "{:.1} ms over pgwire, {:.1} ms in-process",
                        lookup.pgwire.ms, lookup.in_process.ms
                    ),
                    Some(lookup.pgwire.ms < 10.0),
                );
            }
            if let Some(lookup) = scale.queries.iter().find(|q| q.name == "customer_orders")
                && let Some(duck) = &lookup.duckdb
            {
                let ratio = lookup.pgwire.ms / duck.ms;
                row(
                    format!("{at} one customer's orders without an index no slower than DuckDB"),
                    format!("{ratio:.2}× over pgwire ({:.1} ms)", lookup.pgwire.ms),
                    Some(ratio <= 1.0),
                );
            }
            let peak = |q: &QueryResult| q.pgwire.peak_mib;
            let segmint_peak = scale.queries.iter().map(peak).fold(0.0, f64::max);
            let duck_peak = scale
                .queries
                .iter()
                .filter_map(|q| q.duckdb.as_ref().map(|d| d.peak_mib))
                .fold(0.0, f64::max);
            row(
                format!("{at} peak memory at most 1.5× DuckDB's"),
                format!(
                    "{segmint_peak:.0} MiB (server) vs {duck_peak:.0} MiB: {:.2}×",
                    segmint_peak / duck_peak
                ),
                Some(segmint_peak <= 1.5 * duck_peak),
            );
        }
        match &self.wire {
            Some(wire) => {
                for t in &wire.figures.transfers {
                    let ratio = t.segmint_ms / t.postgres_ms;
                    row(
                        format!(
                            "1M rows by {} `{}` at or below PostgreSQL's time",
                            t.client, t.statement
                        ),
                        format!(
                            "{ratio:.2}× ({:.0} ms vs {:.0} ms)",
                            t.segmint_ms, t.postgres_ms
                        ),
                        Some(ratio <= 1.0),
                    );
                }
                for t in &wire.figures.throughput {
                    let ratio = t.segmint_tps / t.postgres_tps;
                    row(
                        format!(
                            "pgbench `{}` ({}) at least 0.5× PostgreSQL's throughput",
                            t.script, t.protocol
                        ),
                        format!(
                            "{ratio:.2}× ({:.0} vs {:.0} tps)",
                            t.segmint_tps, t.postgres_tps
                        ),
                        Some(ratio >= 0.5),
                    );
                }
                for c in &wire.figures.cancels {
                    row(
                        format!("a cancel 1 s into a {} ends it within 100 ms", c.query),
                        format!(
                            "{:.1} ms (PostgreSQL {:.1} ms)",
                            c.segmint_ms, c.postgres_ms
                        ),
                        Some(c.segmint_ms <= 100.0),
                    );
                }
            }
            None => row(
                "transfers and small queries against PostgreSQL".into(),
                "not run (SEGMINT_BENCH_PG_PORT unset)".into(),
                None,
            ),
        }
        let limited: Vec<&ScaleResult> = self
            .scales
            .iter()
            .filter(|s| s.memory_limit.is_some())
            .collect();
        for (label, error) in &self.failures {
            row(
                format!("{label} `rfm()` and `customer_value()` under a 2 GiB memory limit"),
                format!("failed: {}", error.replace('|', "/").replace('\n', " ")),
                Some(false),
            );
        }
        if limited.is_empty() && self.failures.is_empty() {
            row(
                "S50 `rfm()` and `customer_value()` under a 2 GiB memory limit".into(),
                "not run (add S50 to the scales)".into(),
                None,
            );
        }
        for scale in limited {
            for name in ["rfm()", "customer_value()"] {
                let Some(query) = scale.queries.iter().find(|q| q.name == name) else {
                    continue;
                };
                row(
                    format!(
                        "{} {} layout: `{name}` finishes under a {} memory limit",
                        scale.label,
                        scale.layout.name(),
                        scale.memory_limit.unwrap_or_default()
                    ),
                    format!(
                        "{:.1} s, peak {:.0} MiB (server)",
                        query.pgwire.ms / 1e3,
                        query.pgwire.peak_mib
                    ),
                    Some(query.pgwire.peak_mib <= 2048.0),
                );
            }
        }
        self.render_fit_targets(&mut row);
        let _ = writeln!(out);
    }

    fn render_fit_targets(&self, row: &mut impl FnMut(String, String, Option<bool>)) {
        for (customers, error) in &self.fit_failures {
            row(
                format!("model fits at {} customers", thousands(*customers)),
                format!("failed: {}", error.replace('|', "/").replace('\n', " ")),
                Some(false),
            );
        }
        if self.fits.is_empty() && self.fit_failures.is_empty() {
            row(
                "model fits against lifetimes".into(),
                "not run (SEGMINT_BENCH_FITS=none)".into(),
                None,
            );
        }
        if let Some(demo) = self.fits.iter().find(|f| f.customers == 20_000)
            && let Some(pareto) = demo.rows.iter().find(|r| r.model == "pareto_nbd")
        {
            row(
                "`pareto_nbd_fit` on the 20,000-customer demo under 2 s".into(),
                format!("{:.2} s", pareto.segmint_ms / 1e3),
                Some(pareto.segmint_ms < 2000.0),
            );
        }
        if let Some(large) = self.fits.iter().max_by_key(|f| f.customers) {
            for fit in &large.rows {
                let (measured, met) = match &fit.lifetimes {
                    Ok((ms, _)) => (
                        format!(
                            "{:.0} ms vs {:.0} ms: {:.1}× faster",
                            fit.segmint_ms,
                            ms,
                            ms / fit.segmint_ms
                        ),
                        Some(*ms >= 10.0 * fit.segmint_ms),
                    ),
                    Err(error) => (format!("lifetimes failed: {error}"), None),
                };
                row(
                    format!(
                        "`{}_fit` at {} customers at least 10× faster than lifetimes",
                        fit.model,
                        thousands(large.customers)
                    ),
                    measured,
                    met,
                );
            }
        }
    }
}

/// The model-fit comparison: each fit's time on both sides and the parameters each found.
fn render_fits(out: &mut String, fits: &[FitsResult]) {
    let _ = writeln!(
        out,
        "### Model fits against lifetimes
"
    );
    let version = fits.first().map_or("?", |f| f.lifetimes_version.as_str());
    let _ = writeln!(
        out,
        "The demo shop's `btyd_summary` (calibration to 2026-10-31), written once to Parquet; \
         Segmint's fit aggregates in process (median) and lifetimes {version} once, both on \
         distinct rows with weights.\n"
    );
    let _ = writeln!(
        out,
        "| customers (distinct rows) | fit | Segmint ms | lifetimes ms | lifetimes / Segmint | \
         Segmint parameters | lifetimes parameters |\n|---|---|---:|---:|---:|---|---|"
    );
    let params = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for fit in fits {
        for row in &fit.rows {
            let (ms, ratio, theirs) = match &row.lifetimes {
                Ok((ms, p)) => (
                    format!("{ms:.0}"),
                    format!("{:.1}×", ms / row.segmint_ms),
                    params(p),
                ),
                Err(error) => ("failed".into(), "-".into(), error.replace('|', "/")),
            };
            let _ = writeln!(
                out,
                "| {} ({}) | `{}_fit` | {:.0} | {ms} | {ratio} | {} | {theirs} |",
                thousands(fit.customers),
                thousands(fit.distinct_rows),
                row.model,
                row.segmint_ms,
                params(&row.segmint_params),
            );
        }
    }
    let _ = writeln!(out);
}

/// Replaces the cluster section of `path` (between its markers; the rest of the file stays as
/// it is), creating it after the results section when the file has none.
pub fn write_cluster(path: &Path, scales: &[ClusterScale], runs: usize) -> BenchResult<()> {
    let section = render_cluster(scales, runs);
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let text = match (existing.find(CLUSTER_BEGIN), existing.find(CLUSTER_END)) {
        (Some(begin), Some(end)) if begin < end => format!(
            "{}{section}{}",
            &existing[..begin],
            &existing[end + CLUSTER_END.len()..]
        ),
        _ => {
            let new = format!("{CLUSTER_INTRO}\n{section}\n");
            match existing.find(END) {
                Some(end) => {
                    let (head, rest) = existing.split_at(end + END.len());
                    format!("{head}\n\n{new}\n{}", rest.trim_start_matches('\n'))
                }
                None if existing.trim().is_empty() => format!("# Performance\n\n{new}"),
                None => format!("{}\n\n{new}", existing.trim_end()),
            }
        }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)?;
    Ok(())
}

fn render_cluster(scales: &[ClusterScale], runs: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{CLUSTER_BEGIN}");
    let slots = |n: usize| {
        if n == 1 {
            "1 task slot".to_string()
        } else {
            format!("{n} task slots")
        }
    };
    let task_slots = scales.first().map_or([0, 0], |s| s.task_slots);
    let _ = writeln!(
        out,
        "\nMeasured on {} ({} cores, {} GiB memory), Segmint at commit `{}`; {runs} measured runs \
         per query after one warm-up, medians shown. Single-node: one `segmint serve`. Cluster: \
         the same server with `--cluster`, on one `segmint scheduler` and 1 executor ({}) or 2 \
         executors ({} each), every process on this machine. The three setups ran interleaved, \
         query by query, on the same data, through pgwire (every row fetched; `report_run` is \
         `RUN REPORT`). Stages are the `stage_id=` entries of `EXPLAIN`'s `distributed_plan`; \
         extra ms per stage is the cluster time minus the single-node time, divided by the \
         stages.\n",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gib(),
        commit(),
        slots(task_slots[0]),
        slots(task_slots[1]),
    );
    for scale in scales {
        render_cluster_scale(&mut out, scale);
    }
    let _ = write!(out, "{CLUSTER_END}");
    out
}

fn stages_cell(q: &ClusterQuery) -> String {
    match q.stages {
        [Some(a), Some(b)] if a == b => a.to_string(),
        [a, b] => format!(
            "{} / {}",
            a.map_or("-".to_string(), |n| n.to_string()),
            b.map_or("-".to_string(), |n| n.to_string())
        ),
    }
}

fn per_stage_cell(q: &ClusterQuery) -> String {
    let cell = |c: usize| {
        q.extra_per_stage(c)
            .map_or("-".to_string(), |ms| format!("{ms:.0}"))
    };
    format!("{} / {}", cell(0), cell(1))
}

fn render_cluster_scale(out: &mut String, scale: &ClusterScale) {
    let _ = writeln!(
        out,
        "### {}: {} orders, {} customers\n",
        scale.label,
        thousands(scale.orders),
        thousands(scale.customers)
    );
    let _ = writeln!(
        out,
        "| query | rows | stages | single-node ms | 1 executor ms | 1 executor / single-node | 2 executors ms | 2 executors / single-node | extra ms per stage, 1 / 2 executors |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    let row = |out: &mut String, label: String, q: &ClusterQuery| {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {:.1} | {:.1} | {:.2}× | {:.1} | {:.2}× | {} |",
            thousands(q.rows),
            stages_cell(q),
            q.ms[0],
            q.ms[1],
            q.ratio(1),
            q.ms[2],
            q.ratio(2),
            per_stage_cell(q)
        );
    };
    for q in &scale.queries {
        row(out, format!("`{}`", q.name), q);
    }
    let totals: [f64; 3] = [0, 1, 2].map(|s| scale.queries.iter().map(|q| q.ms[s]).sum());
    let _ = writeln!(
        out,
        "| suite total | | | {:.1} | {:.1} | {:.2}× | {:.1} | {:.2}× | |",
        totals[0],
        totals[1],
        totals[1] / totals[0],
        totals[2],
        totals[2] / totals[0]
    );
    row(out, format!("fixed cost: `{TRIVIAL_SQL}`"), &scale.trivial);
    let _ = writeln!(out);

    // What the table says, in figures.
    let range = |values: Vec<f64>| {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    };
    let ratios = |s: usize| range(scale.queries.iter().map(|q| q.ratio(s)).collect());
    let per_stage = |c: usize| {
        range(
            scale
                .queries
                .iter()
                .filter_map(|q| q.extra_per_stage(c))
                .collect(),
        )
    };
    let (lo1, hi1) = ratios(1);
    let (lo2, hi2) = ratios(2);
    let t = &scale.trivial;
    let fixed = [t.ms[1] - t.ms[0], t.ms[2] - t.ms[0]];
    let _ = write!(
        out,
        "At {}, the suite's queries took {lo1:.2}× to {hi1:.2}× their single-node time on 1 \
         executor ({:.2}× in total) and {lo2:.2}× to {hi2:.2}× on 2 executors ({:.2}× in total; \
         2 executors took {:.2}× the time of 1). The query that matches no row took {:.1} ms \
         single-node and {:.1} ms / {:.1} ms on 1 / 2 executors: a fixed cost of {:.0} ms / {:.0} \
         ms per cluster query",
        scale.label,
        totals[1] / totals[0],
        totals[2] / totals[0],
        totals[2] / totals[1],
        t.ms[0],
        t.ms[1],
        t.ms[2],
        fixed[0],
        fixed[1],
    );
    if let Some(n) = t.stages[0].filter(|n| *n > 0) {
        let _ = write!(
            out,
            " ({:.0} ms / {:.0} ms for each of its {n} stages)",
            fixed[0] / n as f64,
            fixed[1] / n as f64
        );
    }
    let (s1_lo, s1_hi) = per_stage(0);
    let (s2_lo, s2_hi) = per_stage(1);
    if s1_lo.is_finite() && s2_lo.is_finite() {
        let _ = write!(
            out,
            ". Over the suite's queries the extra time per stage was {s1_lo:.0} to {s1_hi:.0} ms on \
             1 executor and {s2_lo:.0} to {s2_hi:.0} ms on 2"
        );
    }
    let _ = writeln!(out, ".\n");
}

fn render_scale(out: &mut String, scale: &ScaleResult) {
    let _ = writeln!(
        out,
        "### CRM suite at {}, {} layout: {} orders, {} customers{}\n\n{}.\n",
        scale.label,
        scale.layout.name(),
        thousands(scale.orders),
        thousands(scale.customers),
        scale
            .memory_limit
            .map_or(String::new(), |l| format!(", memory limit {l}")),
        scale.layout.description()
    );
    let _ = writeln!(
        out,
        "| query | question | rows | Segmint in-process ms | Segmint pgwire ms | DuckDB ms | in-process / DuckDB | pgwire / DuckDB | peak MiB in-process / server / DuckDB |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|");
    for q in &scale.queries {
        let (duck_ms, duck_peak) = q
            .duckdb
            .as_ref()
            .map_or((f64::NAN, f64::NAN), |d| (d.ms, d.peak_mib));
        let note = q
            .baseline
            .map_or(String::new(), |b| format!(" (DuckDB: `{b}`)"));
        // Entries DuckDB has no counterpart for show a dash, not NaN.
        let or_dash = |value: f64, text: String| {
            if value.is_nan() {
                "—".to_string()
            } else {
                text
            }
        };
        let _ = writeln!(
            out,
            "| `{}`{note} | {} | {} | {:.1} | {:.1} | {} | {} | {} | {:.0} / {:.0} / {} |",
            q.name,
            q.question,
            thousands(q.in_process.rows),
            q.in_process.ms,
            q.pgwire.ms,
            or_dash(duck_ms, format!("{duck_ms:.1}")),
            or_dash(duck_ms, format!("{:.2}×", q.in_process.ms / duck_ms)),
            or_dash(duck_ms, format!("{:.2}×", q.pgwire.ms / duck_ms)),
            q.in_process.peak_mib,
            q.pgwire.peak_mib,
            or_dash(duck_peak, format!("{duck_peak:.0}")),
        );
    }
    let _ = writeln!(out);
}

fn render_wire(out: &mut String, wire: &WireResult) {
    let _ = writeln!(
        out,
        "### 1M rows to a client, against PostgreSQL {}\n",
        wire.postgres_version
    );
    let _ = writeln!(
        out,
        "| client | statement | Segmint ms | PostgreSQL ms | Segmint / PostgreSQL |\n|---|---|--:|--:|--:|"
    );
    for t in &wire.figures.transfers {
        let _ = writeln!(
            out,
            "| {} | `{}` | {:.0} | {:.0} | {:.2}× |",
            t.client,
            t.statement,
            t.segmint_ms,
            t.postgres_ms,
            t.segmint_ms / t.postgres_ms
        );
    }
    let _ = writeln!(
        out,
        "\n### Small queries: pgbench, {} clients\n\n| script | protocol | Segmint tps | PostgreSQL tps | Segmint / PostgreSQL |\n|---|---|--:|--:|--:|",
        wire.clients
    );
    for t in &wire.figures.throughput {
        let _ = writeln!(
            out,
            "| `{}` | {} | {:.0} | {:.0} | {:.2}× |",
            t.script,
            t.protocol,
            t.segmint_tps,
            t.postgres_tps,
            t.segmint_tps / t.postgres_tps
        );
    }
    let _ = writeln!(
        out,
        "\n### Cancel: a `CancelRequest` 1 s into a query, until its error arrives\n\n| query | Segmint ms | PostgreSQL ms |\n|---|--:|--:|"
    );
    for c in &wire.figures.cancels {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} |",
            c.query, c.segmint_ms, c.postgres_ms
        );
    }
    let _ = writeln!(out);
    if let Some(baseline) = &wire.baseline {
        render_before_after(out, &wire.figures, baseline);
    }
}

/// This build against the baseline build, each as its ratio to PostgreSQL measured beside it
/// (so the two builds are compared through the same yardstick in one run).
fn render_before_after(out: &mut String, after: &WireFigures, before: &WireFigures) {
    let _ = writeln!(
        out,
        "### Before and after: this build against the baseline build, same run\n\n\
         | measurement | baseline / PostgreSQL | this build / PostgreSQL | change |\n|---|--:|--:|--:|"
    );
    let mut row = |what: String, before: f64, after: f64| {
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {} |",
            ratio(before),
            ratio(after),
            change(before, after)
        );
    };
    for (b, a) in before.transfers.iter().zip(&after.transfers) {
        row(
            format!("1M rows, {} `{}` (time)", a.client, a.statement),
            b.segmint_ms / b.postgres_ms,
            a.segmint_ms / a.postgres_ms,
        );
    }
    for (b, a) in before.throughput.iter().zip(&after.throughput) {
        row(
            format!("pgbench `{}` ({}) (throughput)", a.script, a.protocol),
            b.segmint_tps / b.postgres_tps,
            a.segmint_tps / a.postgres_tps,
        );
    }
    for (b, a) in before.cancels.iter().zip(&after.cancels) {
        row(
            format!("cancel of a {} (latency)", a.query),
            b.segmint_ms / b.postgres_ms,
            a.segmint_ms / a.postgres_ms,
        );
    }
    let _ = writeln!(out);
}

/// A ratio to PostgreSQL: two decimals, thousands separated once it is large.
fn ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{}×", thousands(r.round() as u64))
    } else {
        format!("{r:.2}×")
    }
}

/// How far a figure moved: a percentage, or a factor once it moved tenfold or more (a
/// percentage would read -100%).
fn change(before: f64, after: f64) -> String {
    let factor = after / before;
    if factor <= 0.1 {
        format!("÷{}", thousands((1.0 / factor).round() as u64))
    } else if factor >= 10.0 {
        format!("×{}", thousands(factor.round() as u64))
    } else {
        format!("{:+.0}%", (factor - 1.0) * 100.0)
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "an unknown CPU".into())
}

fn memory_gib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(0, |kib| (kib + 512 * 1024) / (1024 * 1024))
}

/// The commit measured, marked when the working tree has uncommitted changes.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if !changes.is_empty() => format!("{head} + uncommitted changes"),
        _ => head,
    }
}
