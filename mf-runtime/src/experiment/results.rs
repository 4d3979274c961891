//! An experiment's results: per split and candidate the outcome, printed as
//! a Markdown table, written as CSV or JSON, drawn as validation curves.

use std::fmt;
use std::path::{Path, PathBuf};

use super::search::Outcome;
use crate::metrics::{Ranking, RankingProtocol};
use crate::{CurvePlot, History};

/// What one split held: its name and its test side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitSummary {
    /// The split's name (`u1`, `fold 3`, `holdout`).
    pub name: String,
    /// Test ratings scored.
    pub scored: usize,
    /// Test ratings left out: their user or item has no training rating.
    pub left_out: usize,
}

/// The results of [`Experiment::run`](super::Experiment::run).
///
/// `outcomes[s][c]` is candidate `c` on split `s`. Printing it (`Display`)
/// gives the Markdown table of [`markdown`](Results::markdown).
#[derive(Clone, Debug)]
pub struct Results {
    /// The candidates' names, in the order they were added.
    pub names: Vec<String>,
    /// The candidates' plot groups.
    pub groups: Vec<Option<String>>,
    /// The splits, in protocol order.
    pub splits: Vec<SplitSummary>,
    /// Per split, per candidate.
    pub outcomes: Vec<Vec<Outcome>>,
    /// The ranking protocol, when the experiment compared by ranking.
    pub ranking: Option<RankingProtocol>,
}

/// Mean and sample standard deviation (0 for fewer than two values).
///
/// ```
/// use mf_runtime::experiment::mean_std;
/// assert_eq!(mean_std(&[1.0, 3.0]), (2.0, 2f64.sqrt()));
/// ```
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = match xs.len() {
        0 | 1 => 0.0,
        _ => xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0),
    };
    (mean, var.sqrt())
}

impl Results {
    /// Candidate `c`'s values of `f` over the splits.
    fn column(&self, c: usize, f: impl Fn(&Outcome) -> f64) -> Vec<f64> {
        self.outcomes.iter().map(|split| f(&split[c])).collect()
    }

    /// Candidate `c`'s mean test RMSE over the splits.
    pub fn mean_rmse(&self, c: usize) -> f64 {
        mean_std(&self.column(c, |o| o.test.rmse)).0
    }

    /// The candidate with the lowest mean test RMSE, with it.
    pub fn best(&self) -> Option<(usize, f64)> {
        (0..self.names.len())
            .map(|c| (c, self.mean_rmse(c)))
            .filter(|(_, m)| m.is_finite())
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Candidate `c`'s chosen settings, once when every split chose the same.
    fn chosen(&self, c: usize) -> String {
        let settings: Vec<String> = self
            .outcomes
            .iter()
            .map(|s| s[c].chosen.to_string())
            .collect();
        match settings.iter().all(|s| s == &settings[0]) {
            true => settings[0].clone(),
            false => settings.join("; "),
        }
    }

    /// The table: per candidate the method, test RMSE and MAE (mean ± std
    /// over several splits) — or, comparing by ranking, NDCG@k,
    /// precision@k, recall@k, MAP@k and AUC — iterations and seconds of the
    /// final fit, the seconds of search and final fit, and the chosen
    /// setting; a failed run says so in the name column.
    pub fn markdown(&self) -> String {
        let many = self.splits.len() > 1;
        let metrics: Vec<(String, Metric)> = match self.ranking {
            Some(p) => vec![
                (format!("NDCG@{}", p.k), |o| ranked(o, |r| r.ndcg)),
                (format!("precision@{}", p.k), |o| ranked(o, |r| r.precision)),
                (format!("recall@{}", p.k), |o| ranked(o, |r| r.recall)),
                (format!("MAP@{}", p.k), |o| ranked(o, |r| r.map)),
                ("AUC".into(), |o| ranked(o, |r| r.auc)),
            ],
            None => vec![
                ("test RMSE".into(), |o| o.test.rmse),
                ("test MAE".into(), |o| o.test.mae),
            ],
        };
        let names: Vec<&str> = metrics.iter().map(|(n, _)| n.as_str()).collect();
        let mut out = format!(
            "| loss | method | {} | iterations | seconds (final fit) | seconds (search + final) | chosen setting |\n|---|---|{}---:|---:|---:|---|\n",
            names.join(" | "),
            "---:|".repeat(names.len()),
        );
        for (c, name) in self.names.iter().enumerate() {
            let cell = |f: &dyn Fn(&Outcome) -> f64, digits: usize| {
                let (m, s) = mean_std(&self.column(c, f));
                match many {
                    true => format!("{m:.digits$} ± {s:.digits$}"),
                    false => format!("{m:.digits$}"),
                }
            };
            let failed = self.outcomes.iter().find_map(|s| s[c].failure.as_ref());
            let name = match failed {
                Some(f) => format!("{name} (failed: {f})"),
                None => name.clone(),
            };
            let method = self
                .outcomes
                .iter()
                .map(|s| s[c].method)
                .find(|m| !m.is_empty());
            let values: Vec<String> = metrics.iter().map(|(_, f)| cell(f, 4)).collect();
            out += &format!(
                "| {name} | {} | {} | {} | {} | {} | {} |\n",
                method.unwrap_or("—"),
                values.join(" | "),
                cell(&|o| o.iterations as f64, 0),
                cell(&|o| o.seconds, 2),
                cell(&|o| o.total_seconds, 1),
                self.chosen(c),
            );
        }
        out
    }

    /// One CSV record per split and candidate (header first): split, loss,
    /// method, test RMSE, test MAE, test ratings scored, validation RMSE,
    /// iterations, seconds of the final fit and of search + final, the
    /// chosen setting, the failure if any, and the ranking metrics
    /// (precision, recall, NDCG, MAP at k, AUC; NaN without ranking).
    pub fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let header = [
            "split",
            "loss",
            "method",
            "test_rmse",
            "test_mae",
            "test_count",
            "validation_rmse",
            "iterations",
            "seconds_final",
            "seconds_total",
            "setting",
            "failure",
            "precision",
            "recall",
            "ndcg",
            "map",
            "auc",
        ];
        w.write_record(header).expect("writing to memory");
        for (split, outcomes) in self.splits.iter().zip(&self.outcomes) {
            for (name, o) in self.names.iter().zip(outcomes) {
                w.write_record([
                    split.name.clone(),
                    name.clone(),
                    o.method.to_string(),
                    o.test.rmse.to_string(),
                    o.test.mae.to_string(),
                    o.test.count.to_string(),
                    o.validation_rmse.to_string(),
                    o.iterations.to_string(),
                    o.seconds.to_string(),
                    o.total_seconds.to_string(),
                    o.chosen.to_string(),
                    o.failure.clone().unwrap_or_default(),
                    ranked(o, |r| r.precision).to_string(),
                    ranked(o, |r| r.recall).to_string(),
                    ranked(o, |r| r.ndcg).to_string(),
                    ranked(o, |r| r.map).to_string(),
                    ranked(o, |r| r.auc).to_string(),
                ])
                .expect("writing to memory");
            }
        }
        String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 fields")
    }

    /// The same records as JSON: `{"splits": [...], "results": [{"split",
    /// "loss", "method", "test_rmse", …, "setting": {"k": 50, "lambda":
    /// 0.5}}]}` (a NaN is `null`).
    pub fn json(&self) -> String {
        let records: Vec<serde_json::Value> = self
            .splits
            .iter()
            .zip(&self.outcomes)
            .flat_map(|(split, outcomes)| {
                self.names.iter().zip(outcomes).map(move |(name, o)| {
                    let mut setting = serde_json::Map::new();
                    setting.insert("k".into(), o.chosen.rank.into());
                    for (h, v) in &o.chosen.hypers {
                        setting.insert(h.clone(), (*v).into());
                    }
                    serde_json::json!({
                        "split": split.name,
                        "loss": name,
                        "method": o.method,
                        "test_rmse": o.test.rmse,
                        "test_mae": o.test.mae,
                        "test_count": o.test.count,
                        "validation_rmse": o.validation_rmse,
                        "iterations": o.iterations,
                        "seconds_final": o.seconds,
                        "seconds_total": o.total_seconds,
                        "setting": setting,
                        "ranking": o.ranking.as_ref().map(|r| serde_json::json!({
                            "precision": r.precision, "recall": r.recall, "ndcg": r.ndcg,
                            "map": r.map, "auc": r.auc, "users": r.users,
                        })),
                        "failure": o.failure,
                    })
                })
            })
            .collect();
        let splits: Vec<serde_json::Value> = self
            .splits
            .iter()
            .map(
                |s| serde_json::json!({"name": s.name, "scored": s.scored, "left_out": s.left_out}),
            )
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({"splits": splits, "results": records}))
            .expect("JSON of plain values")
    }

    /// The validation RMSE per step of each candidate's chosen validation
    /// run on the first split, as SVG and PNG in `dir`: every candidate
    /// (`validation-rmse`), then one plot per group (`validation-rmse-GROUP`).
    /// Returns the files written.
    ///
    /// # Errors
    /// When `dir` cannot be created or a file written.
    pub fn plot(
        &self,
        dir: &Path,
        title: &str,
    ) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
        std::fs::create_dir_all(dir)?;
        let Some(first) = self.outcomes.first() else {
            return Ok(Vec::new());
        };
        let mut groups: Vec<Option<&str>> = vec![None];
        for g in self.groups.iter().flatten() {
            if !groups.contains(&Some(g.as_str())) {
                groups.push(Some(g));
            }
        }
        let mut written = Vec::new();
        for group in groups {
            let curves: Vec<(&str, &History)> = (0..self.names.len())
                .filter(|&c| group.is_none() || self.groups[c].as_deref() == group)
                .filter(|&c| !first[c].validation_history.records().is_empty())
                .map(|c| (self.names[c].as_str(), &first[c].validation_history))
                .collect();
            if curves.is_empty() {
                continue;
            }
            let file = match group {
                None => "validation-rmse".to_string(),
                Some(g) => format!("validation-rmse-{g}"),
            };
            let plot = CurvePlot::new()
                .size(1400, 800)
                .title(format!("{title}: loss and validation RMSE per step"))
                .validation_label("validation RMSE");
            for ext in ["svg", "png"] {
                let path = dir.join(format!("{file}.{ext}"));
                plot.write(&path, &curves)?;
                written.push(path);
            }
        }
        Ok(written)
    }
}

/// A column of the table: a value per outcome.
type Metric = fn(&Outcome) -> f64;

/// A ranking metric of an outcome (NaN without ranking).
fn ranked(o: &Outcome, metric: fn(&Ranking) -> f64) -> f64 {
    o.ranking.as_ref().map_or(f64::NAN, metric)
}

impl fmt::Display for Results {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.markdown())
    }
}
