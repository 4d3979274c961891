//! A model's files: writing and reading the directory [`Model::save`] makes.
//!
//! * **`params.npz`** ([`PARAMS_FILE`]): every param block, in declaration
//!   order, as a 2-D little-endian `f64` array named by the param (`P`, `Q`,
//!   `bu`, …; a scalar such as `mu` is a `[1, 1]` array). An ordinary
//!   uncompressed NumPy archive: `numpy.load("model/params.npz")["P"]`.
//!   Loading accepts 0-D arrays as `[1, 1]` and 1-D arrays of length `n` as
//!   `[n, 1]`, in either memory order, so a file written by NumPy loads too.
//! * **`tables.npz`** ([`TABLES_FILE`]), for a prediction that reads the
//!   training data: its tables (see [`Prediction::tables`]) as 2-D `f64`
//!   arrays `t0`, `t1`, …, so that the model predicts without that data.
//! * **`rated.npz`** ([`RATED_FILE`]): the items each user rated in
//!   training, as CSR without values: `offsets` (`u64`, users + 1) and
//!   `items` (`u32`, dense item indices).
//! * **`model.txt`** ([`MODEL_FILE`]): UTF-8 text, one field per line, then
//!   the two id sections:
//!
//! ```text
//! mf-model 2                 format and version
//! loss Biased                the loss struct's name
//! fingerprint 9c0f…          FNV-1a of the source, 16 hex digits
//! source struct Biased { … } minimize …    the loss without attributes
//! hyper beta 0.01            one line per hyper-setting, declaration order
//! clip 1 5                   optional: the rating range
//! unknown error              or `unknown baseline`, `unknown value 3.5`
//! users 3                    then exactly 3 lines: the raw id of user
//! 196                          index 0, 1, 2, … (line j after the
//! 186                          `users` line is user index j)
//! alice
//! items 2                    the same for the items
//! 242
//! 302
//! ```
//!
//! An id line is the id's text exactly, spaces included (no trimming), so ids
//! holding a line break cannot be saved. Integer-looking ids read back as the
//! same ids (an id's identity is its text, see [`IdMap`]). Loading into a
//! loss of another name, or of the same name whose source has changed
//! (another fingerprint), is an error naming both. Every error names the
//! file, and a parse error the line too.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use ndarray::{Array1, ArrayD};
use ndarray_npy::{NpzReader, NpzWriter};

use super::query::Rated;
use super::{fingerprint, Model, ModelBuilder, ModelError, Prediction, Tables, Unknown};
use crate::data::IdMap;
use crate::{ParamLayout, Params};

/// Name of the parameter archive inside a saved model directory.
pub const PARAMS_FILE: &str = "params.npz";

/// Name of the archive of the prediction's tables inside a saved model
/// directory (written when the prediction has tables).
pub const TABLES_FILE: &str = "tables.npz";

/// Name of the archive of the training items inside a saved model directory.
pub const RATED_FILE: &str = "rated.npz";

/// Name of the text file (loss, settings, id maps) inside a saved model directory.
pub const MODEL_FILE: &str = "model.txt";

/// First line of [`MODEL_FILE`]: the format and its version.
const MAGIC: &str = "mf-model 2";

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn npz_error(path: &Path, message: impl fmt::Display) -> ModelError {
    ModelError::Npz {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

impl Model {
    /// Writes the model to the directory `dir` (created if needed); see
    /// [`files`](self) for the formats.
    ///
    /// # Errors
    /// [`ModelError::Io`] or [`ModelError::Npz`] naming the file that could
    /// not be written; [`ModelError::Unsavable`] for an id holding a line
    /// break.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), ModelError> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let text_path = dir.join(MODEL_FILE);
        let text = self.model_text(&text_path)?;
        let params = &self.params;
        let blocks = params.layout().blocks().iter().enumerate();
        write_npz(&dir.join(PARAMS_FILE), |w| {
            blocks.into_iter().try_for_each(|(index, block)| {
                w.add_array(block.name.as_str(), &params.block(index))
                    .map_err(|e| format!("array `{}`: {e}", block.name))
            })
        })?;
        if !self.tables.is_empty() {
            write_npz(&dir.join(TABLES_FILE), |w| {
                self.tables.iter().enumerate().try_for_each(|(t, table)| {
                    w.add_array(format!("t{t}"), table)
                        .map_err(|e| format!("array `t{t}`: {e}"))
                })
            })?;
        }
        write_npz(&dir.join(RATED_FILE), |w| {
            w.add_array("offsets", &Array1::from(self.rated.offsets.clone()))
                .and_then(|()| w.add_array("items", &Array1::from(self.rated.items.clone())))
                .map_err(|e| e.to_string())
        })?;
        fs::write(&text_path, text).map_err(io_error(&text_path))
    }

    /// Reads a model that [`save`](Model::save) wrote from `loss`'s
    /// training into `dir`; the saved hyper-settings replace `loss`'s.
    ///
    /// # Errors
    /// [`ModelError::WrongLoss`] when the model was saved from another
    /// loss, [`ModelError::ChangedLoss`] when `loss`'s source differs from
    /// the saved one; [`ModelError::Io`], [`ModelError::Npz`] or
    /// [`ModelError::Format`] naming the file (and the line) at fault; any
    /// error of [`ModelBuilder::build`] when the params do not fit.
    pub fn load(dir: impl AsRef<Path>, loss: &dyn Prediction) -> Result<Model, ModelError> {
        let dir = dir.as_ref();
        let text_path = dir.join(MODEL_FILE);
        let file = File::open(&text_path).map_err(io_error(&text_path))?;
        let saved = read_model_text(&text_path, BufReader::new(file))?;
        if saved.loss != loss.loss_name() {
            return Err(ModelError::WrongLoss {
                path: text_path,
                saved: saved.loss,
                given: loss.loss_name(),
            });
        }
        let now = fingerprint(loss.loss_source());
        if saved.fingerprint != now {
            return Err(ModelError::ChangedLoss {
                path: text_path,
                name: loss.loss_name(),
                saved: saved.fingerprint,
                now,
            });
        }
        let mut rule = loss.boxed();
        for (name, value) in &saved.hypers {
            rule.set_hyper(name, *value)
                .map_err(|source| ModelError::Hyper {
                    path: text_path.clone(),
                    source,
                })?;
        }
        let rated_path = dir.join(RATED_FILE);
        let mut rated = open_npz(&rated_path)?;
        let offsets: Array1<u64> = read_array(&mut rated, &rated_path, "offsets")?;
        let items: Array1<u32> = read_array(&mut rated, &rated_path, "items")?;
        let rated = Rated::new(offsets.to_vec(), items.to_vec(), saved.items.len())
            .map_err(|e| npz_error(&rated_path, e))?;
        let tables_path = dir.join(TABLES_FILE);
        let tables = match loss.tables().len() {
            0 => Vec::new(),
            n => {
                let mut archive = open_npz(&tables_path)?;
                (0..n)
                    .map(|t| {
                        archive
                            .by_name(&format!("t{t}"))
                            .map_err(|e| npz_error(&tables_path, format_args!("array `t{t}`: {e}")))
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        ModelBuilder {
            rule: Arc::from(rule),
            tables: Tables::Loaded(tables),
            params: load_params(&dir.join(PARAMS_FILE))?,
            users: Arc::new(saved.users),
            items: Arc::new(saved.items),
            rated: Arc::new(rated),
            range: saved.range,
            unknown: saved.unknown,
        }
        .build()
    }

    fn model_text(&self, path: &Path) -> Result<String, ModelError> {
        let unsavable = |what: &str, text: &str| ModelError::Unsavable {
            path: path.to_path_buf(),
            message: format!("{what} {text:?} holds a line break"),
        };
        let has_break = |s: &str| s.contains(['\n', '\r']);
        let rule = &self.rule;
        let source = rule.loss_source();
        if has_break(source) {
            return Err(unsavable("the loss's source", source));
        }
        let mut out = format!("{MAGIC}\nloss {}\n", rule.loss_name());
        out += &format!(
            "fingerprint {:016x}\nsource {source}\n",
            fingerprint(source)
        );
        for name in rule.hyper_names() {
            let value = rule.hyper(name).expect("a declared hyper-setting");
            out += &format!("hyper {name} {value}\n");
        }
        if let Some((min, max)) = self.range {
            out += &format!("clip {min} {max}\n");
        }
        out += &match self.unknown {
            Unknown::Error => "unknown error\n".to_string(),
            Unknown::Baseline => "unknown baseline\n".to_string(),
            Unknown::Value(v) => format!("unknown value {v}\n"),
        };
        for (key, map) in [("users", &self.users), ("items", &self.items)] {
            out += &format!("{key} {}\n", map.len());
            for id in map.iter() {
                let id = id.to_string();
                if has_break(&id) {
                    return Err(unsavable(&key[..key.len() - 1], &id));
                }
                out += &id;
                out.push('\n');
            }
        }
        Ok(out)
    }
}

fn write_npz(
    path: &Path,
    add: impl FnOnce(&mut NpzWriter<BufWriter<File>>) -> Result<(), String>,
) -> Result<(), ModelError> {
    let file = File::create(path).map_err(io_error(path))?;
    let mut writer = NpzWriter::new(BufWriter::new(file));
    add(&mut writer).map_err(|e| npz_error(path, e))?;
    let mut inner = writer.finish().map_err(|e| npz_error(path, e))?;
    inner.flush().map_err(io_error(path))
}

fn open_npz(path: &Path) -> Result<NpzReader<BufReader<File>>, ModelError> {
    let file = File::open(path).map_err(io_error(path))?;
    NpzReader::new(BufReader::new(file)).map_err(|e| npz_error(path, e))
}

fn read_array<T: ndarray_npy::ReadableElement>(
    reader: &mut NpzReader<BufReader<File>>,
    path: &Path,
    name: &str,
) -> Result<Array1<T>, ModelError> {
    reader
        .by_name(name)
        .map_err(|e| npz_error(path, format_args!("array `{name}`: {e}")))
}

fn load_params(path: &Path) -> Result<Params, ModelError> {
    let mut reader = open_npz(path)?;
    let names = reader.names().map_err(|e| npz_error(path, e))?;
    let mut shapes = Vec::with_capacity(names.len());
    let mut values = Vec::new();
    for name in names {
        let array: ArrayD<f64> = reader
            .by_name(&name)
            .map_err(|e| npz_error(path, format_args!("array `{name}`: {e}")))?;
        let (rows, cols) = match *array.shape() {
            [] => (1, 1),
            [n] => (n, 1),
            [r, c] => (r, c),
            ref shape => {
                return Err(npz_error(
                    path,
                    format_args!(
                    "array `{name}` has shape {shape:?}; a param block has at most 2 dimensions"
                ),
                ))
            }
        };
        values.extend(array.iter().copied());
        shapes.push((name.trim_end_matches(".npy").to_string(), rows, cols));
    }
    Ok(Params::from_vec(ParamLayout::new(shapes), values).expect("values of every block read"))
}

/// The contents of a [`MODEL_FILE`].
struct Saved {
    loss: String,
    fingerprint: u64,
    hypers: Vec<(String, f64)>,
    range: Option<(f64, f64)>,
    unknown: Unknown,
    users: IdMap,
    items: IdMap,
}

/// The lines of a [`MODEL_FILE`], counted for error messages.
struct LineReader<'p, R> {
    path: &'p Path,
    lines: io::Lines<R>,
    /// 1-based number of the line last read.
    line: usize,
}

impl<R: BufRead> LineReader<'_, R> {
    /// The next line; an error saying `what` was expected at the end of the file.
    fn next(&mut self, what: &str) -> Result<String, ModelError> {
        self.line += 1;
        match self.lines.next() {
            Some(Ok(line)) => Ok(line),
            Some(Err(source)) => Err(io_error(self.path)(source)),
            None => Err(self.error(format!("the file ends where {what} should be"))),
        }
    }

    /// A format error at the line last read.
    fn error(&self, message: String) -> ModelError {
        ModelError::Format {
            path: self.path.to_path_buf(),
            line: self.line,
            message,
        }
    }

    fn number(&self, s: &str) -> Result<f64, ModelError> {
        s.parse()
            .map_err(|_| self.error(format!("`{s}` is not a number")))
    }

    /// `count` ids, one per line, for section `key`.
    fn ids(&mut self, key: &str, count: &str) -> Result<IdMap, ModelError> {
        let count: usize = count
            .parse()
            .map_err(|_| self.error(format!("`{count}` is not a count of {key}")))?;
        let mut map = IdMap::new();
        for j in 0..count {
            let id = self.next(&format!("{key} id {j} of {count}"))?;
            if map.get_or_insert(id.as_str()) as usize != j {
                return Err(self.error(format!("{key} id `{id}` appears twice")));
            }
        }
        Ok(map)
    }

    /// The next line, which must be `key VALUE`; returns the value.
    fn field(&mut self, key: &str) -> Result<String, ModelError> {
        let text = self.next(&format!("the `{key}` line"))?;
        match text.split_once(' ') {
            Some((k, value)) if k == key => Ok(value.to_string()),
            _ => Err(self.error(format!("expected `{key} …`, found `{text}`"))),
        }
    }
}

fn read_model_text(path: &Path, input: impl BufRead) -> Result<Saved, ModelError> {
    let mut r = LineReader {
        path,
        lines: input.lines(),
        line: 0,
    };
    let magic = r.next("the first line")?;
    if magic != MAGIC {
        return Err(r.error(format!("expected `{MAGIC}`, found `{magic}`")));
    }
    let loss = r.field("loss")?;
    let text = r.field("fingerprint")?;
    let fingerprint = u64::from_str_radix(&text, 16)
        .map_err(|_| r.error(format!("`{text}` is not 16 hex digits")))?;
    r.field("source")?;
    let mut hypers = Vec::new();
    let mut range = None;
    let mut unknown = Unknown::Error;
    let users = loop {
        let text = r.next("the `users` line")?;
        let (key, value) = text.split_once(' ').unwrap_or((&text, ""));
        match key {
            "hyper" => {
                let (name, v) = value
                    .split_once(' ')
                    .ok_or_else(|| r.error("expected `hyper NAME VALUE`".into()))?;
                hypers.push((name.to_string(), r.number(v)?));
            }
            "clip" => {
                let (min, max) = value
                    .split_once(' ')
                    .ok_or_else(|| r.error("expected `clip MIN MAX`".into()))?;
                range = Some((r.number(min)?, r.number(max)?));
            }
            "unknown" => {
                unknown = match value.split_once(' ') {
                    None if value == "error" => Unknown::Error,
                    None if value == "baseline" => Unknown::Baseline,
                    Some(("value", v)) => Unknown::Value(r.number(v)?),
                    _ => {
                        return Err(r.error(format!(
                            "expected `unknown error`, `unknown baseline` or `unknown value V`, found `{text}`"
                        )))
                    }
                }
            }
            "users" => break r.ids("users", value)?,
            other => return Err(r.error(format!("unknown field `{other}`"))),
        }
    };
    let count = r.field("items")?;
    let items = r.ids("items", &count)?;
    match r.lines.next() {
        None => {}
        Some(Err(source)) => return Err(io_error(path)(source)),
        Some(Ok(extra)) => {
            r.line += 1;
            return Err(r.error(format!("unexpected line after the item ids: `{extra}`")));
        }
    }
    Ok(Saved {
        loss,
        fingerprint,
        hypers,
        range,
        unknown,
        users,
        items,
    })
}
