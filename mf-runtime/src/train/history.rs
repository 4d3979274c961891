//! The training history: one record per step, kept in memory and written
//! or read as CSV.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::Path;

/// One line of the training history.
///
/// ```
/// use mf_runtime::Record;
/// let r = Record { step: 3, loss: 1.5, grad_norm: 0.2, elapsed: 0.01, evaluations: 4,
///                  train_metric: None, validation: Some(0.9) };
/// assert_eq!(r.validation, Some(0.9));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Record {
    /// Number of optimizer steps taken (0 = the starting point).
    pub step: usize,
    /// The loss at this step's parameters.
    pub loss: f64,
    /// Euclidean norm of the gradient there.
    pub grad_norm: f64,
    /// Seconds since the run started.
    pub elapsed: f64,
    /// Objective evaluations (`value_and_gradient` calls) so far.
    pub evaluations: usize,
    /// The [`Trainer::train_metric`](crate::Trainer::train_metric), on the steps where metrics are computed.
    pub train_metric: Option<f64>,
    /// The [`Trainer::validation`](crate::Trainer::validation) metric, on the steps where metrics are computed.
    pub validation: Option<f64>,
}

/// The recorded steps of a run, exportable as CSV.
///
/// ```
/// use mf_runtime::{History, Record};
/// let history = History::from(vec![Record { step: 0, loss: 2.0, grad_norm: 1.0, elapsed: 0.0,
///     evaluations: 1, train_metric: None, validation: None }]);
/// let mut out = Vec::new();
/// history.write_csv(&mut out).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(),
///     "step,loss,grad_norm,elapsed_s,evaluations,train_metric,validation\n0,2,1,0,1,,\n");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    records: Vec<Record>,
}

pub(super) const CSV_HEADER: &str =
    "step,loss,grad_norm,elapsed_s,evaluations,train_metric,validation";

impl History {
    /// The records, in step order.
    ///
    /// ```
    /// # use mf_runtime::History;
    /// assert!(History::default().records().is_empty());
    /// ```
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Writes the history as CSV: a header line
    /// `step,loss,grad_norm,elapsed_s,evaluations,train_metric,validation`,
    /// then one line per record. Floats are written in Rust's shortest form
    /// that reads back to the same value; an absent metric is an empty field.
    ///
    /// See [`History`] for an example.
    pub fn write_csv<W: Write>(&self, mut out: W) -> io::Result<()> {
        writeln!(out, "{CSV_HEADER}")?;
        let metric = |m: Option<f64>| m.map(|v| v.to_string()).unwrap_or_default();
        for r in &self.records {
            writeln!(
                out,
                "{},{},{},{},{},{},{}",
                r.step,
                r.loss,
                r.grad_norm,
                r.elapsed,
                r.evaluations,
                metric(r.train_metric),
                metric(r.validation)
            )?;
        }
        out.flush()
    }

    /// Writes the CSV of [`write_csv`](History::write_csv) to a file.
    ///
    /// ```no_run
    /// # use mf_runtime::History;
    /// History::default().save_csv("history.csv")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn save_csv(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let file = std::fs::File::create(path)?;
        self.write_csv(io::BufWriter::new(file))
    }

    /// Reads a history written by [`write_csv`](History::write_csv).
    ///
    /// ```
    /// # use mf_runtime::History;
    /// let csv = "step,loss,grad_norm,elapsed_s,evaluations,train_metric,validation\n5,0.5,0.1,1.25,7,,0.9\n";
    /// let h = History::read_csv(csv.as_bytes()).unwrap();
    /// assert_eq!((h.records()[0].step, h.records()[0].validation), (5, Some(0.9)));
    /// ```
    pub fn read_csv<R: BufRead>(input: R) -> io::Result<History> {
        let invalid = |line: usize, what: String| {
            io::Error::new(io::ErrorKind::InvalidData, format!("line {line}: {what}"))
        };
        let mut lines = input.lines();
        match lines.next().transpose()? {
            Some(header) if header.trim_end() == CSV_HEADER => {}
            other => {
                return Err(invalid(
                    1,
                    format!("expected the header `{CSV_HEADER}`, found {other:?}"),
                ))
            }
        }
        let mut records = Vec::new();
        for (i, line) in lines.enumerate() {
            let line = line?;
            let number = i + 2;
            let fields: Vec<&str> = line.trim_end().split(',').collect();
            if fields.len() != 7 {
                return Err(invalid(
                    number,
                    format!("{} fields, expected 7", fields.len()),
                ));
            }
            let parse_err = |e: &dyn fmt::Display| invalid(number, e.to_string());
            let float = |s: &str| s.parse::<f64>().map_err(|e| parse_err(&e));
            let int = |s: &str| s.parse::<usize>().map_err(|e| parse_err(&e));
            let metric = |s: &str| (!s.is_empty()).then(|| float(s)).transpose();
            records.push(Record {
                step: int(fields[0])?,
                loss: float(fields[1])?,
                grad_norm: float(fields[2])?,
                elapsed: float(fields[3])?,
                evaluations: int(fields[4])?,
                train_metric: metric(fields[5])?,
                validation: metric(fields[6])?,
            });
        }
        Ok(History { records })
    }
}

impl From<Vec<Record>> for History {
    fn from(records: Vec<Record>) -> Self {
        History { records }
    }
}
