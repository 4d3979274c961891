//! Two threads per load: the caller's parses text into batches of ratings,
//! a second maps their ids and collects them into the [`RatingsBuilder`],
//! in file order, so the result is the one a single thread would build.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread;

use crate::data::{DataError, RatingsBuilder, RawId};

/// Ratings per batch: large enough that handing one over costs nothing,
/// small enough that the two threads overlap from the start.
const BATCH: usize = 1 << 14;

/// An id held by a batch: an integer, or a range of the batch's text.
#[derive(Clone, Copy)]
enum Id {
    Int(i64),
    Text(u32, u32),
}

/// Parsed ratings on their way to the id maps.
#[derive(Default)]
struct Batch {
    lines: Vec<usize>,
    users: Vec<Id>,
    items: Vec<Id>,
    ratings: Vec<f64>,
    /// Empty, or one timestamp per rating.
    times: Vec<i64>,
    text: String,
}

impl Batch {
    fn id(&mut self, raw: RawId<'_>) -> Id {
        match raw {
            RawId::Int(v) => Id::Int(v),
            RawId::Str(s) => {
                let start = self.text.len() as u32;
                self.text.push_str(s);
                Id::Text(start, self.text.len() as u32)
            }
        }
    }

    fn raw(&self, id: Id) -> RawId<'_> {
        match id {
            Id::Int(v) => RawId::Int(v),
            Id::Text(a, b) => RawId::Str(&self.text[a as usize..b as usize]),
        }
    }

    fn push_into(&self, builder: &mut RatingsBuilder) {
        for k in 0..self.lines.len() {
            let (user, item) = (self.raw(self.users[k]), self.raw(self.items[k]));
            let time = self.times.get(k).copied();
            builder.push_line(self.lines[k], user, item, self.ratings[k], time);
        }
    }
}

/// Where the parser puts each rating it reads.
pub(super) struct Sink {
    batch: Batch,
    /// Timestamps are passed on (else dropped here).
    keep_times: bool,
    to_builder: SyncSender<Batch>,
}

impl Sink {
    /// Adds the rating read on `line`, with its time (seconds since the
    /// Unix epoch) when the file gives one.
    pub(super) fn push(
        &mut self,
        line: usize,
        user: RawId<'_>,
        item: RawId<'_>,
        rating: f64,
        time: Option<i64>,
    ) {
        let (user, item) = (self.batch.id(user), self.batch.id(item));
        self.batch.lines.push(line);
        self.batch.users.push(user);
        self.batch.items.push(item);
        self.batch.ratings.push(rating);
        if self.keep_times {
            self.batch.times.extend(time);
        }
        if self.batch.lines.len() == BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        // Sending fails only when the builder thread has panicked: `run`
        // raises that panic again when it joins the thread.
        let _ = self.to_builder.send(batch);
    }
}

/// Runs `parse` on this thread, feeding `builder` on another; returns the
/// builder with every rating `parse` pushed (with their timestamps when
/// `keep_times`), or `parse`'s error.
pub(super) fn run(
    builder: RatingsBuilder,
    keep_times: bool,
    parse: impl FnOnce(&mut Sink) -> Result<(), DataError>,
) -> Result<RatingsBuilder, DataError> {
    thread::scope(|scope| {
        let (to_builder, batches) = sync_channel::<Batch>(4);
        let filling = scope.spawn(move || {
            let mut builder = builder;
            for batch in batches {
                batch.push_into(&mut builder);
            }
            builder
        });
        let mut sink = Sink {
            batch: Batch::default(),
            keep_times,
            to_builder,
        };
        let parsed = parse(&mut sink);
        if parsed.is_ok() {
            sink.flush();
        }
        drop(sink);
        let builder = filling
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        parsed.map(|()| builder)
    })
}

#[cfg(test)]
mod tests {
    use crate::data::{LoadOptions, RatingsBuilder};

    /// Many batches: the same ids, order and line numbers as one thread.
    #[test]
    fn batches_keep_file_order_and_lines() {
        let n = 3 * super::BATCH + 123;
        let mut text = String::new();
        let mut builder = RatingsBuilder::new();
        for k in 0..n {
            let (user, item, rating) = (format!("u{}", k % 97), (k * 7) % 1013, (k % 5) as f64);
            text.push_str(&format!("{user},{item},{rating}\n"));
            builder.push(user.as_str(), item as i64, rating);
        }
        let loaded = LoadOptions::comma().parse_str("x", &text).unwrap();
        assert_eq!(loaded, builder.build().unwrap());
        // A repeat far into the file names both lines.
        text.push_str("u2,14,1\n");
        let err = LoadOptions::comma().parse_str("x", &text).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "x:{}: duplicate rating for user `u2` and item `14` (first given at line 3)",
                n + 1
            )),
            "{err}"
        );
    }
}
